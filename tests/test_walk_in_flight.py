"""The walk as a cursor and the first try made in the walk's own loop: the order of the
candidates (breakers, last resorts, deadline), what a call in flight keeps alive, and the
outcome of a first try that fails with something other than a provider error."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from respan_router import Router
from respan_router.execution import CallRecord
from respan_router.execution._walk import Walk
from respan_router.request import build_request
from respan_router.resilience import PASS, PROBE, REFUSED, RetryPolicy
from respan_router.routing import Attempt, LatencyTracker
from respan_router.testing import Failure, FakeProvider, Reply
from tests.helpers import MSG


class Health:
    """Breakers by key: what ``admit`` answers, and what was released."""

    def __init__(self, answers: dict[str, int]) -> None:
        self.answers = answers
        self.released: list[str] = []

    def admit(self, key: str, owner: object) -> int:
        return self.answers.get(key, PASS)

    def release(self, key: str, owner: object) -> bool:
        self.released.append(key)
        return True


class Settings:
    def __init__(self, health: Health | None, now: float = 0.0) -> None:
        self.health, self.budget, self.latency = health, None, LatencyTracker()
        self.default_timeout = None
        self.now = now

    def clock(self) -> float:
        return self.now


def _plan(*models: str) -> list[Attempt]:
    return [Attempt(m, "openai", f"openai/{m}", "provider", "test") for m in models]


def _walk(settings: Settings, deadline: float | None = None) -> tuple[Walk, CallRecord]:
    record = CallRecord()
    request = build_request({"model": "a", "messages": MSG})
    return Walk(settings, request, record, RetryPolicy(), deadline), record  # type: ignore[arg-type]


def _order(walk: Walk, attempts: list[Attempt]) -> list[tuple[str, bool]]:
    out = []
    while (candidate := walk.next_candidate(attempts)) is not None:
        out.append((candidate.attempt.model, candidate.last_resort))
    return out


def test_candidates_come_in_plan_order_and_refused_ones_last() -> None:
    plan = _plan("a", "b", "c", "d")
    health = Health({plan[0].health_key: REFUSED, plan[2].health_key: REFUSED})
    walk, record = _walk(Settings(health))
    assert _order(walk, plan) == [("b", False), ("d", False), ("a", True), ("c", True)]
    assert [a.model for a in record.attempts] == ["b", "d", "a", "c"]
    assert walk.next_candidate(plan) is None  # over: stays over


def test_without_breakers_every_candidate_passes_in_order() -> None:
    walk, _ = _walk(Settings(None))
    assert _order(walk, _plan("a", "b")) == [("a", False), ("b", False)]


def test_a_probe_is_claimed_and_a_refused_claim_goes_to_the_last_resorts() -> None:
    plan = _plan("a", "b")
    walk, record = _walk(Settings(Health({plan[0].health_key: PROBE})))
    first = walk.next_candidate(plan)
    assert first is not None and first.attempt.model == "a" and first.claim
    walk.claim_refused(first)
    assert record.attempts == []
    assert _order(walk, plan) == [("b", False), ("a", True)]


def test_a_passed_deadline_ends_the_walk_and_releases_the_admitted_breaker() -> None:
    plan = _plan("a", "b")
    settings = Settings(Health({plan[1].health_key: REFUSED}))
    walk, _ = _walk(settings, deadline=10.0)
    settings.now = 10.0
    assert walk.next_candidate(plan) is None
    assert settings.health is not None and settings.health.released == [plan[0].health_key]
    assert walk.next_candidate(plan) is None  # the last resorts are not tried either


def test_the_deadline_also_stops_the_last_resorts() -> None:
    plan = _plan("a", "b")
    settings = Settings(Health({plan[1].health_key: REFUSED}))
    walk, _ = _walk(settings, deadline=10.0)
    first = walk.next_candidate(plan)
    assert first is not None and first.attempt.model == "a"
    settings.now = 11.0
    assert walk.next_candidate(plan) is None


def test_a_walk_with_no_failure_gives_up_as_a_timeout() -> None:
    walk, _ = _walk(Settings(None))
    assert walk.failures is None
    assert "total_timeout" in str(walk.give_up())


async def test_a_call_in_flight_keeps_no_empty_lists_nor_a_try_coroutine() -> None:
    """A call waiting on its provider holds only what it needs (each object alive across
    young collections is promoted to the oldest generation: with 1,000 calls in flight,
    that decides how often a full collection walks the whole heap)."""
    model = "in-flight-walk"
    fake = FakeProvider().set_default(model, Reply("a", latency=5.0))
    router = Router(provider=fake)
    task = asyncio.ensure_future(router.acomplete(model=model, messages=MSG))
    while not fake.calls:
        await asyncio.sleep(0)
    try:
        walks = [o for o in gc.get_objects() if type(o) is Walk and o.request.model == model]
        assert len(walks) == 1
        assert walks[0].failures is None and walks[0]._later is None
        records = walks[0].record.attempts
        assert len(records) == 1 and records[0].waits == ()
        chain = _awaited(task.get_coro())
        assert [c.cr_code.co_name for c in chain[:2]] == ["acomplete", "arun_plan"]
        assert "_atry" not in [c.cr_code.co_name for c in chain]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def _awaited(coro: Any) -> list[Any]:
    """The chain of coroutines ``coro`` is awaiting, outermost first."""
    chain = []
    while coro is not None and hasattr(coro, "cr_code"):
        chain.append(coro)
        coro = coro.cr_await
    return chain


class Boom(Exception):
    pass


class Raising(FakeProvider):
    """Raises a non-provider error on its first call."""

    async def acomplete(self, call: Any) -> Any:
        if not self.calls:
            self.calls.append(call)  # type: ignore[arg-type]
            raise Boom("not a provider error")
        return await super().acomplete(call)

    def complete(self, call: Any) -> Any:
        if not self.calls:
            self.calls.append(call)  # type: ignore[arg-type]
            raise Boom("not a provider error")
        return super().complete(call)


async def test_a_first_try_raising_a_non_provider_error_neither_retries_nor_falls_back() -> None:
    fake = Raising().set_default("a", "a").set_default("b", "b")
    router = Router(provider=fake)
    with pytest.raises(Boom):
        await router.acomplete(
            model="a", fallback_models=["b"], messages=MSG, retry_params={"num_retries": 2}
        )
    assert [c.model for c in fake.calls] == ["a"]


def test_a_first_try_raising_a_non_provider_error_sync() -> None:
    fake = Raising().set_default("a", "a").set_default("b", "b")
    router = Router(provider=fake)
    with pytest.raises(Boom):
        router.complete(model="a", fallback_models=["b"], messages=MSG, retries=2)
    assert [c.model for c in fake.calls] == ["a"]


async def test_a_failed_first_try_is_retried_then_succeeds_async() -> None:
    fake = FakeProvider().script("a", Failure(503), "second")
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    router = Router(provider=fake, async_sleep=sleep)
    out = await router.acomplete(
        model="a", messages=MSG, retry_params={"num_retries": 2, "retry_after": 0.5}
    )
    assert out.choices[0].message.content == "second"
    assert len(fake.calls) == 2 and sleeps == [0.5]
