"""Stage 3: customer budgets (cost, reserve/settle, periods) and per-customer rate limits.

The ledger sits behind :class:`BudgetStore` (in memory by default); see ``_store`` for the
rules every store keeps.
"""

from respan_router.budgets._api import Budgets, CustomerUsage
from respan_router.budgets._cost import BudgetPricing, ModelPrice, to_micro, to_usd
from respan_router.budgets._customer import CustomerCall, customer_budget, span_attributes
from respan_router.budgets._guard import (
    BudgetHooks,
    acheck_rate,
    aplan_within_budget,
    asettle_open,
    attempt_hooks,
    check_rate,
    fitting,
    plan_within_budget,
    settle_open,
)
from respan_router.budgets._memory import InMemoryBudgetStore
from respan_router.budgets._periods import Period, current_period
from respan_router.budgets._ratelimit import AsyncMovingWindow, MovingWindow
from respan_router.budgets._sliding import SlidingLog
from respan_router.budgets._stage import BudgetStage
from respan_router.budgets._store import (
    MICRO,
    BudgetStore,
    BudgetUsage,
    CustomerBudget,
    RateAndReserve,
    RateDecision,
    Refusal,
    ReleaseOutcome,
    Reservation,
    ReserveRequest,
    SettleOutcome,
)

__all__ = [
    "MICRO",
    "AsyncMovingWindow",
    "BudgetHooks",
    "BudgetPricing",
    "BudgetStage",
    "BudgetStore",
    "BudgetUsage",
    "Budgets",
    "CustomerBudget",
    "CustomerCall",
    "CustomerUsage",
    "InMemoryBudgetStore",
    "ModelPrice",
    "MovingWindow",
    "Period",
    "RateAndReserve",
    "RateDecision",
    "Refusal",
    "ReleaseOutcome",
    "Reservation",
    "ReserveRequest",
    "SettleOutcome",
    "SlidingLog",
    "acheck_rate",
    "aplan_within_budget",
    "asettle_open",
    "attempt_hooks",
    "check_rate",
    "current_period",
    "customer_budget",
    "fitting",
    "plan_within_budget",
    "settle_open",
    "span_attributes",
    "to_micro",
    "to_usd",
]
