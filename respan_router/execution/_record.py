"""Per-call state: what happened during one call, kept cheaply while it runs.

The executor fills a :class:`CallRecord`; ``request_breakdown`` and telemetry read it
when the call ends. Timestamps are wall-clock nanoseconds (``time.time_ns``) so spans
can be emitted afterwards with their true start and end times.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from respan_router.errors import RouterError

if TYPE_CHECKING:
    from respan_router.budgets import CustomerCall

__all__ = ["AttemptRecord", "CallRecord", "RetryWait"]


@dataclass(frozen=True, slots=True)
class RetryWait:
    """One wait between two tries of the same candidate."""

    at_ns: int
    seconds: float
    try_number: int
    error_type: str


@dataclass(slots=True)
class AttemptRecord:
    """One candidate of the plan, tried one or more times."""

    model: str
    provider: str
    litellm_model: str
    credential_source: str
    start_ns: int = field(default_factory=time.time_ns)
    end_ns: int = 0
    tries: int = 0
    # A tuple (the shared empty one until a wait): no list per attempt in flight.
    waits: tuple[RetryWait, ...] = ()
    error: RouterError | None = None
    outcome: str = "pending"  # "success" | "error"
    pricing_model: str | None = None  # the backend model string prices are looked up by
    dispatch_path: str | None = None  # which path the provider took ("lean", "litellm")

    def finish(self, error: RouterError | None = None) -> None:
        self.end_ns = time.time_ns()
        self.error = error
        self.outcome = "error" if error is not None else "success"


@dataclass(slots=True)
class CallRecord:
    """One call through the router."""

    start_ns: int = field(default_factory=time.time_ns)
    routing_seconds: float = 0.0
    end_ns: int = 0
    attempts: list[AttemptRecord] = field(default_factory=list)
    cache_hit: bool = False
    stream: bool = False
    first_chunk_ns: int = 0
    error: BaseException | None = None
    cost: float | None = None  # USD, once known (see execution._outcome.call_cost)
    cost_known: bool = False
    customer: CustomerCall | None = None  # the customer's budget state, when it has one
    redis_degraded: bool = False  # shared state (redis=...) was on its failure policies

    def admit(self, customer: CustomerCall) -> None:
        """The budget stage's ``admitted`` hook: the customer is known before its rate
        limit is checked, so a refused call's span still records its ``limit_info``."""
        self.customer = customer

    @property
    def retries(self) -> int:
        retries = 0
        for attempt in self.attempts:  # a loop: no generator for the common single attempt
            if attempt.tries > 1:
                retries += attempt.tries - 1
        return retries

    @property
    def latency_seconds(self) -> float:
        end = self.end_ns or time.time_ns()
        return (end - self.start_ns) / 1e9
