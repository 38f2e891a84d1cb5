"""The budget store on Redis: one ledger for every process of a service.

Each ledger step is one Lua script (:mod:`respan_router.redis._budget_scripts`), called
by SHA (loaded once per server), so it is atomic across processes; money is integer
micro-dollars. :meth:`RedisBudgetStore.hit_and_reserve` counts the rate limit and holds
the money in one round trip.

Configurations are read through a per-process view (:mod:`._redis_customers`), refreshed
every ``config_ttl`` seconds and by ``configure`` in this process: reading a customer's
budget costs no round trip on most calls.

When Redis is down or slow (see :class:`respan_router.redis._shared.SharedRedis`):

- ``reserve``: ``policy="fail_closed"`` (the default) raises
  :class:`~respan_router.errors.BudgetUnavailableError`: no money is spent without a
  ledger. ``policy="fail_open"`` returns a reservation whose id starts with
  ``unrecorded:``, which settles and releases without Redis;
- ``settle`` / ``release`` that fail are kept (up to ``max_pending``) and sent again when
  Redis answers again (they are idempotent by reservation id, so a retried settle charges
  once); meanwhile they answer ``"settled"`` / ``"released"``;
- ``hit``: allowed (rate limits fail open);
- ``customer``: the last configuration this process saw (None if it never saw one); one
  configured during the outage is written when Redis is back.
"""

from __future__ import annotations

import functools
import threading
import time
import uuid
from collections import deque
from typing import Any

from respan_router.budgets import (
    BudgetUsage,
    RateDecision,
    Refusal,
    ReleaseOutcome,
    Reservation,
    ReserveRequest,
    SettleOutcome,
)
from respan_router.errors import BudgetUnavailableError
from respan_router.redis._budget_customers import DOWN as _DOWN
from respan_router.redis._budget_customers import RedisCustomers
from respan_router.redis._budget_scripts import RESERVE, SETTLE, USAGE
from respan_router.redis._shared import SharedRedis

__all__ = ["UNRECORDED", "RedisBudgetStore"]

UNRECORDED = "unrecorded:"
_DAY = 24 * 3600.0
_WINDOW = 60.0  # the rate limit's window: requests per minute


