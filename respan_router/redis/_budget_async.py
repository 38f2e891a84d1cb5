"""The Redis budget store's I/O: each ledger step is one script, one round trip.

Written once, async (``_budget_async``); the sync form (``_budget_sync``) is generated
from it by ``scripts/unasync.py``. Every decision is the ledger's (``_budget_ledger``).
"""

from __future__ import annotations

import functools
from typing import Any, cast

from respan_router.budgets import (
    BudgetUsage,
    CustomerBudget,
    RateDecision,
    Refusal,
    ReleaseOutcome,
    Reservation,
    ReserveRequest,
    SettleOutcome,
)
from respan_router.errors import BudgetUnavailableError
from respan_router.redis._budget_ledger import DOWN, REJECTED, Ledger, decision, usage_of
from respan_router.redis._budget_scripts import CONFIGURE, RESERVE, SETTLE, USAGE

__all__ = ["AsyncLedger"]


class AsyncLedger(Ledger):
    """The budget store's commands (see :class:`~respan_router.budgets.BudgetStore`)."""

    async def aconfigure(self, budget: CustomerBudget) -> CustomerBudget:
        keys, args = self._configure_args(budget)
        anchor = await self.redis.arun(lambda c: self.redis.aeval(c, CONFIGURE, keys, args), DOWN)
        return self._configured(budget, anchor)

    async def acustomer(self, customer_id: str) -> CustomerBudget | None:
        unwritten = self._unwritten.get(customer_id)
        if unwritten is not None and self.redis.outage.usable():
            return await self.aconfigure(unwritten)  # set during an outage: write it now
        fresh, known = self._fresh(customer_id)
        if fresh:
            return known
        keys = [self._k(customer_id, "config"), self._k(customer_id, "anchor")]
        found = await self.redis.arun(lambda c: c.mget(keys), DOWN)
        return self._read(customer_id, found, known)

    async def areserve(self, request: ReserveRequest) -> Reservation | Refusal:
        held = (await self.ahit_and_reserve(request, None))[1]
        assert held is not None  # a reservation is refused, never rate limited, without one
        return held

    async def ahit_and_reserve(
        self, request: ReserveRequest, per_minute: int | None
    ) -> tuple[RateDecision | None, Reservation | Refusal | None]:
        await self._aflush()
        keys, args, rid = self._reserve_call(request, per_minute, True)
        try:
            found = await self.redis.arun(lambda c: self.redis.aeval(c, RESERVE, keys, args), DOWN)
        except BaseException:  # cancelled: the script may have run; its id forgets the hold
            forget = self._forgotten(request.customer_id, rid, request.now)
            await self.redis.shielded(self._aclose_now(*forget))
            raise
        return self._reserved(request, per_minute, rid, found)

    async def asettle(self, reservation: Reservation, actual: int, now: float) -> SettleOutcome:
        return cast(SettleOutcome, await self._aclose("settle", reservation, actual, now))

    async def arelease(self, reservation: Reservation, now: float) -> ReleaseOutcome:
        return cast(ReleaseOutcome, await self._aclose("release", reservation, 0, now))

    async def _aclose(self, mode: str, r: Reservation, actual: int, now: float) -> str:
        deferred = self._deferred(mode, r, actual, now)
        if deferred is not None:
            return deferred
        # Run to its end even if the call is cancelled meanwhile (the hold must go).
        c = (mode, r, actual, now)
        return await self.redis.shielded(self._aclose_now(*c))

    async def _aclose_now(self, mode: str, r: Reservation, actual: int, now: float) -> str:
        await self._aflush()
        keys, args = self._close_args(r, actual, now, mode)
        run = self.redis.arun
        found = await run(lambda c: self.redis.aeval(c, SETTLE, keys, args), DOWN, REJECTED)
        return self._closed(mode, r, actual, now, found)

    async def _aflush(self) -> None:
        while self._pending and self.redis.outage.usable():
            with self._lock:
                if not self._pending:
                    return
                _, mode, r, actual, now = self._pending.popleft()
            keys, args = self._close_args(r, actual, now, mode)
            found = await self.redis.arun(
                functools.partial(self.redis.aeval, source=SETTLE, keys=keys, args=args),
                DOWN,
                REJECTED,
            )
            if found is REJECTED:
                continue  # rejected by Redis (logged): sending it again cannot help
            if found is DOWN:
                with self._lock:
                    self._pending.appendleft((r.id, mode, r, actual, now))
                return

    async def ausage(self, customer_id: str, period_key: str | None, now: float) -> BudgetUsage:
        keys, args = self._usage_args(customer_id, period_key, now)
        found = await self.redis.arun(lambda c: self.redis.aeval(c, USAGE, keys, args), DOWN)
        return usage_of(period_key, found)

    async def areset(self, customer_id: str, period_key: str | None, *, total: bool) -> None:
        keys = self._reset_keys(customer_id, period_key, total)

        async def run(client: Any) -> bool:
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.hset(key, "spent", 0)
            await pipe.execute()
            return True

        if keys and await self.redis.arun(run, DOWN) is DOWN:
            raise BudgetUnavailableError("the budget store (Redis) is unavailable")

    async def ahit(self, customer_id: str, per_minute: int) -> RateDecision:
        keys, args, _ = self._reserve_call(self._hit_request(customer_id), per_minute, False)
        found = await self.redis.arun(lambda c: self.redis.aeval(c, RESERVE, keys, args), DOWN)
        return decision(per_minute, found)
