"""What retries read, without tenacity: a provider's Retry-After, the testing switch that
zeroes waits, and what a retry budget offers.

Shared by the policy (:mod:`respan_router.resilience._retry`), its tenacity strategies
(:mod:`respan_router.resilience._strategies`) and deployment health.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from respan_router.errors import ProviderError

if TYPE_CHECKING:
    from tenacity import RetryCallState

__all__ = [
    "Clock",
    "RetryBudgetLike",
    "last_error",
    "retry_after_of",
    "waits_zeroed",
    "zero_waits",
]

Clock = Callable[[], float]


# --- the testing switch (the one module-level state of this module) -----------------------

_zero_waits_depth = 0
_zero_waits_lock = threading.Lock()


@contextmanager
def zero_waits() -> Iterator[None]:
    """Make every retry wait 0 while active, for tests.

    Retries still happen, and still stop where they would (attempts, deadline, a too long
    Retry-After, the budget); only the sleeping is removed. Nesting is safe, and the switch
    applies to every thread and event loop of the process. On exit the previous state
    comes back.

    Example::

        with zero_waits():
            router.complete(model="gpt-4o", messages=[...])
    """
    global _zero_waits_depth
    with _zero_waits_lock:
        _zero_waits_depth += 1
    try:
        yield
    finally:
        with _zero_waits_lock:
            _zero_waits_depth -= 1


def waits_zeroed() -> bool:
    """Whether :func:`zero_waits` is active."""
    return _zero_waits_depth > 0


def retry_after_of(error: BaseException | None) -> float | None:
    """The Retry-After (seconds) a provider error carries, or None."""
    if not isinstance(error, ProviderError):
        return None
    value = getattr(error, "retry_after", None)
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds >= 0 else None


@runtime_checkable
class RetryBudgetLike(Protocol):
    """What a retry budget offers (see :class:`respan_router.retry_budget.RetryBudget`)."""

    def record_request(self) -> None: ...

    def try_acquire_retry(self) -> bool: ...


def last_error(retry_state: RetryCallState) -> BaseException | None:
    """The error of the try tenacity just made, or None after a success."""
    outcome = retry_state.outcome
    if outcome is None or not outcome.failed:
        return None
    return outcome.exception()
