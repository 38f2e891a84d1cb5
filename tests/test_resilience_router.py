"""Resilience through the Router on FakeProvider: the fault matrix, breakers, retry budget
and the total deadline. Waits are asserted through the injected sleep, never by timing."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from respan_router import (
    AllAttemptsFailedError,
    ContextWindowExceededError,
    InvalidRequestError,
    ProviderError,
    Router,
)
from respan_router.resilience._retry import zero_waits
from respan_router.testing import Failure, FakeProvider, Reply
from tests.helpers import MSG, Clock

RETRY = {"num_retries": 2, "retry_after": 0.5}

# outcome on the primary -> upstream requests it gets (1 + retries when retryable)
MATRIX = [
    ("400", Failure(400), 1),
    ("401", Failure(401), 1),
    ("403", Failure(403), 1),
    ("404", Failure(404), 1),
    ("context-window", ContextWindowExceededError("too long", status_code=400), 1),
    ("408", Failure(408), 3),
    ("409", Failure(409), 3),
    ("429+retry-after", Failure(429, retry_after=2.0), 3),
    ("429", Failure(429), 3),
    ("500", Failure(500), 3),
    ("502", Failure(502), 3),
    ("503", Failure(503), 3),
    ("timeout", Failure(timeout=True), 3),
    ("dropped", Failure(dropped=True), 3),
]


def _router(fake: FakeProvider, sleeps: list[float], **kw: object) -> Router:
    return Router(provider=fake, sleep=sleeps.append, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "outcome", "tries"), MATRIX, ids=[m[0] for m in MATRIX])
def test_fault_matrix_primary_fails_fallback_answers(name: str, outcome, tries: int) -> None:
    fake = FakeProvider().set_default("a", outcome).set_default("b", Reply("from b"))
    sleeps: list[float] = []
    out = _router(fake, sleeps).complete(
        model="a", fallback_models=["b"], messages=MSG, retry_params=RETRY
    )
    assert out.choices[0].message.content == "from b"
    assert out.model == "b"
    assert len(fake.calls_for("a")) == tries
    assert len(fake.calls_for("b")) == 1
    assert len(sleeps) == tries - 1
    if name == "429+retry-after":
        assert all(s >= 2.0 for s in sleeps)
    elif tries == 3:
        assert sleeps == [0.5, 0.5]  # retry_after: seconds between tries


@pytest.mark.parametrize(("name", "outcome", "tries"), MATRIX, ids=[m[0] for m in MATRIX])
async def test_fault_matrix_async_all_fail(name: str, outcome, tries: int) -> None:
    fake = FakeProvider(outcome)
    sleeps: list[float] = []

    async def asleep(seconds: float) -> None:
        sleeps.append(seconds)

    router = Router(provider=fake, async_sleep=asleep)
    with pytest.raises(AllAttemptsFailedError) as info:
        await router.acomplete(model="a", fallback_models=["b"], messages=MSG, retry_params=RETRY)
    err = info.value
    assert [a.model for a in err.attempts] == ["a", "b"]
    assert len(fake.calls_for("a")) == tries and len(fake.calls_for("b")) == tries
    assert len(sleeps) == 2 * (tries - 1)
    # Each failure says how often its candidate was tried and how long it waited between.
    assert [a.tries for a in err.attempts] == [tries, tries]
    assert [w for a in err.attempts for w in a.waits] == sleeps
    assert err.status_code == err.attempts[-1].error.status_code
    assert err.__cause__ is err.attempts[-1].error


def test_retries_keyword_without_retry_params() -> None:
    fake = FakeProvider().script("a", Failure(500), Failure(500), Reply("third"))
    sleeps: list[float] = []
    out = _router(fake, sleeps).complete(model="a", messages=MSG, retries=2)
    assert out.choices[0].message.content == "third"
    assert len(fake.calls) == 3 and len(sleeps) == 2


def test_retry_params_win_over_retries_and_disabled_means_one_try() -> None:
    fake = FakeProvider(Failure(500))
    sleeps: list[float] = []
    with pytest.raises(ProviderError):
        _router(fake, sleeps).complete(
            model="a", messages=MSG, retries=5, retry_params={"retry_enabled": False}
        )
    assert len(fake.calls) == 1


def test_no_retries_by_default() -> None:
    fake = FakeProvider(Failure(503))
    with pytest.raises(ProviderError):
        Router(provider=fake).complete(model="a", messages=MSG)
    assert len(fake.calls) == 1


def test_router_level_default_retry_policy() -> None:
    fake = FakeProvider(Failure(503))
    sleeps: list[float] = []
    with pytest.raises(ProviderError):
        _router(fake, sleeps, retry_params={"num_retries": 1}).complete(model="a", messages=MSG)
    assert len(fake.calls) == 2


def test_invalid_request_is_never_retried_nor_falls_back() -> None:
    fake = FakeProvider(InvalidRequestError("ours"))
    with pytest.raises(InvalidRequestError):
        _router(fake, []).complete(model="a", fallback_models=["b"], messages=MSG, retries=3)
    assert len(fake.calls) == 1


def test_total_deadline_cuts_a_long_retry_after_short() -> None:
    clock = Clock()
    fake = FakeProvider().set_default("a", Failure(429, retry_after=30)).set_default("b", "b!")
    sleeps: list[float] = []
    router = _router(fake, sleeps, clock=clock)
    out = router.complete(
        model="a", fallback_models=["b"], messages=MSG, retries=3, total_timeout=10
    )
    assert out.choices[0].message.content == "b!"
    assert len(fake.calls_for("a")) == 1  # no 30 s wait inside a 10 s deadline
    assert sleeps == []


def test_total_deadline_bounds_each_attempt_timeout() -> None:
    clock = Clock()
    fake = FakeProvider("ok")
    Router(provider=fake, clock=clock, timeout=60).complete(
        model="a", messages=MSG, total_timeout=5
    )
    assert fake.calls[0].timeout == pytest.approx(5)


def test_breaker_opens_skips_probes_and_closes() -> None:
    clock = Clock()
    fake = FakeProvider().set_default("a", Failure(503)).set_default("b", "from b")
    router = Router(
        provider=fake, clock=clock, circuit_breaker={"consecutive_failures": 3, "cooldown": 30}
    )

    def call() -> str:
        return router.complete(model="a", fallback_models=["b"], messages=MSG).model

    for _ in range(3):
        assert call() == "b"
    assert len(fake.calls_for("a")) == 3
    # Open: "a" moves behind "b", which answers; "a" is not called.
    for _ in range(5):
        assert call() == "b"
    assert len(fake.calls_for("a")) == 3
    # After the cooldown one probe goes to "a"; it fails, the breaker reopens.
    clock.now += 31
    assert call() == "b"
    assert len(fake.calls_for("a")) == 4
    assert call() == "b"
    assert len(fake.calls_for("a")) == 4
    # Next probe succeeds: closed again, "a" first.
    clock.now += 31
    fake.set_default("a", "from a")
    assert call() == "a"
    assert call() == "a"
    assert len(fake.calls_for("a")) == 6


def test_all_breakers_open_still_tries_them_in_order() -> None:
    clock = Clock()
    fake = FakeProvider(Failure(503))
    router = Router(provider=fake, clock=clock, circuit_breaker={"consecutive_failures": 1})
    with pytest.raises(AllAttemptsFailedError):
        router.complete(model="a", fallback_models=["b"], messages=MSG)
    fake.reset()
    fake.set_default("a", "recovered")
    out = router.complete(model="a", fallback_models=["b"], messages=MSG, retries=3)
    assert out.choices[0].message.content == "recovered"
    assert len(fake.calls) == 1  # a last resort gets a single try


def test_retry_budget_caps_retries_during_an_outage() -> None:
    clock = Clock()
    fake = FakeProvider(Failure(503))
    router = Router(
        provider=fake,
        clock=clock,
        sleep=lambda s: None,
        circuit_breaker=False,
        retry_budget={"ratio": 0.2, "window": 10, "min_retries_per_second": 1},
    )
    calls = 500
    for _ in range(calls):
        with pytest.raises(ProviderError):
            router.complete(model="a", messages=MSG, retries=3)
    retries = len(fake.calls) - calls
    assert retries <= 0.2 * calls + 10
    assert len(fake.calls) < calls * 4 / 2  # far below the unbudgeted 4x
    # After the window, retries are granted again.
    clock.now += 11
    fake.reset()
    with pytest.raises(ProviderError):
        router.complete(model="a", messages=MSG, retries=3)
    assert len(fake.calls) == 4


def test_zero_waits_switch_makes_waits_zero_and_is_undone() -> None:
    fake = FakeProvider(Failure(500))
    sleeps: list[float] = []
    router = _router(fake, sleeps)
    with zero_waits(), pytest.raises(ProviderError):
        router.complete(model="a", messages=MSG, retries=2)
    assert sleeps == [0, 0]
    sleeps.clear()
    with pytest.raises(ProviderError):
        router.complete(model="a", messages=MSG, retries=1)
    assert sleeps and sleeps[0] > 0


def test_every_attempt_and_wait_is_recorded_on_the_error() -> None:
    fake = FakeProvider().set_default("a", Failure(500)).set_default("b", Failure(401))
    with pytest.raises(AllAttemptsFailedError) as info:
        _router(fake, []).complete(model="a", fallback_models=["b"], messages=MSG, retries=1)
    attempts = info.value.attempts
    assert [(a.model, type(a.error).__name__) for a in attempts] == [
        ("a", "ProviderError"),
        ("b", "AuthenticationError"),
    ]
    assert info.value.status_code == 401


async def _cancel_once_called(fake: FakeProvider, coro: Coroutine[Any, Any, Any]) -> None:
    """Run ``coro`` as a task and cancel it once the provider has been called."""
    task = asyncio.create_task(coro)
    while not fake.calls:
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancelling_acomplete_while_a_is_in_flight_does_not_fall_back() -> None:
    fake = FakeProvider().set_default("a", Reply("slow a", latency=5.0)).set_default("b", "b")
    router = Router(provider=fake)
    await _cancel_once_called(
        fake,
        router.acomplete(model="a", fallback_models=["b"], messages=MSG, retry_params=RETRY),
    )
    assert [c.model for c in fake.calls] == ["a"]


async def test_cancelling_a_stream_before_its_first_chunk_does_not_fall_back() -> None:
    fake = FakeProvider().set_default("a", Reply("slow a", latency=5.0)).set_default("b", "b")
    router = Router(provider=fake)
    await _cancel_once_called(
        fake,
        router.acomplete(
            model="a", fallback_models=["b"], messages=MSG, retry_params=RETRY, stream=True
        ),
    )
    assert [c.model for c in fake.calls] == ["a"]
    assert fake.open_streams == 0


def test_retry_after_is_the_wait_between_every_try() -> None:
    # Respan: retry_after is "seconds to wait" between tries, not a first backoff step.
    fake = FakeProvider(Failure(500))
    sleeps: list[float] = []
    with pytest.raises(ProviderError):
        _router(fake, sleeps).complete(
            model="a", messages=MSG, retry_params={"num_retries": 3, "retry_after": 1.0}
        )
    assert len(fake.calls) == 4
    assert sleeps == [1.0, 1.0, 1.0]


def test_a_longer_upstream_retry_after_wins() -> None:
    fake = FakeProvider().script("a", Failure(429, retry_after=2.5), Failure(500), Reply("ok"))
    sleeps: list[float] = []
    out = _router(fake, sleeps).complete(
        model="a", messages=MSG, retry_params={"num_retries": 3, "retry_after": 1.0}
    )
    assert out.choices[0].message.content == "ok"
    assert sleeps == [2.5, 1.0]


def test_exponential_backoff_is_an_explicit_router_setting() -> None:
    from respan_router.config import build_config

    assert build_config({}).retry_backoff == "constant"
    assert build_config({"retry_backoff": "exponential"}).retry_backoff == "exponential"
    with pytest.raises(InvalidRequestError) as info:
        build_config({"retry_backoff": "fibonacci"})
    assert info.value.field == "retry_backoff"


def test_router_retry_backoff_exponential_doubles_the_waits() -> None:
    fake = FakeProvider(Failure(500))
    sleeps: list[float] = []
    router = _router(fake, sleeps, retry_backoff="exponential")
    with pytest.raises(ProviderError):
        router.complete(
            model="a", messages=MSG, retry_params={"num_retries": 3, "retry_after": 1.0}
        )
    assert len(sleeps) == 3
    for wait, base in zip(sleeps, [1.0, 2.0, 4.0], strict=True):
        assert base <= wait <= base + 0.1  # up to 0.1 s jitter
