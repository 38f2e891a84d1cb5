"""The retry loop is entered only when a try fails, and then counts that try as its first."""

from __future__ import annotations

from typing import Any

import pytest

from respan_router import Router
from respan_router.resilience import RetryPolicy
from respan_router.testing import Failure, FakeProvider, Reply

MSG = [{"role": "user", "content": "hi"}]
ROUTED: dict[str, Any] = {
    "load_balance_models": [{"model": "a", "weight": 1}, {"model": "b", "weight": 1}],
    "fallback_models": ["c"],
    "retry_params": {"num_retries": 2, "retry_after": 0.5},
}


@pytest.fixture
def entries(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the tenacity loops built (sync 'retrying', async 'async_retrying')."""
    built: list[str] = []
    for name in ("retrying", "async_retrying"):
        original = getattr(RetryPolicy, name)

        def spy(self: RetryPolicy, *a: Any, _o: Any = original, _n: str = name, **k: Any) -> Any:
            built.append(_n)
            return _o(self, *a, **k)

        monkeypatch.setattr(RetryPolicy, name, spy)
    return built


async def test_a_first_try_that_succeeds_builds_no_retry_loop(entries: list[str]) -> None:
    router = Router(provider=FakeProvider(Reply("ok")), seed=3)
    assert router.complete(messages=MSG, **ROUTED).choices[0].message.content == "ok"
    out = await router.acomplete(messages=MSG, **ROUTED)
    assert out.choices[0].message.content == "ok"
    assert entries == []


def test_a_failed_first_try_is_the_loops_first_attempt(entries: list[str]) -> None:
    fake = FakeProvider().script("a", Failure(500), Failure(503), Reply("third"))
    sleeps: list[float] = []
    router = Router(provider=fake, sleep=sleeps.append)
    out = router.complete(model="a", messages=MSG, retry_params={"num_retries": 2})
    assert out.choices[0].message.content == "third"
    assert entries == ["retrying"]
    assert len(fake.calls_for("a")) == 3  # the failed try is not sent again
    assert sleeps == [0.2, 0.2]  # a wait before each of the two retries, no more


async def test_async_retries_stop_after_num_retries(entries: list[str]) -> None:
    fake = FakeProvider().script("a", Failure(500), Failure(500), Failure(500), Reply("late"))
    fake.set_default("b", Reply("from b"))
    waits: list[float] = []

    async def asleep(seconds: float) -> None:
        waits.append(seconds)

    router = Router(provider=fake, async_sleep=asleep)
    out = await router.acomplete(
        model="a", fallback_models=["b"], messages=MSG, retry_params={"num_retries": 2}
    )
    assert out.choices[0].message.content == "from b"
    assert entries == ["async_retrying"]
    assert len(fake.calls_for("a")) == 3 and waits == [0.2, 0.2]


def test_a_non_retryable_failure_is_raised_unchanged_without_waiting(entries: list[str]) -> None:
    fake = FakeProvider().script("a", Failure(400), Reply("never"))
    sleeps: list[float] = []
    router = Router(provider=fake, sleep=sleeps.append)
    with pytest.raises(Exception) as info:
        router.complete(model="a", messages=MSG, retry_params={"num_retries": 2})
    assert getattr(info.value, "status_code", None) == 400
    assert len(fake.calls_for("a")) == 1 and sleeps == []
