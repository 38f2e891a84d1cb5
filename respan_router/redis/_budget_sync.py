# Generated from _budget_async.py by scripts/unasync.py: edit that file, not this one.
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

__all__ = ["SyncLedger"]


class SyncLedger(Ledger):
    """The budget store's commands (see :class:`~respan_router.budgets.BudgetStore`)."""

    def configure(self, budget: CustomerBudget) -> CustomerBudget:
        keys, args = self._configure_args(budget)
        anchor = self.redis.run(lambda c: self.redis.eval(c, CONFIGURE, keys, args), DOWN)
        return self._configured(budget, anchor)

    def customer(self, customer_id: str) -> CustomerBudget | None:
        unwritten = self._unwritten.get(customer_id)
        if unwritten is not None and self.redis.outage.usable():
            return self.configure(unwritten)  # set during an outage: write it now
        fresh, known = self._fresh(customer_id)
        if fresh:
            return known
        keys = [self._k(customer_id, "config"), self._k(customer_id, "anchor")]
        found = self.redis.run(lambda c: c.mget(keys), DOWN)
        return self._read(customer_id, found, known)

    def reserve(self, request: ReserveRequest) -> Reservation | Refusal:
        held = (self.hit_and_reserve(request, None))[1]
        assert held is not None  # a reservation is refused, never rate limited, without one
        return held

    def hit_and_reserve(
        self, request: ReserveRequest, per_minute: int | None
    ) -> tuple[RateDecision | None, Reservation | Refusal | None]:
        self._flush()
        keys, args, rid = self._reserve_call(request, per_minute, True)
        try:
            found = self.redis.run(lambda c: self.redis.eval(c, RESERVE, keys, args), DOWN)
        except BaseException:  # cancelled: the script may have run; its id forgets the hold
            forget = self._forgotten(request.customer_id, rid, request.now)
            self._close_now(*forget)
            raise
        return self._reserved(request, per_minute, rid, found)

    def settle(self, reservation: Reservation, actual: int, now: float) -> SettleOutcome:
        return cast(SettleOutcome, self._close("settle", reservation, actual, now))

    def release(self, reservation: Reservation, now: float) -> ReleaseOutcome:
        return cast(ReleaseOutcome, self._close("release", reservation, 0, now))

    def _close(self, mode: str, r: Reservation, actual: int, now: float) -> str:
        deferred = self._deferred(mode, r, actual, now)
        if deferred is not None:
            return deferred
        # Run to its end even if the call is cancelled meanwhile (the hold must go).
        c = (mode, r, actual, now)
        return self._close_now(*c)

    def _close_now(self, mode: str, r: Reservation, actual: int, now: float) -> str:
        self._flush()
        keys, args = self._close_args(r, actual, now, mode)
        run = self.redis.run
        found = run(lambda c: self.redis.eval(c, SETTLE, keys, args), DOWN, REJECTED)
        return self._closed(mode, r, actual, now, found)

    def _flush(self) -> None:
        while self._pending and self.redis.outage.usable():
            with self._lock:
                if not self._pending:
                    return
                _, mode, r, actual, now = self._pending.popleft()
            keys, args = self._close_args(r, actual, now, mode)
            found = self.redis.run(
                functools.partial(self.redis.eval, source=SETTLE, keys=keys, args=args),
                DOWN,
                REJECTED,
            )
            if found is REJECTED:
                continue  # rejected by Redis (logged): sending it again cannot help
            if found is DOWN:
                with self._lock:
                    self._pending.appendleft((r.id, mode, r, actual, now))
                return

    def usage(self, customer_id: str, period_key: str | None, now: float) -> BudgetUsage:
        keys, args = self._usage_args(customer_id, period_key, now)
        found = self.redis.run(lambda c: self.redis.eval(c, USAGE, keys, args), DOWN)
        return usage_of(period_key, found)

    def reset(self, customer_id: str, period_key: str | None, *, total: bool) -> None:
        keys = self._reset_keys(customer_id, period_key, total)

        def run(client: Any) -> bool:
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.hset(key, "spent", 0)
            pipe.execute()
            return True

        if keys and self.redis.run(run, DOWN) is DOWN:
            raise BudgetUnavailableError("the budget store (Redis) is unavailable")

    def hit(self, customer_id: str, per_minute: int) -> RateDecision:
        keys, args, _ = self._reserve_call(self._hit_request(customer_id), per_minute, False)
        found = self.redis.run(lambda c: self.redis.eval(c, RESERVE, keys, args), DOWN)
        return decision(per_minute, found)