class RedisBudgetStore(RedisCustomers):
    """A :class:`~respan_router.budgets.BudgetStore` on Redis.

    Args:
        redis: the Router's :class:`SharedRedis`.
        policy: ``"fail_closed"`` or ``"fail_open"`` (what ``reserve`` does without Redis).
        config_ttl: seconds a configuration read from Redis is reused by this process.
        max_pending: settles and releases kept while Redis is down.
    """

    def __init__(
        self,
        redis: SharedRedis,
        *,
        policy: str = "fail_closed",
        config_ttl: float = 5.0,
        max_pending: int = 100_000,
    ) -> None:
        if policy not in ("fail_closed", "fail_open"):
            raise ValueError("policy must be 'fail_closed' or 'fail_open'")
        super().__init__(redis, config_ttl)
        self.policy = policy
        self._pending: deque[tuple[str, str, Reservation, int, float]] = deque(maxlen=max_pending)
        self._lock = threading.Lock()

    def _reserve_call(
        self, request: ReserveRequest, per_minute: int | None, reserve: bool
    ) -> tuple[list[str], list[Any], str]:
        if request.amount < 0:
            raise ValueError("a reservation's amount must be >= 0")
        c = request.customer_id
        rid = uuid.uuid4().hex
        keys = [self._k(c, "total"), self._k(c, "open"), self._k(c, "res", rid), self._k(c, "rate")]
        if request.period_key is not None:
            keys.append(self._k(c, "period", request.period_key))
        ttl_ms = int((max(0.0, request.expires_at - request.now) + _DAY) * 1000)
        args: list[Any] = [
            repr(float(request.now)),
            int(request.amount),
            "" if request.period_limit is None else int(request.period_limit),
            "" if request.total_limit is None else int(request.total_limit),
            repr(float(request.expires_at)),
            "" if request.period_expires_at is None else repr(float(request.period_expires_at)),
            max(1, ttl_ms),
            "" if per_minute is None else int(per_minute),
            _WINDOW,
            1 if reserve else 0,
        ]
        return keys, args, rid

    # -- the ledger -------------------------------------------------------------------------
    def reserve(self, request: ReserveRequest) -> Reservation | Refusal:
        return self.hit_and_reserve(request, None)[1]  # type: ignore[return-value]

    async def areserve(self, request: ReserveRequest) -> Reservation | Refusal:
        return (await self.ahit_and_reserve(request, None))[1]  # type: ignore[return-value]

    def hit_and_reserve(
        self, request: ReserveRequest, per_minute: int | None
    ) -> tuple[RateDecision | None, Reservation | Refusal | None]:
        """Count a rate-limit hit and, if allowed, reserve: one round trip."""
        self._flush()
        keys, args, rid = self._reserve_call(request, per_minute, True)
        found = self.redis.run(lambda c: self.redis.eval(c, RESERVE, keys, args), _DOWN)
        return self._reserved(request, per_minute, rid, found)

    async def ahit_and_reserve(
        self, request: ReserveRequest, per_minute: int | None
    ) -> tuple[RateDecision | None, Reservation | Refusal | None]:
        await self._aflush()
        keys, args, rid = self._reserve_call(request, per_minute, True)
        found = await self.redis.arun(lambda c: self.redis.aeval(c, RESERVE, keys, args), _DOWN)
        return self._reserved(request, per_minute, rid, found)

    def _reserved(
        self, request: ReserveRequest, per_minute: int | None, rid: str, found: Any
    ) -> tuple[RateDecision | None, Reservation | Refusal | None]:
        if found is _DOWN:
            rate = None if per_minute is None else RateDecision(True, per_minute, per_minute)
            if self.policy == "fail_closed":
                raise BudgetUnavailableError(
                    "the budget store (Redis) is unavailable; calls of customers with a "
                    "budget are refused until it is back (redis_budget_policy='fail_closed')"
                )
            held = Reservation(
                UNRECORDED + rid, request.customer_id, request.period_key, request.amount,
                request.expires_at,
            )  # fmt: skip
            return rate, held
        status = int(found[0])
        if status == 2:
            assert per_minute is not None
            return RateDecision(False, per_minute, 0, int(found[2]) / 1000), None
        remaining = int(found[-1])
        rate = None if per_minute is None else RateDecision(True, per_minute, max(0, remaining))
        if status == 0:
            limit = found[1].decode() if isinstance(found[1], bytes) else str(found[1])
            refusal = Refusal(
                limit,  # type: ignore[arg-type]
                int(found[2]), int(found[3]), request.amount, int(found[4]), int(found[5]),
            )  # fmt: skip
            return rate, refusal
        return rate, Reservation(
            rid, request.customer_id, request.period_key, request.amount, request.expires_at,
            int(found[1]), int(found[2]),
        )  # fmt: skip

    def settle(self, reservation: Reservation, actual: int, now: float) -> SettleOutcome:
        return self._close("settle", reservation, actual, now)  # type: ignore[return-value]

    async def asettle(self, reservation: Reservation, actual: int, now: float) -> SettleOutcome:
        return await self._aclose("settle", reservation, actual, now)  # type: ignore[return-value]

    def release(self, reservation: Reservation, now: float) -> ReleaseOutcome:
        return self._close("release", reservation, 0, now)  # type: ignore[return-value]

    async def arelease(self, reservation: Reservation, now: float) -> ReleaseOutcome:
        return await self._aclose("release", reservation, 0, now)  # type: ignore[return-value]

    def _close_args(self, r: Reservation, actual: int, now: float, mode: str) -> Any:
        if actual < 0:
            raise ValueError("a settled amount must be >= 0")
        return [self._k(r.customer_id, "res", r.id)], [int(actual), repr(float(now)), mode]

    def _deferred(self, mode: str, r: Reservation, actual: int, now: float) -> str | None:
        """Inside a call's batch the close goes with the call's other writes (its outcome
        is then not known: it answers as if it were the first)."""
        if r.id.startswith(UNRECORDED):
            return "settled" if mode == "settle" else "released"
        keys, args = self._close_args(r, actual, now, mode)

        def keep() -> None:
            with self._lock:
                self._pending.append((r.id, mode, r, actual, now))

        if self.redis.write_later(SETTLE, keys, args, keep):
            return "settled" if mode == "settle" else "released"
        return None

    def _close(self, mode: str, r: Reservation, actual: int, now: float) -> str:
        deferred = self._deferred(mode, r, actual, now)
        if deferred is not None:
            return deferred
        self._flush()
        keys, args = self._close_args(r, actual, now, mode)
        found = self.redis.run(lambda c: self.redis.eval(c, SETTLE, keys, args), _DOWN)
        return self._closed(mode, r, actual, now, found)

    async def _aclose(self, mode: str, r: Reservation, actual: int, now: float) -> str:
        deferred = self._deferred(mode, r, actual, now)
        if deferred is not None:
            return deferred
        await self._aflush()
        keys, args = self._close_args(r, actual, now, mode)
        found = await self.redis.arun(lambda c: self.redis.aeval(c, SETTLE, keys, args), _DOWN)
        return self._closed(mode, r, actual, now, found)

    def _closed(self, mode: str, r: Reservation, actual: int, now: float, found: Any) -> str:
        if found is _DOWN:
            with self._lock:
                self._pending.append((r.id, mode, r, actual, now))
            return "settled" if mode == "settle" else "released"
        return found.decode() if isinstance(found, bytes) else str(found)

    def _flush(self) -> None:
        """Send the settles and releases kept during an outage (idempotent by id)."""
        while self._pending and self.redis.outage.usable():
            with self._lock:
                if not self._pending:
                    return
                _, mode, r, actual, now = self._pending.popleft()
            keys, args = self._close_args(r, actual, now, mode)
            found = self.redis.run(
                functools.partial(self.redis.eval, source=SETTLE, keys=keys, args=args), _DOWN
            )
            if found is _DOWN:
                with self._lock:
                    self._pending.appendleft((r.id, mode, r, actual, now))
                return

    async def _aflush(self) -> None:
        while self._pending and self.redis.outage.usable():
            with self._lock:
                if not self._pending:
                    return
                _, mode, r, actual, now = self._pending.popleft()
            keys, args = self._close_args(r, actual, now, mode)
            found = await self.redis.arun(
                functools.partial(self.redis.aeval, source=SETTLE, keys=keys, args=args), _DOWN
            )
            if found is _DOWN:
                with self._lock:
                    self._pending.appendleft((r.id, mode, r, actual, now))
                return

    @property
    def pending(self) -> int:
        """Settles and releases waiting for Redis to come back."""
        return len(self._pending)

    # -- usage and reset ----------------------------------------------------------------------
    def _usage_args(self, customer_id: str, period_key: str | None, now: float) -> Any:
        keys = [self._k(customer_id, "total"), self._k(customer_id, "open")]
        if period_key is not None:
            keys.append(self._k(customer_id, "period", period_key))
        return keys, [repr(float(now))]

    def usage(self, customer_id: str, period_key: str | None, now: float) -> BudgetUsage:
        keys, args = self._usage_args(customer_id, period_key, now)
        found = self.redis.run(lambda c: self.redis.eval(c, USAGE, keys, args), _DOWN)
        return _usage(period_key, found)

    async def ausage(self, customer_id: str, period_key: str | None, now: float) -> BudgetUsage:
        keys, args = self._usage_args(customer_id, period_key, now)
        found = await self.redis.arun(lambda c: self.redis.aeval(c, USAGE, keys, args), _DOWN)
        return _usage(period_key, found)

    def reset(self, customer_id: str, period_key: str | None, *, total: bool) -> None:
        keys = self._reset_keys(customer_id, period_key, total)

        def run(client: Any) -> bool:
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.hset(key, "spent", 0)
            pipe.execute()
            return True

        if keys and self.redis.run(run, _DOWN) is _DOWN:
            raise BudgetUnavailableError("the budget store (Redis) is unavailable")

    async def areset(self, customer_id: str, period_key: str | None, *, total: bool) -> None:
        keys = self._reset_keys(customer_id, period_key, total)

        async def run(client: Any) -> bool:
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.hset(key, "spent", 0)
            await pipe.execute()
            return True

        if keys and await self.redis.arun(run, _DOWN) is _DOWN:
            raise BudgetUnavailableError("the budget store (Redis) is unavailable")

    def _reset_keys(self, customer_id: str, period_key: str | None, total: bool) -> list[str]:
        keys = [] if period_key is None else [self._k(customer_id, "period", period_key)]
        return [*keys, self._k(customer_id, "total")] if total else keys

    # -- the rate limit -------------------------------------------------------------------------
    def _hit_request(self, customer_id: str) -> ReserveRequest:
        now = time.time()
        return ReserveRequest(customer_id, 0, None, None, None, now, now)

    def hit(self, customer_id: str, per_minute: int) -> RateDecision:
        keys, args, _ = self._reserve_call(self._hit_request(customer_id), per_minute, False)
        found = self.redis.run(lambda c: self.redis.eval(c, RESERVE, keys, args), _DOWN)
        return _decision(per_minute, found)

    async def ahit(self, customer_id: str, per_minute: int) -> RateDecision:
        keys, args, _ = self._reserve_call(self._hit_request(customer_id), per_minute, False)
        found = await self.redis.arun(lambda c: self.redis.aeval(c, RESERVE, keys, args), _DOWN)
        return _decision(per_minute, found)

    def __repr__(self) -> str:
        return f"RedisBudgetStore(prefix={self.redis.prefix!r}, policy={self.policy!r})"


def _decision(per_minute: int, found: Any) -> RateDecision:
    if found is _DOWN:
        return RateDecision(True, per_minute, per_minute)  # rate limits fail open
    if int(found[0]) == 2:
        return RateDecision(False, per_minute, 0, int(found[2]) / 1000)
    return RateDecision(True, per_minute, max(0, int(found[-1])))


def _usage(period_key: str | None, found: Any) -> BudgetUsage:
    if found is _DOWN:
        raise BudgetUnavailableError("the budget store (Redis) is unavailable")
    ps, pr, ts, tr, n = (int(x) for x in found)
    return BudgetUsage(period_key, ps, pr, ts, tr, n)
