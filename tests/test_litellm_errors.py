"""map_litellm_error on exceptions built by hand (openai/httpx ones that may leak through)."""

from __future__ import annotations

import httpx
import openai
import pytest

from respan_router.errors import (
    ContextWindowExceededError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    RouterError,
    error_for_status,
)
from respan_router.providers._litellm_errors import map_litellm_error

SECRET = "sk-live-abcdef123456"
REQUEST = httpx.Request("POST", "https://api.example.com/v1/chat/completions")


def mapped(exc: BaseException) -> RouterError:
    return map_litellm_error(exc, model="m", provider="p", secrets=[SECRET])


def status_error(cls: type[openai.APIStatusError], status: int, **headers: str) -> Exception:
    response = httpx.Response(status, headers=headers, request=REQUEST)
    return cls(f"failed for key {SECRET}", response=response, body=None)


@pytest.mark.parametrize(
    ("exc", "expected", "status"),
    [
        (httpx.ConnectError("refused", request=REQUEST), ProviderConnectionError, 503),
        (httpx.ReadTimeout("slow", request=REQUEST), ProviderTimeoutError, 408),
        (openai.APIConnectionError(request=REQUEST), ProviderConnectionError, 503),
        (openai.APITimeoutError(request=REQUEST), ProviderTimeoutError, 408),
        (TimeoutError(), ProviderTimeoutError, 408),
        (ValueError("odd"), ProviderError, 500),
    ],
)
def test_transport_errors(exc: BaseException, expected: type[RouterError], status: int) -> None:
    err = mapped(exc)
    assert type(err) is expected
    assert err.status_code == status


def test_openai_rate_limit_reads_retry_after_case_insensitively() -> None:
    err = mapped(status_error(openai.RateLimitError, 429, **{"Retry-After": "7"}))
    assert isinstance(err, RateLimitError)
    assert err.retry_after == 7.0


def test_litellm_response_headers_are_read() -> None:
    exc = status_error(openai.RateLimitError, 429)
    exc.litellm_response_headers = {"RETRY-AFTER-MS": "250"}  # type: ignore[attr-defined]
    err = mapped(exc)
    assert isinstance(err, RateLimitError)
    assert err.retry_after == 0.25


def test_code_in_body_decides_context_window() -> None:
    response = httpx.Response(400, request=REQUEST)
    body = {"message": "too long", "code": "context_length_exceeded"}
    exc = openai.BadRequestError("too long", response=response, body=body)
    assert type(mapped(exc)) is ContextWindowExceededError


def test_unknown_status_keeps_it() -> None:
    err = mapped(status_error(openai.APIStatusError, 418))
    assert type(err) is ProviderError
    assert err.status_code == 418
    assert type(mapped(status_error(openai.APIStatusError, 422))) is ProviderBadRequestError


def test_redacts_the_whole_chain_in_place() -> None:
    inner = status_error(openai.AuthenticationError, 401)
    try:
        try:
            raise inner
        except Exception as e:
            raise RuntimeError(f"wrapped: {SECRET}") from e
    except RuntimeError as outer:
        err = mapped(outer)
        assert SECRET not in err.message
        assert SECRET not in str(outer)
        assert SECRET not in str(inner)
        assert SECRET not in getattr(inner, "message", "")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 408, 409, 422, 429, 500, 502, 503, 504])
def test_a_status_maps_as_in_the_one_table(status: int) -> None:
    # The adapter and the test fake read the same status -> error table.
    err = mapped(status_error(openai.APIStatusError, status, **{"retry-after": "3"}))
    same = error_for_status(status, "x", retry_after=3.0)
    assert type(err) is type(same)
    assert (err.status_code, err.retryable) == (same.status_code, same.retryable)
    assert getattr(err, "retry_after", None) == getattr(same, "retry_after", None)
