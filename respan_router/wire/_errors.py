"""A router error as the gateway answers it: an HTTP status, OpenAI's error body
``{"error": {"message", "type", "param", "code"}}`` and ``retry-after`` headers.

The status is the error's own ``status_code``; the ``type`` follows the status as OpenAI
names it, and the ``code`` the error's class, so the OpenAI SDK raises its own class
(``BadRequestError``, ``RateLimitError``, ...) and a framework's handling applies.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from respan_router.errors import (
    AllAttemptsFailedError,
    BudgetExceededError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    CustomerRateLimitError,
    FeatureNotAvailableError,
    NoCandidateError,
    RateLimitError,
    RouterError,
)

__all__ = ["ERROR_KEY", "error_body", "error_headers", "error_json"]

#: Where the router's own error rides on the HTTP request and response the SDK keeps
#: (``exc.request.extensions[ERROR_KEY]``, ``exc.response.extensions[ERROR_KEY]``).
ERROR_KEY = "respan_router.error"

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}

# Most specific first.
_CODES: tuple[tuple[type[RouterError], str], ...] = (
    (ContextWindowExceededError, "context_length_exceeded"),
    (ContentPolicyViolationError, "content_policy_violation"),
    (BudgetExceededError, "budget_exceeded"),
    (CustomerRateLimitError, "customer_rate_limit_exceeded"),
    (RateLimitError, "rate_limit_exceeded"),
    (FeatureNotAvailableError, "feature_not_available"),
    (NoCandidateError, "no_candidate"),
)


def _cause(error: RouterError) -> RouterError:
    """The error that decides the code: the last attempt's, when every attempt failed."""
    return error.last_error if isinstance(error, AllAttemptsFailedError) else error


def error_type(status: int) -> str:
    return _TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def error_body(error: RouterError) -> dict[str, Any]:
    """OpenAI's error object for a router error."""
    cause = _cause(error)
    code = next((name for cls, name in _CODES if isinstance(cause, cls)), None)
    param = getattr(error, "field", None) or getattr(cause, "field", None)
    return {
        "message": error.message,
        "type": error_type(error.status_code),
        "param": param,
        "code": code,
    }


def error_json(error: RouterError) -> bytes:
    """The whole error body, ``{"error": {...}}``, as JSON."""
    return orjson.dumps({"error": error_body(error)})


def error_headers(error: RouterError) -> list[tuple[bytes, bytes]]:
    """``content-type``, and ``retry-after`` / ``retry-after-ms`` when the wait is known."""
    headers = [(b"content-type", b"application/json")]
    cause = _cause(error)
    wait = cause.retry_after if isinstance(cause, RateLimitError) else None
    if wait is not None and wait >= 0:
        headers.append((b"retry-after", b"%d" % math.ceil(wait)))
        headers.append((b"retry-after-ms", b"%d" % round(wait * 1000)))
    return headers
