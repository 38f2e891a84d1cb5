"""The errors of a provider (an error status, a timeout, a lost connection), whether
each is worth a retry (one table), and the one status -> error table."""

from __future__ import annotations

from respan_router.errors._call import RouterError

__all__ = [
    "AuthenticationError",
    "ContentPolicyViolationError",
    "ContextWindowExceededError",
    "CustomerRateLimitError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProviderBadRequestError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeoutError",
    "RateLimitError",
    "StreamInterruptedError",
    "error_for_status",
]

_RETRYABLE_STATUSES = frozenset({408, 409, 429})


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
        """Whether retrying the same candidate may succeed: the retry table's entry for
        the nearest class listed, else by status (408, 409, 429, 5xx)."""
        for cls in type(self).__mro__:
            rule = _RETRYABLE.get(cls)
            if rule is not None:
                return rule
        return self.status_code in _RETRYABLE_STATUSES or self.status_code >= 500


class ProviderBadRequestError(ProviderError):
    """The provider rejected the request as malformed (400, 422). Not retried."""

    default_status = 400


class ContextWindowExceededError(ProviderBadRequestError):
    """The conversation does not fit the model's context window."""


class ContentPolicyViolationError(ProviderBadRequestError):
    """The provider's content filter rejected the request."""


class AuthenticationError(ProviderError):
    """The provider refused the credentials (401). Not retried; another key may work."""

    default_status = 401


class PermissionDeniedError(ProviderError):
    """The credentials lack permission (403). Not retried."""

    default_status = 403


class NotFoundError(ProviderError):
    """The provider does not know the model or route (404). Not retried."""

    default_status = 404


class ProviderTimeoutError(ProviderError):
    """The provider did not answer in time (408, 504)."""

    default_status = 408


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


class CustomerRateLimitError(RateLimitError):
    """A customer sent more requests in the last minute than its ``rate_limit`` allows.

    Raised before any provider is called; ``retry_after`` says when the next one fits.
    Not retried by the router.
    """


class ProviderConnectionError(ProviderError):
    """The connection failed or dropped before a reply."""

    default_status = 503


class StreamInterruptedError(ProviderError):
    """A stream failed after its first chunk was delivered; nothing else is spliced in."""

    default_status = 502


#: Whether retrying the same candidate may succeed, per class (the nearest class listed
#: decides; a :class:`ProviderError` not listed is retried on 408, 409, 429 and 5xx). A
#: customer's own rate limit and a stream cut after its first chunk are never retried.
_RETRYABLE: dict[type, bool] = {
    ProviderBadRequestError: False,
    AuthenticationError: False,
    PermissionDeniedError: False,
    NotFoundError: False,
    ProviderTimeoutError: True,
    RateLimitError: True,
    CustomerRateLimitError: False,
    ProviderConnectionError: True,
    StreamInterruptedError: False,
}


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
