"""State that outlives a call: the retry policy (tenacity), the retry budget, breakers."""

from respan_router.resilience._breaker import PASS, PROBE, REFUSED
from respan_router.resilience._breaker_config import (
    BreakerConfig,
    BreakerSnapshot,
    BreakerState,
)
from respan_router.resilience._budget import RetryBudget, RetryBudgetSnapshot
from respan_router.resilience._health import HealthRegistry
from respan_router.resilience._retry import RetryPolicy, zero_waits
from respan_router.resilience._shared_health import (
    HealthEvent,
    HealthStore,
    SharedHealthRegistry,
    share_health,
)

__all__ = [
    "PASS",
    "PROBE",
    "REFUSED",
    "BreakerConfig",
    "BreakerSnapshot",
    "BreakerState",
    "HealthEvent",
    "HealthRegistry",
    "HealthStore",
    "RetryBudget",
    "RetryBudgetSnapshot",
    "RetryPolicy",
    "SharedHealthRegistry",
    "share_health",
    "zero_waits",
]
