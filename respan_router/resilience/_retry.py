"""Retries of one candidate, composed from tenacity's strategy objects.

A :class:`RetryPolicy` says how often and how patiently one candidate (one model with one
set of credentials) is retried. It is built from validated
:class:`~respan_router.request._params.RetryParams` (:meth:`RetryPolicy.from_params`) and
builds a :class:`tenacity.Retrying` (or :class:`tenacity.AsyncRetrying`) whose strategies
are:

* **retry** — :func:`retry_if_retryable`: only a :class:`~respan_router.errors.ProviderError`
  whose ``retryable`` is true (408, 409, 429, 5xx, timeouts, lost connections). Bad
  requests, authentication, permissions, 404, context-window and content-policy errors,
  interrupted streams, our own errors and cancellation are never retried.
* **wait** — :class:`RetryAfterWait`: ``retry_after`` seconds between tries (Respan's
  meaning), or, when the Router asks for ``retry_backoff="exponential"``, ``retry_after``
  doubling on each retry with jitter, capped at ``max_wait``. A longer Retry-After from
  the provider wins.
* **stop** — after ``num_retries`` retries; before a wait that would pass the call's
  deadline; at once when a Retry-After is longer than the deadline leaves or than
  ``max_retry_after``; and when the retry budget refuses a retry. A stop re-raises the
  last error unchanged, so the router falls back to its next candidate.

:func:`zero_waits` is the testing switch: while it is active every wait is 0.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from respan_router.request import RetryBackoff, RetryParams
from respan_router.resilience._strategies import (
    Clock,
    RetryAfterWait,
    RetryBudgetLike,
    retry_after_of,
    retry_if_retryable,
    stop_before_deadline,
    stop_if_retry_after_exceeds,
    stop_when_budget_denies,
    waits_zeroed,
    zero_waits,
)

if TYPE_CHECKING:  # tenacity is imported on the first retry, not with the package
    from tenacity import AsyncRetrying, RetryCallState, Retrying

__all__ = [
    "DEFAULT_NUM_RETRIES",
    "DEFAULT_WAIT",
    "RetryAfterWait",
    "RetryBudgetLike",
    "RetryPolicy",
    "retry_after_of",
    "retry_if_retryable",
    "stop_before_deadline",
    "stop_if_retry_after_exceeds",
    "stop_when_budget_denies",
    "waits_zeroed",
    "zero_waits",
]

_DEFAULTS = RetryParams.model_fields
#: ``retry_params.num_retries`` when ``retry_params`` is given without it.
DEFAULT_NUM_RETRIES: int = _DEFAULTS["num_retries"].default
#: ``retry_params.retry_after``: seconds between tries.
DEFAULT_WAIT: float = _DEFAULTS["retry_after"].default

BeforeSleep = Callable[["RetryCallState"], None]
AsyncBeforeSleep = Callable[["RetryCallState"], Awaitable[None] | None]


# --- the policy ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How one candidate is retried. Built from validated values: it checks nothing.

    Attributes:
        enabled: whether to retry at all; when false there is exactly one attempt.
        num_retries: retries after the first attempt.
        wait: seconds between tries (``retry_params.retry_after``); with
            ``backoff="exponential"`` the first wait, doubling on each retry.
        backoff: ``"constant"`` (the default, Respan's meaning) or ``"exponential"``.
        max_wait: the cap of an exponential wait.
        jitter: up to this many random seconds are added to each exponential wait.
        max_retry_after: a Retry-After longer than this many seconds gives up on the
            candidate at once (the router then falls back); None waits for any length.
    """

    enabled: bool = True
    num_retries: int = 0
    wait: float = DEFAULT_WAIT
    backoff: RetryBackoff = "constant"
    max_wait: float = 8.0
    jitter: float = 0.1
    max_retry_after: float | None = 60.0

    @classmethod
    def from_params(
        cls,
        retry_params: RetryParams | None,
        retries: int | None = None,
        *,
        backoff: RetryBackoff = "constant",
        **overrides: Any,
    ) -> RetryPolicy:
        """The policy of a request, with Respan's semantics.

        When ``retry_params`` is given it wins: ``retry_enabled`` (default True),
        ``num_retries`` (default 3) and ``retry_after`` (seconds between tries, default
        0.2); ``retry_enabled=False`` means no retry. Otherwise the top-level ``retries``
        (default 0) is the number of retries.

        Args:
            retry_params: the request's (or Router's) validated ``RetryParams``, or None.
            retries: the top-level ``retries`` of the request (validated), or None.
            backoff: the Router's ``retry_backoff``.
            **overrides: other fields of the policy (``max_wait``, ``jitter``, ...).
        """
        if retry_params is not None:
            enabled = retry_params.retry_enabled
            return cls(
                enabled=enabled,
                num_retries=retry_params.num_retries if enabled else 0,
                wait=retry_params.retry_after,
                backoff=backoff,
                **overrides,
            )
        num = retries or 0
        return cls(enabled=num > 0, num_retries=num, backoff=backoff, **overrides)

    @property
    def max_attempts(self) -> int:
        """Attempts in all: the first one and the retries."""
        return 1 + (self.num_retries if self.enabled else 0)

    def wait_strategy(self) -> RetryAfterWait:
        """The wait strategy of this policy."""
        return RetryAfterWait(self.wait, self.backoff, max=self.max_wait, jitter=self.jitter)

    def stop_strategy(
        self,
        *,
        deadline: float | None = None,
        budget: RetryBudgetLike | None = None,
        clock: Clock = time.monotonic,
    ) -> Callable[[RetryCallState], bool]:
        """The stop strategy: attempts, Retry-After limit, deadline, then the budget."""
        from tenacity.stop import stop_after_attempt, stop_any

        stops: list[Callable[[RetryCallState], bool]] = [stop_after_attempt(self.max_attempts)]
        if self.max_retry_after is not None:
            stops.append(stop_if_retry_after_exceeds(self.max_retry_after))
        if deadline is not None:
            stops.append(stop_before_deadline(deadline, clock))
        if budget is not None:
            # Last: stop_any asks in order, so the budget only pays for real retries.
            stops.append(stop_when_budget_denies(budget))
        # tenacity accepts any callable of the state; its stubs name only stop_base.
        return stops[0] if len(stops) == 1 else stop_any(*stops)  # type: ignore[arg-type]

    def _strategy_kwargs(
        self,
        *,
        sleep: Callable[[float], Any] | None,
        before_sleep: Callable[[RetryCallState], Any] | None,
        deadline: float | None,
        budget: RetryBudgetLike | None,
        clock: Clock,
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "stop": self.stop_strategy(deadline=deadline, budget=budget, clock=clock),
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
    ) -> Retrying:
        """A :class:`tenacity.Retrying` for one candidate.

        Build one per call: tenacity keeps per-call state on the object (per thread, not
        per task), so one object must not serve concurrent calls.

        Args:
            sleep: how to sleep (default :func:`time.sleep`); inject one in tests.
            before_sleep: called before each wait with tenacity's state.
            deadline: absolute deadline of the whole call on ``clock``'s scale, or None.
            budget: the retry budget; each retry must be granted by it (the executor
                counts requests). None means unlimited.
            clock: the clock of ``deadline`` (default :func:`time.monotonic`).

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
            )
        )
