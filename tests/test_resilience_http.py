"""The fault matrix over real HTTP: deployments ``openai/a`` then ``openai/b`` on the local
upstream, through litellm. Per model: how many requests the upstream saw, the waits
requested (through the injected sleep, never by timing), and the final answer or error."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from respan_router import (
    AllAttemptsFailedError,
    AuthenticationError,
    ContextWindowExceededError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    Router,
)
from tests.helpers import MSG
from tests.upstream import Drop, Error, FakeUpstream, Reply

RETRY = {"num_retries": 2, "retry_after": 0.5}
TIMEOUT = 0.25  # per try; the "timeout" case answers later than this
BACKOFF = "backoff"

# upstream outcome on a -> requests a gets, the waits requested, the error it ends with
MATRIX: list[tuple[str, Any, int, Any, type[ProviderError]]] = [
    ("400", Error(400), 1, [], ProviderBadRequestError),
    (
        "context-window",
        Error(400, "maximum context length exceeded", code="context_length_exceeded"),
        1,
        [],
        ContextWindowExceededError,
    ),
    ("401", Error(401), 1, [], AuthenticationError),
    ("403", Error(403), 1, [], PermissionDeniedError),
    ("404", Error(404), 1, [], NotFoundError),
    ("408", Error(408), 3, BACKOFF, ProviderTimeoutError),
    ("409", Error(409), 3, BACKOFF, ProviderError),
    ("429+retry-after", Error(429, headers={"retry-after": "2"}), 3, [2.0, 2.0], RateLimitError),
    (
        "429+retry-after-ms",
        Error(429, headers={"retry-after-ms": "1500"}),
        3,
        [1.5, 1.5],
        RateLimitError,
    ),
    ("429+retry-after-too-long", Error(429, headers={"retry-after": "120"}), 1, [], RateLimitError),
    ("429", Error(429), 3, BACKOFF, RateLimitError),
    ("500", Error(500), 3, BACKOFF, ProviderError),
    ("502", Error(502), 3, BACKOFF, ProviderError),
    ("503", Error(503), 3, BACKOFF, ProviderError),
    ("504", Error(504), 3, BACKOFF, ProviderTimeoutError),
    ("timeout", Reply("too late", delay=5.0), 3, BACKOFF, ProviderTimeoutError),
    ("dropped", Drop(), 3, BACKOFF, ProviderConnectionError),
]
IDS = [m[0] for m in MATRIX]


def _deployment(upstream: FakeUpstream, name: str) -> dict[str, str]:
    return {"model": f"openai/{name}", "api_base": upstream.base_url, "api_key": f"sk-{name}"}


def _router(upstream: FakeUpstream, **kw: Any) -> Router:
    return Router(
        deployments={"a": _deployment(upstream, "a"), "b": _deployment(upstream, "b")},
        timeout=TIMEOUT,
        **kw,
    )


def _counts(upstream: FakeUpstream) -> dict[str, int]:
    counts: dict[str, int] = {}
    for request in upstream.requests:
        counts[request.body["model"]] = counts.get(request.body["model"], 0) + 1
    return counts


def _assert_waits(sleeps: list[float], expected: Any) -> None:
    if expected == BACKOFF:
        assert sleeps == [0.5, 0.5]  # retry_after: the same wait between tries
    else:
        assert sleeps == pytest.approx(expected)


@pytest.mark.parametrize(("name", "outcome", "tries", "waits", "cls"), MATRIX, ids=IDS)
def test_a_fails_and_b_answers(
    upstream: FakeUpstream, name: str, outcome: Any, tries: int, waits: Any, cls: type
) -> None:
    upstream.set_default(outcome, model="a")
    upstream.set_default(Reply("answer from b"), model="b")
    sleeps: list[float] = []
    out = _router(upstream, sleep=sleeps.append).complete(
        model="a", fallback_models=["b"], messages=MSG, retry_params=RETRY
    )
    assert out.choices[0].message.content == "answer from b"
    assert out.model == "b"
    assert _counts(upstream) == {"a": tries, "b": 1}
    _assert_waits(sleeps, waits)
    assert [r.headers["authorization"] for r in upstream.requests] == ["Bearer sk-a"] * tries + [
        "Bearer sk-b"
    ]


@pytest.mark.parametrize(("name", "outcome", "tries", "waits", "cls"), MATRIX, ids=IDS)
async def test_a_and_b_fail_async(
    upstream: FakeUpstream, name: str, outcome: Any, tries: int, waits: Any, cls: type
) -> None:
    upstream.set_default(outcome)
    sleeps: list[float] = []

    async def asleep(seconds: float) -> None:
        sleeps.append(seconds)

    with pytest.raises(AllAttemptsFailedError) as info:
        await _router(upstream, async_sleep=asleep).acomplete(
            model="a", fallback_models=["b"], messages=MSG, retry_params=RETRY
        )
    err = info.value
    assert _counts(upstream) == {"a": tries, "b": tries}
    assert [a.model for a in err.attempts] == ["a", "b"]
    assert all(type(a.error) is cls for a in err.attempts)
    assert err.__cause__ is err.attempts[-1].error
    assert err.status_code == err.attempts[-1].error.status_code
    half = len(sleeps) // 2
    _assert_waits(sleeps[:half], waits)
    _assert_waits(sleeps[half:], waits)


def test_recovery_on_a_needs_no_fallback(upstream: FakeUpstream) -> None:
    upstream.enqueue(Error(503), Error(429, headers={"retry-after": "2"}), model="a")
    upstream.set_default(Reply("third try on a"), model="a")
    sleeps: list[float] = []
    out = _router(upstream, sleep=sleeps.append).complete(
        model="a", fallback_models=["b"], messages=MSG, retry_params=RETRY
    )
    assert out.choices[0].message.content == "third try on a"
    assert _counts(upstream) == {"a": 3}
    assert 0.5 <= sleeps[0] <= 0.6 and sleeps[1] == pytest.approx(2.0)


def test_disable_fallback_keeps_to_a(upstream: FakeUpstream) -> None:
    upstream.set_default(Error(503))
    with pytest.raises(ProviderError) as info:
        _router(upstream, sleep=lambda s: None).complete(
            model="a",
            fallback_models=["b"],
            messages=MSG,
            retry_params=RETRY,
            disable_fallback=True,
        )
    assert not isinstance(info.value, AllAttemptsFailedError)
    assert info.value.status_code == 503
    assert _counts(upstream) == {"a": 3}


def test_invalid_request_calls_nothing_and_does_not_fall_back(upstream: FakeUpstream) -> None:
    with pytest.raises(InvalidRequestError):
        _router(upstream).complete(
            model="a", fallback_models=["b"], messages=MSG, temperature="very hot"
        )
    assert upstream.requests == []


def test_total_timeout_cuts_a_long_retry_after_short(upstream: FakeUpstream) -> None:
    upstream.set_default(Error(429, headers={"retry-after": "30"}), model="a")
    upstream.set_default(Reply("b in time"), model="b")
    sleeps: list[float] = []
    out = _router(upstream, sleep=sleeps.append).complete(
        model="a", fallback_models=["b"], messages=MSG, retries=3, total_timeout=10
    )
    assert out.choices[0].message.content == "b in time"
    assert _counts(upstream) == {"a": 1, "b": 1}
    assert sleeps == []


# -- cancellation: never a fallback -------------------------------------------------------
async def test_cancelling_acomplete_while_a_is_in_flight_does_not_fall_back(
    upstream: FakeUpstream,
) -> None:
    upstream.set_default(Reply("a, eventually", delay=5.0), model="a")
    upstream.set_default(Reply("answer from b"), model="b")
    router = Router(
        deployments={"a": _deployment(upstream, "a"), "b": _deployment(upstream, "b")},
        timeout=30,
    )
    task = asyncio.create_task(
        router.acomplete(model="a", fallback_models=["b"], messages=MSG, retries=2)
    )
    assert await upstream.async_wait_for(lambda: len(upstream.requests) == 1, timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # A fallback would have been requested (and answered) inside the task, before it ended.
    assert _counts(upstream) == {"a": 1}
