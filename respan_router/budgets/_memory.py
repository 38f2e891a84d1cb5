"""The in-memory budget store: one process, thread- and task-safe.

Every ledger operation runs under one lock and does no I/O, so the async twins call the
sync methods directly (they never block the event loop for long). The rate limit is an
exact moving window kept as a sliding log per customer (:class:`SlidingLog`: the window of
the ``limits`` package's moving window, at O(1) per call).
"""

from __future__ import annotations

import heapq
import itertools
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

_REMEMBER = 24 * 3600.0  # closed ids are remembered this long past their reservation's life


@dataclass(slots=True)
class _Ledger:
    periods: dict[str, list[int]] = field(default_factory=dict)  # key -> [spent, reserved]
    period_expiry: dict[str, float] = field(default_factory=dict)
    next_period_expiry: float = math.inf  # no period's counters expire before this
    total: list[int] = field(default_factory=lambda: [0, 0])
    open: dict[str, Reservation] = field(default_factory=dict)
    expiries: list[tuple[float, str]] = field(default_factory=list)  # a heap


class InMemoryBudgetStore:
    """The default :class:`~respan_router.budgets.BudgetStore`, for one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._customers: dict[str, CustomerBudget] = {}
        self._ledgers: dict[str, _Ledger] = {}
        self._closed: dict[str, str] = {}  # id -> "settled" | "released" | "expired"
        self._forget: deque[tuple[float, str]] = deque()
        self._ids = itertools.count(1)
        self._prefix = os.urandom(4).hex()
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
        heap = ledger.expiries
        while heap and heap[0][0] <= now:
            _, rid = heapq.heappop(heap)
            held = ledger.open.pop(rid, None)
            if held is not None:
                self._unhold(ledger, held)
                self._close(rid, "expired", held, now)
        if ledger.next_period_expiry <= now:  # a period's counters outlived their grace
            for key in [k for k, at in ledger.period_expiry.items() if at <= now]:
                del ledger.period_expiry[key]
                ledger.periods.pop(key, None)
            ledger.next_period_expiry = min(ledger.period_expiry.values(), default=math.inf)
        while self._forget and self._forget[0][0] <= now:
            self._closed.pop(self._forget.popleft()[1], None)
        return ledger

    @staticmethod
    def _unhold(ledger: _Ledger, held: Reservation) -> None:
        ledger.total[1] -= held.amount
        if held.period_key is not None:
            ledger.periods[held.period_key][1] -= held.amount

    def _close(self, rid: str, status: str, held: Reservation, now: float) -> None:
        if rid not in self._closed:
            life = max(held.expires_at - now, 0.0)
            self._forget.append((now + life + _REMEMBER, rid))
        self._closed[rid] = status

    def reserve(self, request: ReserveRequest) -> Reservation | Refusal:
        amount = request.amount
        if amount < 0:
            raise ValueError("a reservation's amount must be >= 0")
        with self._lock:
            ledger = self._ledger(request.customer_id, request.now)
            key = request.period_key
            counters = None if key is None else ledger.periods.get(key)
            period_used = 0 if counters is None else counters[0] + counters[1]
            total_used = ledger.total[0] + ledger.total[1]
            limit = request.period_limit
            if key is not None and limit is not None and period_used + amount > limit:
                return Refusal("period_budget", limit, period_used, amount, period_used, total_used)
            limit = request.total_limit
            if limit is not None and total_used + amount > limit:
                return Refusal("total_budget", limit, total_used, amount, period_used, total_used)
            if key is not None:
                if counters is None:
                    counters = ledger.periods[key] = [0, 0]
                counters[1] += amount
                expires = request.period_expires_at
                if expires is not None:
                    ledger.period_expiry[key] = expires
                    if expires < ledger.next_period_expiry:
                        ledger.next_period_expiry = expires
            ledger.total[1] += amount
            rid = f"{self._prefix}-{next(self._ids)}"
            held = Reservation(
                rid,
                request.customer_id,
                key,
                amount,
                request.expires_at,
                period_used,
                total_used,
            )
            ledger.open[rid] = held
            heapq.heappush(ledger.expiries, (request.expires_at, rid))
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
            if held is not None:
                self._unhold(ledger, held)
                outcome: SettleOutcome = "settled"
            else:
                status = self._closed.get(rid)
                if status is None:
                    return "unknown"
                if status != "expired":
                    return "duplicate"
                held, outcome = reservation, "late"
            ledger.total[0] += actual
            if held.period_key is not None:
                ledger.periods.setdefault(held.period_key, [0, 0])[0] += actual
            self._close(rid, "settled", held, now)
            return outcome

    async def asettle(self, reservation: Reservation, actual: int, now: float) -> SettleOutcome:
        return self.settle(reservation, actual, now)

    def release(self, reservation: Reservation, now: float) -> ReleaseOutcome:
        rid = reservation.id
        with self._lock:
            ledger = self._ledger(reservation.customer_id, now)
            held = ledger.open.pop(rid, None)
            if held is None:
                return "duplicate" if rid in self._closed else "unknown"
            self._unhold(ledger, held)
            self._close(rid, "released", held, now)
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
