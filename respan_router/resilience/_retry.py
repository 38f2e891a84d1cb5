"""Retries of one candidate, composed from tenacity's strategy objects.

A :class:`RetryPolicy` says how often and how patiently one candidate (one model with one
set of credentials) is retried. It builds a :class:`tenacity.Retrying` (or
:class:`tenacity.AsyncRetrying`) whose strategies are:

* **retry** — :data:`retry_if_retryable`: only a :class:`~respan_router.errors.ProviderError`
  whose ``retryable`` is true (408, 409, 429, 5xx, timeouts, lost connections). Bad
  requests, authentication, permissions, 404, context-window and content-policy errors,
  interrupted streams, our own errors and cancellation are never retried.
* **wait** — :class:`RetryAfterWait`: the provider's Retry-After as a minimum, otherwise
  exponential backoff with jitter, capped at ``max_wait``.
* **stop** — after ``num_retries`` retries; before a wait that would pass the call's
  deadline; at once when a Retry-After is longer than the deadline leaves or than
  ``max_retry_after``; and when the retry budget refuses a retry. A stop re-raises the
  last error unchanged, so the router falls back to its next candidate.

:func:`zero_waits` is the testing switch: while it is active every wait is 0.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from respan_router.errors import InvalidRequestError
from respan_router.resilience._base import (
    Clock,
    RetryBudgetLike,
    last_error,
    retry_after_of,
    waits_zeroed,
    zero_waits,
)

if TYPE_CHECKING:  # tenacity is imported on the first retry, not with the package
    from tenacity import AsyncRetrying, RetryCallState, Retrying
    from tenacity.stop import StopBaseT, stop_base

    from respan_router.resilience._strategies import RetryAfterWait

__all__ = [
    "DEFAULT_INITIAL_WAIT",
    "DEFAULT_NUM_RETRIES",
    "RetryBudgetLike",
    "RetryEvent",
    "RetryPolicy",
    "retry_after_of",
    "waits_zeroed",
    "zero_waits",
]

#: ``retry_params.num_retries`` when ``retry_params`` is given without it.
DEFAULT_NUM_RETRIES = 3
#: ``retry_params.retry_after``: the first backoff wait, in seconds.
DEFAULT_INITIAL_WAIT = 0.2

BeforeSleep = Callable[["RetryCallState"], None]
AsyncBeforeSleep = Callable[["RetryCallState"], Awaitable[None] | None]


# --- telemetry -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryEvent:
    """One retry about to happen, as ``before_sleep`` sees it.

    Attributes:
        attempt_number: the attempt that just failed (1 for the first call).
        wait: seconds that will be slept before the next attempt.
        error: the error of the failed attempt.
    """

    attempt_number: int
    wait: float
    error: BaseException | None

    @classmethod
    def from_retry_state(cls, retry_state: RetryCallState) -> RetryEvent:
        """Read the event from tenacity's state (inside a ``before_sleep`` hook)."""
        return cls(
            attempt_number=retry_state.attempt_number,
            wait=float(retry_state.upcoming_sleep),
            error=last_error(retry_state),
        )


