"""The in-memory budget store: one process, thread- and task-safe.

Every ledger operation runs under one lock and does no I/O, so the async twins call the
sync methods directly (they never block the event loop for long). The rate limit is an
exact moving window kept as a sliding log per customer (:class:`SlidingLog`: the window of
the ``limits`` package's moving window, at O(1) per call).

What a reservation costs the store, in time and memory, is one entry in its customer's
open reservations while it is open, and nothing once it is closed:

- expiry: each ledger keeps a lower bound of its open reservations' expiries; only when
  ``now`` reaches it are the open ones walked (those due expire, at their exact time, and
  the bound becomes exact again): no per-reservation heap entry that outlives the
  reservation;
- closed ids: the store numbers its ids, so an id it issued that is no longer open was
  closed (``"duplicate"``), and one it did not issue is ``"unknown"``. Only reservations
  that expired while open are remembered by id (for their late settle), for 24 hours.
"""

from __future__ import annotations

import math
import os
import threading
from collections import deque
from dataclasses import dataclass, field

from respan_router.budgets._sliding import SlidingLog
from respan_router.budgets._store import (
    BudgetUsage,
    CustomerBudget,
    RateDecision,
    Refusal,
    ReleaseOutcome,
    Reservation,
    ReserveRequest,
    SettleOutcome,
)

__all__ = ["InMemoryBudgetStore"]

_new = tuple.__new__  # a named tuple built without its generated __new__ (one frame less)
_REMEMBER = 24 * 3600.0  # an expired reservation's id is remembered this long (late settles)


@dataclass(slots=True)
class _Ledger:
    periods: dict[str, list[int]] = field(default_factory=dict)  # key -> [spent, reserved]
    period_expiry: dict[str, float] = field(default_factory=dict)
    next_period_expiry: float = math.inf  # no period's counters expire before this
    total: list[int] = field(default_factory=lambda: [0, 0])
    open: dict[str, Reservation] = field(default_factory=dict)
    next_expiry: float = math.inf  # no open reservation expires before this (a lower bound)


