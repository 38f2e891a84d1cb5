"""litellm's exceptions mapped onto the router's error tree, in one place.

What litellm 1.110 raises for each upstream outcome of an OpenAI-compatible call (each
litellm exception chains ``litellm.OpenAIError`` <- the ``openai`` SDK error <- httpx)::

    400                          BadRequestError (400)
    400 context_length_exceeded  ContextWindowExceededError
    400 content-filter message   ContentPolicyViolationError (decided by the message text;
                                 the ``content_policy_violation`` code alone gives
                                 BadRequestError with ``body["code"]`` set)
    401                          AuthenticationError
    403, 409                     APIError with that status
    404                          NotFoundError
    408, 504, client timeout     Timeout (408 / 504)
    422                          BadRequestError (422)
    429                          RateLimitError; Retry-After in ``response.headers``
    500 / 502 / 503              InternalServerError / BadGatewayError / ServiceUnavailableError
    connection dropped           InternalServerError (500) "Connection error." chaining
                                 ``openai.APIConnectionError``
    stream cut after chunks      MidStreamFallbackError (``is_pre_first_chunk`` False)

litellm itself is never imported here: exceptions are recognised by their class names
along the MRO and by their attributes, so mapping costs no import.
"""

from __future__ import annotations

import contextlib
import email.utils
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from respan_router._secrets import redact
from respan_router.errors import (
    ContentPolicyViolationError,
    ContextWindowExceededError,
    ProviderBadRequestError,
    ProviderConnectionError,
    RouterError,
    StreamInterruptedError,
    error_for_status,
)

__all__ = ["map_litellm_error", "parse_retry_after"]

_CONTEXT_CODES = frozenset({"context_length_exceeded", "context_window_exceeded"})
_CONTENT_POLICY_CODES = frozenset({"content_policy_violation", "content_filter"})
_CHAIN_LIMIT = 16


def map_litellm_error(
    exc: BaseException, *, model: str, provider: str, secrets: Iterable[str] = ()
) -> RouterError:
    """The router error for ``exc``, an exception raised by a litellm call.

    Also accepts ``openai`` and ``httpx`` exceptions that leak through litellm. The
    messages of ``exc`` and of every exception it chains are redacted of ``secrets`` in
    place, so ``raise map_litellm_error(...) from exc`` shows no credential anywhere in
    the traceback.

    Args:
        exc: what litellm raised.
        model: the model name as requested, for the error's ``model``.
        provider: the provider name, for the error's ``provider``.
        secrets: the credential values the call used.
    """
    secrets = tuple(secrets)
    _redact_chain(exc, secrets)
    message = redact(_message_of(exc), secrets)

    if _is_named(exc, "MidStreamFallbackError"):
        original = getattr(exc, "original_exception", None)
        if getattr(exc, "is_pre_first_chunk", False) and isinstance(original, BaseException):
            # Nothing reached the caller: the failure is that of the original error.
            return map_litellm_error(original, model=model, provider=provider, secrets=secrets)
        return StreamInterruptedError(message, model=model, provider=provider)

    status = _status_of(exc)
    if _is_timeout(exc):
        status = 504 if status == 504 else 408
    elif status not in (408, 504) and _is_connection_error(exc):
        return ProviderConnectionError(message, model=model, provider=provider)
    if status in (400, 422):
        refined = _bad_request_class(exc)
        if refined is not ProviderBadRequestError:
            return refined(message, status_code=status, model=model, provider=provider)
    retry_after = _retry_after_of(exc) if status == 429 else None
    # Everything else by its status, from the one table in respan_router.errors.
    return error_for_status(
        status or 500, message, model=model, provider=provider, retry_after=retry_after
    )


def _bad_request_class(exc: BaseException) -> type[ProviderBadRequestError]:
    """A 400/422's class: the context window or the content filter, else a plain one."""
    code = _error_code(exc)
    if _is_named(exc, "ContextWindowExceededError") or code in _CONTEXT_CODES:
        return ContextWindowExceededError
    if _is_named(exc, "ContentPolicyViolationError") or code in _CONTENT_POLICY_CODES:
        return ContentPolicyViolationError
    return ProviderBadRequestError


def parse_retry_after(
    headers: Mapping[str, Any] | None, *, now: float | None = None
) -> float | None:
    """Seconds to wait according to ``retry-after-ms`` or ``retry-after`` (case-insensitive).

    ``retry-after`` may be a number of seconds or an HTTP date. None when absent or
    unreadable; never negative.
    """
    if not headers:
        return None
    lowered = {str(k).lower(): v for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except (TypeError, ValueError):
            pass
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except (TypeError, ValueError):
        pass
    try:
        when = email.utils.parsedate_to_datetime(str(raw))
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


# -- helpers ---------------------------------------------------------------------------------


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then what it chains (``__cause__``, ``__context__``, ``original_exception``)."""
    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < _CHAIN_LIMIT:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for nxt in (
            getattr(current, "original_exception", None),
            current.__cause__,
            current.__context__,
        ):
            if isinstance(nxt, BaseException) and id(nxt) not in seen:
                todo.append(nxt)


def _redact_chain(exc: BaseException, secrets: tuple[str, ...]) -> None:
    if not secrets:
        return
    for item in _chain(exc):
        item.args = tuple(redact(a, secrets) if isinstance(a, str) else a for a in item.args)
        for name in ("message", "body", "litellm_debug_info", "detail"):
            value = getattr(item, name, None)
            if value is not None:
                with contextlib.suppress(AttributeError, TypeError):
                    setattr(item, name, _redact_value(value, secrets))


def _redact_value(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {k: _redact_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_value(v, secrets) for v in value]
    return value


def _is_named(exc: BaseException, name: str) -> bool:
    return any(cls.__name__ == name for cls in type(exc).__mro__)


def _message_of(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        text = ""
    return text or type(exc).__name__


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if status is None:
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
    try:
        return int(status) if status is not None else None
    except (TypeError, ValueError):
        return None


def _is_timeout(exc: BaseException) -> bool:
    """A litellm/openai/httpx timeout, or a builtin one."""
    return isinstance(exc, TimeoutError) or any(
        _is_named(exc, name) for name in ("Timeout", "APITimeoutError", "TimeoutException")
    )


def _is_connection_error(exc: BaseException) -> bool:
    """The connection failed or dropped: somewhere in the chain a transport error.

    litellm reports a dropped connection as ``InternalServerError`` ("Connection error.")
    chaining the openai SDK's ``APIConnectionError``.
    """
    for item in _chain(exc):
        if _is_timeout(item):
            return False
        if any(
            _is_named(item, name)
            for name in ("APIConnectionError", "TransportError", "ConnectionError")
        ):
            return True
    return "Connection error." in _message_of(exc)


def _error_code(exc: BaseException) -> str | None:
    """The provider's error ``code`` (``context_length_exceeded``, ...), if any."""
    for item in _chain(exc):
        code = getattr(item, "code", None)
        if isinstance(code, str) and not code.isdigit():
            return code
        body = getattr(item, "body", None)
        if isinstance(body, Mapping):
            inner = body.get("error")
            found = (inner if isinstance(inner, Mapping) else body).get("code")
            if isinstance(found, str):
                return found
    return None


def _retry_after_of(exc: BaseException) -> float | None:
    for item in _chain(exc):
        response = getattr(item, "response", None)
        for headers in (
            getattr(response, "headers", None),
            getattr(item, "litellm_response_headers", None),
            getattr(item, "headers", None),
        ):
            if isinstance(headers, Mapping) or hasattr(headers, "items"):
                seconds = parse_retry_after(headers)
                if seconds is not None:
                    return seconds
    return None