# --- the policy ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How one candidate is retried.

    Attributes:
        enabled: whether to retry at all; when false there is exactly one attempt.
        num_retries: retries after the first attempt (>= 0).
        initial_wait: the first backoff wait in seconds; it doubles on each retry.
        max_wait: the cap of a backoff wait.
        jitter: up to this many random seconds are added to each backoff wait.
        max_retry_after: a Retry-After longer than this many seconds gives up on the
            candidate at once (the router then falls back); None waits for any length.
    """

    enabled: bool = True
    num_retries: int = 0
    initial_wait: float = DEFAULT_INITIAL_WAIT
    max_wait: float = 8.0
    jitter: float = 0.1
    max_retry_after: float | None = 60.0

    def __post_init__(self) -> None:
        if isinstance(self.num_retries, bool) or not isinstance(self.num_retries, int):
            raise ValueError(f"num_retries must be an int, got {self.num_retries!r}")
        if self.num_retries < 0:
            raise ValueError(f"num_retries must be >= 0, got {self.num_retries}")
        for name in ("initial_wait", "max_wait", "jitter"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.max_retry_after is not None and self.max_retry_after < 0:
            raise ValueError(f"max_retry_after must be >= 0, got {self.max_retry_after}")

    @classmethod
    def from_params(
        cls,
        retry_params: Mapping[str, Any] | Any | None,
        retries: int | None = None,
        **overrides: Any,
    ) -> RetryPolicy:
        """The policy of a request, with Respan's semantics.

        When ``retry_params`` is given it wins: ``retry_enabled`` (default True),
        ``num_retries`` (default 3) and ``retry_after`` (the first wait, default 0.2 s);
        ``retry_enabled=False`` means no retry. Otherwise the top-level ``retries``
        (default 0) is the number of retries.

        Args:
            retry_params: a mapping, or a pydantic model of ``RetryParams``, or None.
            retries: the top-level ``retries`` of the request, or None.
            **overrides: other fields of the policy (``max_wait``, ``jitter``, ...).

        Raises:
            InvalidRequestError: a value has the wrong type or range.
        """
        if retry_params is not None:
            params = _as_mapping(retry_params)
            enabled = params.get("retry_enabled")
            enabled = True if enabled is None else enabled
            num = params.get("num_retries")
            num = DEFAULT_NUM_RETRIES if num is None else num
            initial = params.get("retry_after")
            initial = DEFAULT_INITIAL_WAIT if initial is None else initial
            if not isinstance(enabled, bool):
                raise InvalidRequestError(
                    "retry_enabled must be a boolean", field="retry_params.retry_enabled"
                )
            _check_count(num, "retry_params.num_retries")
            _check_seconds(initial, "retry_params.retry_after")
            if not enabled:
                num = 0
            return cls(enabled=enabled, num_retries=num, initial_wait=float(initial), **overrides)
        num = 0 if retries is None else retries
        _check_count(num, "retries")
        return cls(enabled=num > 0, num_retries=num, **overrides)

    @property
    def max_attempts(self) -> int:
        """Attempts in all: the first one and the retries."""
        return 1 + (self.num_retries if self.enabled else 0)

    def wait_strategy(self) -> RetryAfterWait:
        """The wait strategy of this policy."""
        from respan_router.resilience._strategies import RetryAfterWait

        return RetryAfterWait(initial=self.initial_wait, max=self.max_wait, jitter=self.jitter)

    def stop_strategy(
        self,
        *,
        deadline: float | None = None,
        budget: RetryBudgetLike | None = None,
        clock: Clock = time.monotonic,
        extra_stop: StopBaseT | None = None,
    ) -> stop_base:
        """The stop strategy: attempts, Retry-After limit, deadline, extra, then budget."""
        from tenacity.stop import stop_after_attempt, stop_any

        from respan_router.resilience._strategies import (
            stop_before_deadline,
            stop_if_retry_after_exceeds,
            stop_when_budget_denies,
        )

        stop: stop_base = stop_after_attempt(self.max_attempts)
        if self.max_retry_after is not None:
            stop = stop | stop_if_retry_after_exceeds(self.max_retry_after)
        if deadline is not None:
            stop = stop | stop_before_deadline(deadline, clock)
        if extra_stop is not None:
            stop = stop_any(stop, extra_stop)  # type: ignore[arg-type]  # a callable is fine
        if budget is not None:
            # Last: stop_any asks in order, so the budget only pays for real retries.
            stop = stop | stop_when_budget_denies(budget)
        return stop

    def _strategy_kwargs(
        self,
        *,
        sleep: Callable[[float], Any] | None,
        before_sleep: Callable[[RetryCallState], Any] | None,
        deadline: float | None,
        budget: RetryBudgetLike | None,
        clock: Clock,
        extra_stop: StopBaseT | None,
    ) -> dict[str, Any]:
        from respan_router.resilience._strategies import retry_if_retryable

        kwargs: dict[str, Any] = {
            "stop": self.stop_strategy(
                deadline=deadline, budget=budget, clock=clock, extra_stop=extra_stop
            ),
            "wait": self.wait_strategy(),
            "retry": retry_if_retryable,
            "reraise": True,
        }
        if before_sleep is not None:
            kwargs["before_sleep"] = before_sleep
        if sleep is not None:
            kwargs["sleep"] = sleep
        return kwargs

    def retrying(
        self,
        *,
        sleep: Callable[[float], None] | None = None,
        before_sleep: BeforeSleep | None = None,
        deadline: float | None = None,
        budget: RetryBudgetLike | None = None,
        clock: Clock = time.monotonic,
        extra_stop: StopBaseT | None = None,
    ) -> Retrying:
        """A :class:`tenacity.Retrying` for one candidate.

        Build one per call: tenacity keeps per-call state on the object (per thread, not
        per task), so one object must not serve concurrent calls.

        Args:
            sleep: how to sleep (default :func:`time.sleep`); inject one in tests.
            before_sleep: called before each wait with tenacity's state; see
                :meth:`RetryEvent.from_retry_state`.
            deadline: absolute deadline of the whole call on ``clock``'s scale, or None.
            budget: the retry budget; each retry must be granted by it (the executor
                counts requests). None means unlimited.
            clock: the clock of ``deadline`` (default :func:`time.monotonic`).
            extra_stop: another tenacity stop condition (a strategy or a callable taking
                the state), e.g. "this deployment's circuit breaker has opened".

        The last error is re-raised unchanged when retries stop.
        """
        from tenacity import Retrying

        return Retrying(
            **self._strategy_kwargs(
                sleep=sleep,
                before_sleep=before_sleep,
                deadline=deadline,
                budget=budget,
                clock=clock,
                extra_stop=extra_stop,
            )
        )

    def async_retrying(
        self,
        *,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        before_sleep: AsyncBeforeSleep | None = None,
        deadline: float | None = None,
        budget: RetryBudgetLike | None = None,
        clock: Clock = time.monotonic,
        extra_stop: StopBaseT | None = None,
    ) -> AsyncRetrying:
        """The async twin of :meth:`retrying` (default sleep: :func:`asyncio.sleep`)."""
        from tenacity import AsyncRetrying

        return AsyncRetrying(
            **self._strategy_kwargs(
                sleep=sleep,
                before_sleep=before_sleep,
                deadline=deadline,
                budget=budget,
                clock=clock,
                extra_stop=extra_stop,
            )
        )


_RETRY_FIELDS = ("retry_enabled", "num_retries", "retry_after")


def _as_mapping(value: Mapping[str, Any] | Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    if all(hasattr(value, name) for name in _RETRY_FIELDS):  # a RetryParams model
        return {name: getattr(value, name) for name in _RETRY_FIELDS}
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        dumped = dump()
        if isinstance(dumped, Mapping):
            return dumped
    raise InvalidRequestError("retry_params must be an object", field="retry_params")


def _check_count(value: Any, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidRequestError(f"{field} must be a non-negative integer", field=field)


def _check_seconds(value: Any, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise InvalidRequestError(f"{field} must be a non-negative number", field=field)


_STRATEGIES = frozenset(
    {
        "RetryAfterWait",
        "retry_if_retryable",
        "stop_before_deadline",
        "stop_if_retry_after_exceeds",
        "stop_when_budget_denies",
    }
)


def __getattr__(name: str) -> Any:
    """The tenacity strategies, from :mod:`respan_router.resilience._strategies` on first use."""
    if name in _STRATEGIES:
        from respan_router.resilience import _strategies as retry_strategies

        return getattr(retry_strategies, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
