"""State that outlives a call: the retry policy (tenacity), the retry budget, breakers."""

from respan_router.resilience._budget import RetryBudget, RetryBudgetSnapshot
from respan_router.resilience._health import (
    BreakerConfig,
    BreakerSnapshot,
    BreakerState,
    HealthRegistry,
)
from respan_router.resilience._retry import RetryPolicy, zero_waits

__all__ = [
    "BreakerConfig",
    "BreakerSnapshot",
    "BreakerState",
    "HealthRegistry",
    "RetryBudget",
    "RetryBudgetSnapshot",
    "RetryPolicy",
    "zero_waits",
]
