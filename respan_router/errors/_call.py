"""The errors of a call as a whole: the base, bad input (raised before any provider is
called), the shared budget store being down, and every attempt failing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import ClassVar

__all__ = [
    "AllAttemptsFailedError",
    "AttemptFailure",
    "BudgetExceededError",
    "BudgetUnavailableError",
    "FeatureNotAvailableError",
    "InvalidRequestError",
    "NoCandidateError",
    "PromptLoadError",
    "RouterError",
    "error_type",
]


class RouterError(Exception):
    """Base of every error the router raises."""

    default_status: ClassVar[int] = 500

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = self.default_status if status_code is None else status_code

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code}, message={self.message!r})"


class InvalidRequestError(RouterError):
    """The request is invalid; raised before any provider is called.

    Attributes:
        field: the dotted name of the offending parameter, when one is to blame.
    """

    default_status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class FeatureNotAvailableError(InvalidRequestError):
    """A parameter whose behaviour this version does not implement yet.

    It is rejected rather than accepted and silently ignored.
    """


class PromptLoadError(InvalidRequestError):
    """A prompt definition (a file, the Router's configuration, or ``prompts.add``) is
    invalid: bad template syntax, an unknown field, a duplicate version, ...

    Attributes:
        source: where the definition came from (a file path, ``"config"`` or ``"code"``).
        prompt_id: the prompt's id, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        prompt_id: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message, field=field)
        self.source = source
        self.prompt_id = prompt_id


class BudgetExceededError(InvalidRequestError):
    """A customer's budget cannot cover the call's worst-case cost (429).

    Raised before any provider is called; never retried, never falls back (unless the
    Router's ``budget_aware_fallback`` found a later candidate that fits).

    Attributes:
        customer_identifier: whose budget.
        limit: ``"period_budget"`` or ``"total_budget"``.
        limit_usd: the limit, in USD.
        used_usd: spent plus held by calls in flight, in USD, before this call.
        estimate_usd: this call's worst-case cost (marked up), in USD.
        resets_at: for a period limit, when the period ends (UTC), else None.
    """

    default_status = 429

    def __init__(
        self,
        message: str,
        *,
        customer_identifier: str,
        limit: str,
        limit_usd: Decimal,
        used_usd: Decimal,
        estimate_usd: Decimal,
        resets_at: datetime | None = None,
    ) -> None:
        super().__init__(message, field="customer_params")
        self.customer_identifier = customer_identifier
        self.limit = limit
        self.limit_usd = limit_usd
        self.used_usd = used_usd
        self.estimate_usd = estimate_usd
        self.resets_at = resets_at


class NoCandidateError(InvalidRequestError):
    """No model is left to call (everything was excluded). Raised before any call."""


class BudgetUnavailableError(RouterError):
    """The shared budget store (Redis) could not be reached for a customer with a budget,
    and the router's ``redis_budget_policy`` is ``fail_closed``: no money is spent
    without a ledger. Raised before any provider is called; retry later."""

    default_status = 503


@dataclass(frozen=True, slots=True)
class AttemptFailure:
    """One failed candidate of a call: which model, which provider, what went wrong.

    ``tries`` counts the requests made to it (1 + its retries) and ``waits`` the seconds
    slept between them, in order.
    """

    model: str
    provider: str
    error: RouterError
    credential_source: str | None = None
    tries: int = 1
    waits: tuple[float, ...] = ()


class AllAttemptsFailedError(RouterError):
    """Every candidate of the plan failed.

    ``status_code`` and ``__cause__`` are those of the last attempt; ``attempts`` lists
    every attempt, in order.
    """

    def __init__(self, attempts: Sequence[AttemptFailure]) -> None:
        if not attempts:
            raise ValueError("AllAttemptsFailedError needs at least one attempt")
        self.attempts: tuple[AttemptFailure, ...] = tuple(attempts)
        last = self.attempts[-1].error
        tried = ", ".join(f"{a.model} ({type(a.error).__name__})" for a in self.attempts)
        super().__init__(
            f"all {len(self.attempts)} attempts failed: {tried}; last: {last.message}",
            status_code=last.status_code,
        )

    @property
    def last_error(self) -> RouterError:
        return self.attempts[-1].error


def error_type(error: BaseException) -> str:
    """The ``error.type`` of an exception: its class name (``RateLimitError``, ...)."""
    return type(error).__qualname__