class InMemoryBudgetStore:
    """The default :class:`~respan_router.budgets.BudgetStore`, for one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._customers: dict[str, CustomerBudget] = {}
        self._ledgers: dict[str, _Ledger] = {}
        self._prefix = os.urandom(4).hex() + "-"
        self._issued = 0  # ids are the prefix and 1, 2, ... this many
        self._expired: dict[str, None] = {}  # ids that expired open, until settled or forgotten
        self._forget: deque[tuple[float, str]] = deque()
        self._window = SlidingLog()

    def __repr__(self) -> str:
        return f"InMemoryBudgetStore(customers={len(self._customers)})"

    # -- configuration ---------------------------------------------------------------
    def configure(self, budget: CustomerBudget) -> CustomerBudget:
        with self._lock:
            old = self._customers.get(budget.customer_id)
            if old is not None and old.anchor != budget.anchor:
                budget = budget.with_anchor(old.anchor)
            self._customers[budget.customer_id] = budget
            return budget

    async def aconfigure(self, budget: CustomerBudget) -> CustomerBudget:
        return self.configure(budget)

    def customer(self, customer_id: str) -> CustomerBudget | None:
        return self._customers.get(customer_id)

    async def acustomer(self, customer_id: str) -> CustomerBudget | None:
        return self._customers.get(customer_id)

    # -- the ledger ------------------------------------------------------------------
    def _ledger(self, customer_id: str, now: float) -> _Ledger:
        """The customer's ledger with its expired reservations dropped (lock held)."""
        ledger = self._ledgers.get(customer_id)
        if ledger is None:
            ledger = self._ledgers[customer_id] = _Ledger()
            return ledger
        if ledger.next_expiry > now and ledger.next_period_expiry > now and not self._forget:
            return ledger  # the usual touch: nothing is due
        if ledger.next_expiry <= now:
            self._expire(ledger, now)
        if ledger.next_period_expiry <= now:  # a period's counters outlived their grace
            for key in [k for k, at in ledger.period_expiry.items() if at <= now]:
                del ledger.period_expiry[key]
                ledger.periods.pop(key, None)
            ledger.next_period_expiry = min(ledger.period_expiry.values(), default=math.inf)
        forget = self._forget
        while forget and forget[0][0] <= now:
            self._expired.pop(forget.popleft()[1], None)
        return ledger

    def _expire(self, ledger: _Ledger, now: float) -> None:
        """Expire the open reservations due at ``now``; the bound becomes the next expiry."""
        soonest = math.inf
        for rid, held in list(ledger.open.items()):
            if held.expires_at <= now:
                del ledger.open[rid]
                self._unhold(ledger, held)
                self._expired[rid] = None
                self._forget.append((now + _REMEMBER, rid))
            elif held.expires_at < soonest:
                soonest = held.expires_at
        ledger.next_expiry = soonest

    @staticmethod
    def _unhold(ledger: _Ledger, held: Reservation) -> None:
        ledger.total[1] -= held.amount
        if held.period_key is not None:
            ledger.periods[held.period_key][1] -= held.amount

    def _closed(self, rid: str) -> bool:
        """Whether ``rid`` is an id this store issued (it is not open: so it was closed)."""
        prefix = self._prefix
        if not rid.startswith(prefix):
            return False
        number = rid[len(prefix) :]
        return number.isascii() and number.isdigit() and 0 < int(number) <= self._issued

    def reserve(self, request: ReserveRequest) -> Reservation | Refusal:
        (cid, amount, key, period_limit, total_limit, now, expires_at, period_expires) = request
        if amount < 0:
            raise ValueError("a reservation's amount must be >= 0")
        with self._lock:
            ledger = self._ledger(cid, now)
            counters = None if key is None else ledger.periods.get(key)
            period_used = 0 if counters is None else counters[0] + counters[1]
            total = ledger.total
            total_used = total[0] + total[1]
            if key is not None and period_limit is not None and period_used + amount > period_limit:
                return Refusal(
                    "period_budget", period_limit, period_used, amount, period_used, total_used
                )
            if total_limit is not None and total_used + amount > total_limit:
                return Refusal(
                    "total_budget", total_limit, total_used, amount, period_used, total_used
                )
            if key is not None:
                if counters is None:
                    counters = ledger.periods[key] = [0, 0]
                counters[1] += amount
                if period_expires is not None:
                    ledger.period_expiry[key] = period_expires
                    if period_expires < ledger.next_period_expiry:
                        ledger.next_period_expiry = period_expires
            total[1] += amount
            self._issued += 1
            rid = f"{self._prefix}{self._issued}"
            held = _new(Reservation, (rid, cid, key, amount, expires_at, period_used, total_used))
            ledger.open[rid] = held
            if expires_at < ledger.next_expiry:
                ledger.next_expiry = expires_at
            return held

    async def areserve(self, request: ReserveRequest) -> Reservation | Refusal:
        return self.reserve(request)

    def settle(self, reservation: Reservation, actual: int, now: float) -> SettleOutcome:
        if actual < 0:
            raise ValueError("a settled amount must be >= 0")
        rid = reservation.id
        with self._lock:
            ledger = self._ledger(reservation.customer_id, now)
            held = ledger.open.pop(rid, None)
            outcome: SettleOutcome = "settled"
            if held is not None:  # _unhold, inline (every try's settle)
                ledger.total[1] -= held.amount
                if held.period_key is not None:
                    ledger.periods[held.period_key][1] -= held.amount
            elif rid in self._expired:
                del self._expired[rid]
                held, outcome = reservation, "late"
            else:
                return "duplicate" if self._closed(rid) else "unknown"
            ledger.total[0] += actual
            if held.period_key is not None:
                ledger.periods.setdefault(held.period_key, [0, 0])[0] += actual
            return outcome

    async def asettle(self, reservation: Reservation, actual: int, now: float) -> SettleOutcome:
        return self.settle(reservation, actual, now)

    def release(self, reservation: Reservation, now: float) -> ReleaseOutcome:
        rid = reservation.id
        with self._lock:
            ledger = self._ledger(reservation.customer_id, now)
            held = ledger.open.pop(rid, None)
            if held is None:
                return "duplicate" if rid in self._expired or self._closed(rid) else "unknown"
            self._unhold(ledger, held)
            return "released"

    async def arelease(self, reservation: Reservation, now: float) -> ReleaseOutcome:
        return self.release(reservation, now)

    def usage(self, customer_id: str, period_key: str | None, now: float) -> BudgetUsage:
        with self._lock:
            ledger = self._ledger(customer_id, now)
            counters = ledger.periods.get(period_key) if period_key is not None else None
            spent, reserved = counters if counters is not None else (0, 0)
            return BudgetUsage(
                period_key,
                spent,
                reserved,
                ledger.total[0],
                ledger.total[1],
                len(ledger.open),
            )

    async def ausage(self, customer_id: str, period_key: str | None, now: float) -> BudgetUsage:
        return self.usage(customer_id, period_key, now)

    def reset(self, customer_id: str, period_key: str | None, *, total: bool) -> None:
        with self._lock:
            ledger = self._ledgers.get(customer_id)
            if ledger is None:
                return
            if period_key is not None and period_key in ledger.periods:
                ledger.periods[period_key][0] = 0
            if total:
                ledger.total[0] = 0

    async def areset(self, customer_id: str, period_key: str | None, *, total: bool) -> None:
        self.reset(customer_id, period_key, total=total)

    # -- the rate limit --------------------------------------------------------------
    def hit(self, customer_id: str, per_minute: int) -> RateDecision:
        return self._window.hit(customer_id, per_minute)

    async def ahit(self, customer_id: str, per_minute: int) -> RateDecision:
        return self.hit(customer_id, per_minute)
