"""The router's errors.

Every error the router raises is a :class:`RouterError` with an HTTP-like ``status_code``::

    RouterError
    ├── InvalidRequestError (400)          bad input, raised before any provider is called
    │   ├── FeatureNotAvailableError (400) a parameter whose behaviour is not built yet
    │   ├── BudgetExceededError (429)      a customer's budget cannot cover the call
    │   └── NoCandidateError (400)         nothing left to call after exclusions
    ├── BudgetUnavailableError (503)       the shared budget store is down (fail_closed)
    ├── AllAttemptsFailedError             several candidates tried, all failed; status and
    │                                      __cause__ are those of the last attempt
    └── ProviderError (5xx, others)        a provider answered with an error or did not answer
        ├── ProviderBadRequestError (400)  the provider rejected the request
        │   ├── ContextWindowExceededError
        │   └── ContentPolicyViolationError
        ├── AuthenticationError (401)
        ├── PermissionDeniedError (403)
        ├── NotFoundError (404)
        ├── ProviderTimeoutError (408)
        ├── RateLimitError (429)           ``retry_after`` in seconds when the provider said
        │   └── CustomerRateLimitError     a customer's ``rate_limit`` (requests per minute)
        ├── ProviderConnectionError (503)  the connection dropped before a reply
        └── StreamInterruptedError         a stream failed after its first chunk

Third-party errors (litellm's) are mapped onto this tree in one place,
:mod:`respan_router.providers._litellm_errors`. No message, repr or attribute of these
errors carries a credential: messages are redacted of the secrets the call used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import ClassVar

__all__ = [
    "AllAttemptsFailedError",
    "AttemptFailure",
    "AuthenticationError",
    "BudgetExceededError",
    "BudgetUnavailableError",
    "ContentPolicyViolationError",
    "ContextWindowExceededError",
    "CustomerRateLimitError",
    "FeatureNotAvailableError",
    "InvalidRequestError",
    "NoCandidateError",
    "NotFoundError",
    "PermissionDeniedError",
    "PromptLoadError",
    "ProviderBadRequestError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeoutError",
    "RateLimitError",
    "RouterError",
    "StreamInterruptedError",
    "error_for_status",
    "error_type",
]

_RETRYABLE_STATUSES = frozenset({408, 409, 429})


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


class ProviderError(RouterError):
    """A provider failed the call: an error status, a timeout or a lost connection.

    Attributes:
        model: the model name as requested for the attempt that failed.
        provider: the provider of that attempt (e.g. ``"openai"``).
    """

    default_status = 500

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        model: str | None = None,
        provider: str | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.model = model
        self.provider = provider

    @property
    def retryable(self) -> bool:
        """Whether retrying the same candidate may succeed (408, 409, 429, 5xx)."""
        return self.status_code in _RETRYABLE_STATUSES or self.status_code >= 500


class ProviderBadRequestError(ProviderError):
    """The provider rejected the request as malformed (400, 422). Not retried."""

    default_status = 400

    @property
    def retryable(self) -> bool:
        return False


class ContextWindowExceededError(ProviderBadRequestError):
    """The conversation does not fit the model's context window."""


class ContentPolicyViolationError(ProviderBadRequestError):
    """The provider's content filter rejected the request."""


class AuthenticationError(ProviderError):
    """The provider refused the credentials (401). Not retried; another key may work."""

    default_status = 401

    @property
    def retryable(self) -> bool:
        return False


class PermissionDeniedError(ProviderError):
    """The credentials lack permission (403). Not retried."""

    default_status = 403

    @property
    def retryable(self) -> bool:
        return False


class NotFoundError(ProviderError):
    """The provider does not know the model or route (404). Not retried."""

    default_status = 404

    @property
    def retryable(self) -> bool:
        return False


class ProviderTimeoutError(ProviderError):
    """The provider did not answer in time (408, 504)."""

    default_status = 408

    @property
    def retryable(self) -> bool:
        return True


class RateLimitError(ProviderError):
    """The provider (or a budget) refused the call for now (429).

    Attributes:
        retry_after: seconds to wait, when the provider said (Retry-After), else None.
    """

    default_status = 429

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        model: str | None = None,
        provider: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, model=model, provider=provider)
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return True


class CustomerRateLimitError(RateLimitError):
    """A customer sent more requests in the last minute than its ``rate_limit`` allows.

    Raised before any provider is called; ``retry_after`` says when the next one fits.
    Not retried by the router.
    """

    @property
    def retryable(self) -> bool:
        return False


class ProviderConnectionError(ProviderError):
    """The connection failed or dropped before a reply."""

    default_status = 503

    @property
    def retryable(self) -> bool:
        return True


class StreamInterruptedError(ProviderError):
    """A stream failed after its first chunk was delivered; nothing else is spliced in."""

    default_status = 502

    @property
    def retryable(self) -> bool:
        return False


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


# The one status -> error table, for every provider adapter and the test fake. Statuses
# not listed are a plain ProviderError (retried when 5xx, 408, 409 or 429).
_BY_STATUS: dict[int, type[ProviderError]] = {
    400: ProviderBadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: ProviderTimeoutError,
    422: ProviderBadRequestError,
    429: RateLimitError,
    504: ProviderTimeoutError,
}


def error_for_status(
    status: int,
    message: str,
    *,
    model: str | None = None,
    provider: str | None = None,
    retry_after: float | None = None,
) -> ProviderError:
    """The error a provider's HTTP status becomes (shared by every provider adapter).

    ``retry_after`` (seconds) is kept on a :class:`RateLimitError` only.
    """
    cls = _BY_STATUS.get(status, ProviderError)
    if cls is RateLimitError:
        return RateLimitError(
            message, status_code=status, model=model, provider=provider, retry_after=retry_after
        )
    return cls(message, status_code=status, model=model, provider=provider)


def error_type(error: BaseException) -> str:
    """The ``error.type`` of an exception: its class name (``RateLimitError``, ...)."""
    return type(error).__qualname__
