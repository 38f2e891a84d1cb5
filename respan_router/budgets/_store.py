"""The budget store: the state of customers' budgets that outlives a call.

One interface, two implementations: in memory (the default, one process) and Redis (many
processes). The store does no pricing and no calendar arithmetic: the budget stage
computes the amount (integer micro-dollars), the period key and the limits, and the store
keeps the ledger, atomically.

The ledger, per customer:

- a *configuration* (:class:`CustomerBudget`), set by :meth:`BudgetStore.configure`; the
  store keeps the moment the budget was first configured (``anchor``) across updates;
- per period key, ``spent`` and ``reserved`` micro-dollars; plus lifetime ``spent`` and
  ``reserved`` (the total), which never roll over;
- open reservations by id, each with its customer, period key, amount and expiry.

Rules every implementation keeps:

- :meth:`~BudgetStore.reserve` is all-or-nothing: the amount is added to the period's and
  the total's ``reserved`` only if ``spent + reserved + amount <= limit`` holds for both
  (a ``None`` limit always holds), in one atomic step. Otherwise nothing changes and a
  :class:`Refusal` names the first limit that does not fit (period before total).
- :meth:`~BudgetStore.settle` moves a reservation's amount out of ``reserved`` and adds the
  actual amount to ``spent`` of the period key *recorded on the reservation* (a settle
  after a period boundary charges the period that was reserved) and to the total.
- :meth:`~BudgetStore.settle` and :meth:`~BudgetStore.release` are idempotent: the first
  one closes the reservation; any later settle or release of the same id changes nothing
  and says ``"duplicate"``.
- A reservation open past its ``expires_at`` is expired by the store (its amount leaves
  ``reserved``; nothing is spent) the next time the customer's ledger is touched. A settle
  that arrives after that still charges the actual amount (the money was spent) and says
  ``"late"``; a release after expiry says ``"duplicate"``. Closed ids are remembered for
  at least ``expires_at - created + 24 h``; after that a settle or release changes
  nothing and says ``"unknown"`` (or ``"duplicate"``, from a store that tells the ids it
  issued from any other: the in-memory one).
- ``now`` is given by the caller (epoch seconds), so an injected clock drives expiry.

Money is integer micro-dollars everywhere (1 USD = 1_000_000).

What a ledger step takes and answers (:class:`ReserveRequest`, :class:`Reservation`,
:class:`Refusal`, :class:`RateDecision`) are named tuples: immutable like a frozen
dataclass, built for a fraction of its cost (a frozen dataclass sets each field through
``object.__setattr__``; four of them are built on every try of a customer's call).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable

__all__ = [
    "MICRO",
    "BudgetStore",
    "BudgetUsage",
    "CustomerBudget",
    "Duration",
    "RateAndReserve",
    "RateDecision",
    "Refusal",
    "ReleaseOutcome",
    "Reservation",
    "ReserveRequest",
    "SettleOutcome",
]

MICRO = 1_000_000  # micro-dollars per USD

Duration = Literal["daily", "weekly", "monthly", "yearly"]
SettleOutcome = Literal["settled", "late", "duplicate", "unknown"]
ReleaseOutcome = Literal["released", "duplicate", "unknown"]
LimitName = Literal["period_budget", "total_budget"]


@dataclass(frozen=True, slots=True)
class CustomerBudget:
    """A customer's configuration, as stored.

    Attributes:
        customer_id: the customer's identifier (as a string).
        period_budget: micro-dollars per period, or None (no period limit).
        total_budget: lifetime micro-dollars, or None (no lifetime limit).
        budget_duration: the length of a period, or None (one open-ended period).
        period_start: ISO date or datetime (UTC) the periods count from, or None: then
            they count from ``anchor``.
        period_end: ISO date or datetime (UTC) at which the current period ends, or None.
        markup_percentage: the customer's markup, as a decimal string (``"20"`` = x1.2).
        rate_limit: requests per minute, or None.
        name, email, group_identifier: descriptive, for spans.
        anchor: epoch seconds when the budget was first configured; kept by the store
            across updates (the value passed to :meth:`BudgetStore.configure` is used only
            when the customer is new).
    """

    customer_id: str
    period_budget: int | None = None
    total_budget: int | None = None
    budget_duration: Duration | None = None
    period_start: str | None = None
    period_end: str | None = None
    markup_percentage: str = "0"
    rate_limit: int | None = None
    name: str | None = None
    email: str | None = field(default=None, repr=False)
    group_identifier: str | None = None
    anchor: float = 0.0

    @property
    def markup(self) -> Decimal:
        return Decimal(self.markup_percentage)

    @property
    def has_budget(self) -> bool:
        return self.period_budget is not None or self.total_budget is not None

    def with_anchor(self, anchor: float) -> CustomerBudget:
        return replace(self, anchor=anchor)

    def to_json(self) -> str:
        """One JSON string (for stores that keep the configuration as one value)."""
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> CustomerBudget:
        data: dict[str, Any] = json.loads(text)
        return cls(**data)


class ReserveRequest(NamedTuple):
    """What :meth:`BudgetStore.reserve` is asked to hold.

    Attributes:
        customer_id: whose budget.
        amount: micro-dollars to hold (the worst-case estimate, >= 0).
        period_key: the current period's key (opaque to the store; the ISO start of the
            period, e.g. ``"2025-03-01T00:00:00Z"``), or None when there is no period limit.
        period_limit: micro-dollars allowed in the period, or None.
        total_limit: lifetime micro-dollars allowed, or None.
        now: epoch seconds (the caller's clock).
        expires_at: epoch seconds after which the reservation is abandoned.
        period_expires_at: epoch seconds after which the period's counters may be dropped
            (its end plus a grace for late settles), or None.
    """

    customer_id: str
    amount: int
    period_key: str | None
    period_limit: int | None
    total_limit: int | None
    now: float
    expires_at: float
    period_expires_at: float | None = None


class Reservation(NamedTuple):
    """Money held for one attempt; settle or release it exactly once.

    ``period_used`` / ``total_used`` are ``spent + reserved`` before this reservation
    (what a span's ``limit_info`` calls ``current_value``).
    """

    id: str
    customer_id: str
    period_key: str | None
    amount: int
    expires_at: float
    period_used: int = 0
    total_used: int = 0


class Refusal(NamedTuple):
    """Why :meth:`BudgetStore.reserve` held nothing: the first limit that did not fit."""

    limit: LimitName
    limit_value: int
    used: int  # spent + reserved on that limit, before the request
    amount: int
    period_used: int = 0
    total_used: int = 0


@dataclass(frozen=True, slots=True)
class BudgetUsage:
    """A snapshot of a customer's ledger (expired reservations already dropped)."""

    period_key: str | None
    period_spent: int
    period_reserved: int
    total_spent: int
    total_reserved: int
    open_reservations: int


class RateDecision(NamedTuple):
    """The answer of a rate-limit hit: allowed, or refused with seconds to wait."""

    allowed: bool
    limit: int
    remaining: int
    retry_after: float | None = None


@runtime_checkable
class BudgetStore(Protocol):
    """The budget ledger and the per-customer rate limit. Thread- and task-safe.

    Sync and async twins (``a``-prefixed) of every method; an in-memory store may
    implement the async ones by calling the sync ones (it never blocks).
    """

    # configuration
    def configure(self, budget: CustomerBudget) -> CustomerBudget:
        """Create or replace a customer's configuration; returns the stored one (whose
        ``anchor`` is the first configuration's, when the customer existed)."""
        ...

    async def aconfigure(self, budget: CustomerBudget) -> CustomerBudget: ...

    def customer(self, customer_id: str) -> CustomerBudget | None:
        """The stored configuration, or None for an unknown customer."""
        ...

    async def acustomer(self, customer_id: str) -> CustomerBudget | None: ...

    # the ledger
    def reserve(self, request: ReserveRequest) -> Reservation | Refusal:
        """Hold ``request.amount`` against both limits, all or nothing."""
        ...

    async def areserve(self, request: ReserveRequest) -> Reservation | Refusal: ...

    def settle(self, reservation: Reservation, actual: int, now: float) -> SettleOutcome:
        """Close a reservation, charging ``actual`` micro-dollars to its period and total."""
        ...

    async def asettle(self, reservation: Reservation, actual: int, now: float) -> SettleOutcome: ...

    def release(self, reservation: Reservation, now: float) -> ReleaseOutcome:
        """Close a reservation without charging anything."""
        ...

    async def arelease(self, reservation: Reservation, now: float) -> ReleaseOutcome: ...

    def usage(self, customer_id: str, period_key: str | None, now: float) -> BudgetUsage:
        """The customer's spend and holds for a period key and in total."""
        ...

    async def ausage(self, customer_id: str, period_key: str | None, now: float) -> BudgetUsage: ...

    def reset(self, customer_id: str, period_key: str | None, *, total: bool) -> None:
        """Zero the period's ``spent`` (when ``period_key`` is given) and, with ``total``,
        the lifetime ``spent``. Open reservations stay open."""
        ...

    async def areset(self, customer_id: str, period_key: str | None, *, total: bool) -> None: ...

    # the rate limit (a sliding window of one minute, e.g. the ``limits`` package's
    # moving window over its memory or Redis storage)
    def hit(self, customer_id: str, per_minute: int) -> RateDecision:
        """Count one request against ``per_minute``; refused hits are not counted."""
        ...

    async def ahit(self, customer_id: str, per_minute: int) -> RateDecision: ...


@runtime_checkable
class RateAndReserve(Protocol):
    """A store that counts a rate-limit hit and reserves in one step (one round trip for
    a shared store). The stage then checks a call's rate limit with its first reservation,
    and on its own (:meth:`BudgetStore.hit`) only for a call that reserves nothing (a
    cache hit)."""

    def hit_and_reserve(
        self, request: ReserveRequest, per_minute: int | None
    ) -> tuple[RateDecision | None, Reservation | Refusal | None]:
        """``hit`` then, when allowed, ``reserve``: (the decision, the reservation or
        refusal, None when the hit was refused)."""
        ...

    async def ahit_and_reserve(
        self, request: ReserveRequest, per_minute: int | None
    ) -> tuple[RateDecision | None, Reservation | Refusal | None]: ...
