"""The Redis budget store's state and decisions, with no I/O (see ``_budget_store``)."""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from typing import Any

from respan_router.budgets import (
    BudgetUsage,
    RateDecision,
    Refusal,
    Reservation,
    ReserveRequest,
)
from respan_router.errors import BudgetUnavailableError
from respan_router.redis._budget_customers import DOWN, RedisCustomers
from respan_router.redis._budget_scripts import SETTLE
from respan_router.redis._shared import SharedRedis

__all__ = ["DOWN", "REJECTED", "UNRECORDED", "Ledger", "decision", "usage_of"]

UNRECORDED = "unrecorded:"
REJECTED: Any = object()  # Redis answered a close with an error of the script itself
_DAY = 24 * 3600.0
_WINDOW = 60.0  # the rate limit's window: requests per minute


class Ledger(RedisCustomers):
    """What the Redis budget store decides without I/O: the scripts' keys and arguments,
    their answers read, the outage policy, the closes kept while Redis is down (its I/O:
    ``_budget_async`` / ``_budget_sync``). Its arguments: see ``RedisBudgetStore``.
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
    def _reserved(
        self, request: ReserveRequest, per_minute: int | None, rid: str, found: Any
    ) -> tuple[RateDecision | None, Reservation | Refusal | None]:
        if found is DOWN:
            rate = None if per_minute is None else RateDecision(True, per_minute, per_minute)
            budgeted = request.period_limit is not None or request.total_limit is not None
            if self.policy == "fail_closed" and budgeted:  # without a budget: nothing to refuse
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

    def _close_args(self, r: Reservation, actual: int, now: float, mode: str) -> Any:
        if actual < 0:
            raise ValueError("a settled amount must be >= 0")
        return [self._k(r.customer_id, "res", r.id)], [int(actual), repr(float(now)), mode]

    def _deferred(self, mode: str, r: Reservation, actual: int, now: float) -> str | None:
        """Inside a call's batch a settle goes with the call's other writes (its outcome
        is then not known: it answers as if it were the first). A release is never
        deferred: it is a failed try's, and the call's next try (a retry, a fallback)
        and the customer's other calls must not count its hold (one round trip)."""
        if r.id.startswith(UNRECORDED):
            return "settled" if mode == "settle" else "released"
        if mode == "release":
            return None
        keys, args = self._close_args(r, actual, now, mode)

        def keep() -> None:
            with self._lock:
                self._pending.append((r.id, mode, r, actual, now))

        if self.redis.write_later(SETTLE, keys, args, keep):
            return "settled" if mode == "settle" else "released"
        return None

    def _forgotten(
        self, customer_id: str, rid: str, now: float
    ) -> tuple[str, Reservation, int, float]:
        """The close of a reservation whose reply was lost (a cancelled call): released
        if the script ran, else marked so the script, arriving late, holds nothing."""
        return "forget", Reservation(rid, customer_id, None, 0, now), 0, now

    def _closed(self, mode: str, r: Reservation, actual: int, now: float, found: Any) -> str:
        if found is REJECTED:
            return "unknown"  # rejected by Redis (logged): sending it again cannot help
        if found is DOWN:
            with self._lock:
                self._pending.append((r.id, mode, r, actual, now))
            return "settled" if mode == "settle" else "released"
        return found.decode() if isinstance(found, bytes) else str(found)

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

    def _reset_keys(self, customer_id: str, period_key: str | None, total: bool) -> list[str]:
        keys = [] if period_key is None else [self._k(customer_id, "period", period_key)]
        return [*keys, self._k(customer_id, "total")] if total else keys

    # -- the rate limit -------------------------------------------------------------------------
    def _hit_request(self, customer_id: str) -> ReserveRequest:
        now = time.time()
        return ReserveRequest(customer_id, 0, None, None, None, now, now)

    def __repr__(self) -> str:
        return f"RedisBudgetStore(prefix={self.redis.prefix!r}, policy={self.policy!r})"


def decision(per_minute: int, found: Any) -> RateDecision:
    if found is DOWN:
        return RateDecision(True, per_minute, per_minute)  # rate limits fail open
    if int(found[0]) == 2:
        return RateDecision(False, per_minute, 0, int(found[2]) / 1000)
    return RateDecision(True, per_minute, max(0, int(found[-1])))


def usage_of(period_key: str | None, found: Any) -> BudgetUsage:
    if found is DOWN:
        raise BudgetUnavailableError("the budget store (Redis) is unavailable")
    ps, pr, ts, tr, n = (int(x) for x in found)
    return BudgetUsage(period_key, ps, pr, ts, tr, n)
