"""Retry policy: which errors are retried, how long it waits, when it stops."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from tenacity import AsyncRetrying, RetryCallState, Retrying

from respan_router.errors import (
    AuthenticationError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    StreamInterruptedError,
)
from respan_router.request._params import RetryParams
from respan_router.resilience._retry import (
    RetryAfterWait,
    RetryPolicy,
    retry_after_of,
    waits_zeroed,
    zero_waits,
)

MODES = ["sync", "async"]


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Flaky:
    """Raises the given errors in turn, then returns "ok" (an error repeats if ``forever``)."""

    def __init__(self, *outcomes: BaseException, forever: bool = False) -> None:
        self.outcomes = list(outcomes)
        self.forever = forever
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.outcomes:
            error = self.outcomes[0] if self.forever else self.outcomes.pop(0)
            raise error
        return "ok"


class FakeBudget:
    def __init__(self, grants: int) -> None:
        self.grants = grants
        self.asked = 0
        self.requests = 0

    def record_request(self) -> None:
        self.requests += 1

    def try_acquire_retry(self) -> bool:
        self.asked += 1
        if self.grants > 0:
            self.grants -= 1
            return True
        return False


async def run(
    mode: str,
    policy: RetryPolicy,
    fn: Callable[[], Any],
    *,
    clock: FakeClock | None = None,
    **kwargs: Any,
) -> tuple[Any, list[float]]:
    """Run ``fn`` under the policy, sync or async; sleeping advances ``clock``.

    Returns (result or raised error, requested sleeps).
    """
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if clock is not None:
            clock.advance(seconds)

    if clock is not None:
        kwargs["clock"] = clock
    try:
        if mode == "sync":
            return policy.retrying(sleep=sleep, **kwargs)(fn), sleeps

        async def async_sleep(seconds: float) -> None:
            sleep(seconds)

        async def async_fn() -> Any:
            await asyncio.sleep(0)
            return fn()

        return await policy.async_retrying(sleep=async_sleep, **kwargs)(async_fn), sleeps
    except BaseException as error:  # the tests look at what was raised
        return error, sleeps


# --- which errors are retried --------------------------------------------------------------

ERRORS: list[tuple[str, Callable[[], BaseException], bool]] = [
    ("400", lambda: ProviderBadRequestError("bad"), False),
    ("401", lambda: AuthenticationError("key"), False),
    ("403", lambda: PermissionDeniedError("denied"), False),
    ("404", lambda: NotFoundError("no model"), False),
    ("408", lambda: ProviderTimeoutError("slow"), True),
    ("409", lambda: ProviderError("conflict", status_code=409), True),
    ("429", lambda: RateLimitError("slow down"), True),
    ("429+retry_after", lambda: RateLimitError("slow down", retry_after=1.5), True),
    ("500", lambda: ProviderError("boom", status_code=500), True),
    ("502", lambda: ProviderError("bad gateway", status_code=502), True),
    ("503", lambda: ProviderError("unavailable", status_code=503), True),
    ("504 timeout", lambda: ProviderTimeoutError("gateway timeout", status_code=504), True),
    ("timeout", lambda: ProviderTimeoutError("read timeout"), True),
    ("connection", lambda: ProviderConnectionError("reset"), True),
    ("context window", lambda: ContextWindowExceededError("too long"), False),
    ("content policy", lambda: ContentPolicyViolationError("filtered"), False),
    ("stream interrupted", lambda: StreamInterruptedError("cut"), False),
    ("invalid request", lambda: InvalidRequestError("bad input"), False),
    ("value error", lambda: ValueError("a bug"), False),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("make_error", "retryable"),
    [pytest.param(make, retryable, id=name) for name, make, retryable in ERRORS],
)
async def test_attempt_count_per_error_class(
    mode: str, make_error: Callable[[], BaseException], retryable: bool
) -> None:
    error = make_error()
    fn = Flaky(error, forever=True)
    raised, sleeps = await run(mode, RetryPolicy(num_retries=3), fn)
    assert raised is error  # re-raised unchanged, never wrapped in tenacity's RetryError
    assert fn.calls == (4 if retryable else 1)
    assert len(sleeps) == (3 if retryable else 0)


@pytest.mark.parametrize("mode", MODES)
async def test_success_after_retryable_failures(mode: str) -> None:
    fn = Flaky(ProviderError("boom", status_code=500), ProviderConnectionError("reset"))
    result, sleeps = await run(mode, RetryPolicy(num_retries=3), fn)
    assert result == "ok"
    assert fn.calls == 3
    assert sleeps == [0.2, 0.2]  # retry_after: the same wait between tries


@pytest.mark.parametrize("mode", MODES)
async def test_non_retryable_after_retryable_stops(mode: str) -> None:
    bad = ProviderBadRequestError("bad")
    fn = Flaky(ProviderError("boom", status_code=503), bad)
    raised, sleeps = await run(mode, RetryPolicy(num_retries=5), fn)
    assert raised is bad
    assert fn.calls == 2
    assert sleeps == [0.2]


@pytest.mark.parametrize("mode", MODES)
async def test_no_retries_and_disabled(mode: str) -> None:
    for policy in (RetryPolicy(num_retries=0), RetryPolicy(enabled=False, num_retries=3)):
        fn = Flaky(ProviderError("boom", status_code=500), forever=True)
        raised, sleeps = await run(mode, policy, fn)
        assert isinstance(raised, ProviderError)
        assert fn.calls == 1
        assert sleeps == []


async def test_cancellation_is_never_retried() -> None:
    calls = 0

    async def cancelled() -> None:
        nonlocal calls
        calls += 1
        raise asyncio.CancelledError

    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    with pytest.raises(asyncio.CancelledError):
        await RetryPolicy(num_retries=3).async_retrying(sleep=sleep)(cancelled)
    assert calls == 1
    assert slept == []


def test_keyboard_interrupt_is_never_retried() -> None:
    fn = Flaky(KeyboardInterrupt(), forever=True)
    with pytest.raises(KeyboardInterrupt):
        RetryPolicy(num_retries=3).retrying(sleep=lambda s: None)(fn)
    assert fn.calls == 1


# --- waits ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_exponential_backoff_is_capped(mode: str) -> None:
    fn = Flaky(ProviderError("boom", status_code=500), forever=True)
    policy = RetryPolicy(num_retries=6, wait=1.0, backoff="exponential", max_wait=8.0, jitter=0)
    _, sleeps = await run(mode, policy, fn)
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


@pytest.mark.parametrize("mode", MODES)
async def test_jitter_stays_in_its_range(mode: str) -> None:
    fn = Flaky(ProviderError("boom", status_code=500), forever=True)
    policy = RetryPolicy(num_retries=4, wait=0.2, backoff="exponential", max_wait=1.0, jitter=0.1)
    _, sleeps = await run(mode, policy, fn)
    for wait, base in zip(sleeps, [0.2, 0.4, 0.8, 1.0], strict=True):
        assert base <= wait <= min(base + 0.1, 1.0)


@pytest.mark.parametrize("mode", MODES)
async def test_retry_after_is_a_minimum(mode: str) -> None:
    fn = Flaky(
        RateLimitError("slow", retry_after=2.5),
        RateLimitError("slow", retry_after=0.01),  # shorter than retry_after: that wins
        RateLimitError("slow"),  # no Retry-After: retry_after
    )
    result, sleeps = await run(mode, RetryPolicy(num_retries=3), fn)
    assert result == "ok"
    assert sleeps == [2.5, 0.2, 0.2]


@pytest.mark.parametrize("mode", MODES)
async def test_retry_after_on_any_provider_error_is_honoured(mode: str) -> None:
    error = ProviderError("unavailable", status_code=503)
    error.retry_after = 3.0  # type: ignore[attr-defined]
    fn = Flaky(error)
    result, sleeps = await run(mode, RetryPolicy(num_retries=1), fn)
    assert result == "ok"
    assert sleeps == [3.0]


@pytest.mark.parametrize("mode", MODES)
async def test_retry_after_is_not_capped_by_max_wait(mode: str) -> None:
    fn = Flaky(RateLimitError("slow", retry_after=20.0))
    result, sleeps = await run(mode, RetryPolicy(num_retries=1, max_wait=8.0), fn)
    assert result == "ok"
    assert sleeps == [20.0]


@pytest.mark.parametrize("mode", MODES)
async def test_retry_after_beyond_max_retry_after_gives_up_at_once(mode: str) -> None:
    error = RateLimitError("slow", retry_after=61.0)
    fn = Flaky(error, forever=True)
    raised, sleeps = await run(mode, RetryPolicy(num_retries=3), fn)
    assert raised is error
    assert fn.calls == 1
    assert sleeps == []
    # None: any Retry-After is waited for.
    fn = Flaky(error)
    result, sleeps = await run(mode, RetryPolicy(num_retries=3, max_retry_after=None), fn)
    assert result == "ok"
    assert sleeps == [61.0]


def test_retry_after_of() -> None:
    assert retry_after_of(RateLimitError("x", retry_after=2)) == 2.0
    assert retry_after_of(RateLimitError("x")) is None
    assert retry_after_of(RateLimitError("x", retry_after=-1)) is None
    assert retry_after_of(ValueError("x")) is None
    assert retry_after_of(None) is None


def test_wait_strategy_is_the_policys() -> None:
    wait = RetryPolicy(wait=0.5, max_wait=4, jitter=0).wait_strategy()
    assert isinstance(wait, RetryAfterWait)
    assert (wait.wait, wait.backoff, wait.max, wait.jitter) == (0.5, "constant", 4, 0)


# --- deadline ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_deadline_stops_retries_before_a_wait_would_pass_it(mode: str) -> None:
    clock = FakeClock()
    error = ProviderError("boom", status_code=500)
    fn = Flaky(error, forever=True)
    policy = RetryPolicy(num_retries=10, wait=1.0, backoff="exponential", max_wait=100.0, jitter=0)
    raised, sleeps = await run(mode, policy, fn, clock=clock, deadline=clock() + 3.5)
    # fail at 0, wait 1 -> fail at 1, wait 2 -> fail at 3, a wait of 4 would pass 3.5
    assert raised is error
    assert sleeps == [1.0, 2.0]
    assert fn.calls == 3


@pytest.mark.parametrize("mode", MODES)
async def test_deadline_counts_the_time_spent_in_calls(mode: str) -> None:
    clock = FakeClock()
    error = ProviderTimeoutError("slow")

    def slow() -> None:
        clock.advance(2.0)  # each attempt takes 2 s
        raise error

    policy = RetryPolicy(num_retries=10, wait=1.0)
    raised, sleeps = await run(mode, policy, slow, clock=clock, deadline=clock() + 5.0)
    # fail at 2, wait 1 -> fail at 5: no time left for another wait
    assert raised is error
    assert sleeps == [1.0]


@pytest.mark.parametrize("mode", MODES)
async def test_retry_after_beyond_deadline_gives_up_without_sleeping(mode: str) -> None:
    clock = FakeClock()
    error = RateLimitError("slow", retry_after=10.0)
    fn = Flaky(error, forever=True)
    raised, sleeps = await run(
        mode, RetryPolicy(num_retries=3), fn, clock=clock, deadline=clock() + 5.0
    )
    assert raised is error
    assert fn.calls == 1
    assert sleeps == []
    assert clock() == 1000.0


@pytest.mark.parametrize("mode", MODES)
async def test_retry_after_within_deadline_is_waited(mode: str) -> None:
    clock = FakeClock()
    fn = Flaky(RateLimitError("slow", retry_after=4.0))
    result, sleeps = await run(
        mode, RetryPolicy(num_retries=3), fn, clock=clock, deadline=clock() + 5.0
    )
    assert result == "ok"
    assert sleeps == [4.0]


@pytest.mark.parametrize("mode", MODES)
async def test_past_deadline_still_makes_the_first_attempt(mode: str) -> None:
    clock = FakeClock()
    fn = Flaky(ProviderError("boom", status_code=500), forever=True)
    _, sleeps = await run(mode, RetryPolicy(num_retries=3), fn, clock=clock, deadline=0.0)
    assert fn.calls == 1
    assert sleeps == []


# --- zero_waits ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_zero_waits_zeroes_and_restores(mode: str) -> None:
    policy = RetryPolicy(num_retries=2)
    assert not waits_zeroed()
    with zero_waits():
        assert waits_zeroed()
        fn = Flaky(RateLimitError("slow", retry_after=5.0), ProviderError("x", status_code=500))
        result, sleeps = await run(mode, policy, fn)
        assert result == "ok"
        assert sleeps == [0.0, 0.0]
    assert not waits_zeroed()
    _, sleeps = await run(mode, policy, Flaky(ProviderError("x", status_code=500)))
    assert sleeps == [0.2]


def test_zero_waits_nests_and_restores_after_an_error() -> None:
    with zero_waits():
        with zero_waits():
            assert waits_zeroed()
        assert waits_zeroed()  # the outer one is still active
        with pytest.raises(RuntimeError), zero_waits():
            raise RuntimeError
        assert waits_zeroed()
    assert not waits_zeroed()


def test_zero_waits_applies_to_other_threads() -> None:
    seen: list[list[float]] = []

    def worker() -> None:
        sleeps: list[float] = []
        fn = Flaky(ProviderError("x", status_code=500))
        RetryPolicy(num_retries=1).retrying(sleep=sleeps.append)(fn)
        seen.append(sleeps)

    with zero_waits():
        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert seen == [[0.0]] * 4


async def test_zero_waits_with_default_sleeps_does_not_block() -> None:
    policy = RetryPolicy(num_retries=2, wait=30.0)
    with zero_waits():
        fn = Flaky(ProviderError("x", status_code=500), ProviderError("x", status_code=500))
        assert policy.retrying()(fn) == "ok"

        async def afn() -> str:
            return fn()

        fn = Flaky(ProviderError("x", status_code=500), ProviderError("x", status_code=500))
        assert await asyncio.wait_for(policy.async_retrying()(afn), timeout=5) == "ok"


@pytest.mark.parametrize("mode", MODES)
async def test_zero_waits_keeps_the_give_up_decisions(mode: str) -> None:
    clock = FakeClock()
    error = RateLimitError("slow", retry_after=10.0)
    with zero_waits():
        fn = Flaky(error, forever=True)
        raised, _ = await run(
            mode, RetryPolicy(num_retries=3), fn, clock=clock, deadline=clock() + 5.0
        )
        assert raised is error
        assert fn.calls == 1
        fn = Flaky(RateLimitError("slow", retry_after=600.0), forever=True)
        await run(mode, RetryPolicy(num_retries=3), fn)
        assert fn.calls == 1


# --- retry budget hook ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_budget_denial_stops_retrying(mode: str) -> None:
    budget = FakeBudget(grants=1)
    error = ProviderError("boom", status_code=500)
    fn = Flaky(error, forever=True)
    raised, sleeps = await run(mode, RetryPolicy(num_retries=3), fn, budget=budget)
    assert raised is error
    assert fn.calls == 2  # the first attempt and the one granted retry
    assert len(sleeps) == 1
    assert budget.asked == 2
    assert budget.requests == 0  # requests are counted by the executor, not the policy


@pytest.mark.parametrize("mode", MODES)
async def test_budget_is_only_asked_for_retries_that_would_happen(mode: str) -> None:
    budget = FakeBudget(grants=100)
    fn = Flaky(ProviderError("boom", status_code=500), forever=True)
    await run(mode, RetryPolicy(num_retries=2), fn, budget=budget)
    assert (fn.calls, budget.asked, budget.requests) == (3, 2, 0)

    fn = Flaky(ProviderBadRequestError("bad"), forever=True)
    await run(mode, RetryPolicy(num_retries=2), fn, budget=budget)
    assert (fn.calls, budget.asked, budget.requests) == (1, 2, 0)

    clock = FakeClock()
    fn = Flaky(RateLimitError("slow", retry_after=30.0), forever=True)
    await run(
        mode, RetryPolicy(num_retries=2), fn, budget=budget, clock=clock, deadline=clock() + 1
    )
    assert (fn.calls, budget.asked, budget.requests) == (1, 2, 0)

    assert (await run(mode, RetryPolicy(num_retries=2), Flaky(), budget=budget))[0] == "ok"
    assert (budget.asked, budget.requests) == (2, 0)


# --- telemetry -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_before_sleep_sees_each_wait(mode: str) -> None:
    events: list[tuple[int, float, BaseException | None]] = []

    def before_sleep(state: RetryCallState) -> None:
        assert state.outcome is not None
        events.append((state.attempt_number, state.upcoming_sleep, state.outcome.exception()))

    first = RateLimitError("slow", retry_after=1.0)
    second = ProviderConnectionError("reset")
    fn = Flaky(first, second)
    result, sleeps = await run(mode, RetryPolicy(num_retries=3), fn, before_sleep=before_sleep)
    assert result == "ok"
    assert events == [(1, 1.0, first), (2, 0.2, second)]
    assert [wait for _, wait, _ in events] == sleeps


async def test_async_before_sleep_may_be_a_coroutine() -> None:
    events: list[int] = []

    async def before_sleep(state: RetryCallState) -> None:
        events.append(state.attempt_number)

    async def sleep(seconds: float) -> None:
        pass

    fn = Flaky(ProviderError("x", status_code=502))

    async def afn() -> str:
        return fn()

    retrying = RetryPolicy(num_retries=1).async_retrying(sleep=sleep, before_sleep=before_sleep)
    assert await retrying(afn) == "ok"
    assert events == [1]


def test_builders_return_tenacity_objects() -> None:
    policy = RetryPolicy(num_retries=2)
    assert isinstance(policy.retrying(), Retrying)
    assert isinstance(policy.async_retrying(), AsyncRetrying)
    assert policy.retrying().reraise is True


def test_retrying_used_as_an_iterator() -> None:
    fn = Flaky(ProviderError("x", status_code=500))
    for attempt in RetryPolicy(num_retries=2).retrying(sleep=lambda s: None):
        with attempt:
            result = fn()
    assert result == "ok"
    assert fn.calls == 2


# --- from_params ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retry_params", "retries", "expected"),
    [
        (None, None, (False, 0, 0.2, 1)),
        (None, 0, (False, 0, 0.2, 1)),
        (None, 2, (True, 2, 0.2, 3)),
        ({}, None, (True, 3, 0.2, 4)),
        ({"num_retries": 5}, None, (True, 5, 0.2, 6)),
        ({"retry_after": 1.5}, None, (True, 3, 1.5, 4)),
        ({"retry_enabled": False}, None, (False, 0, 0.2, 1)),
        ({"retry_enabled": False, "num_retries": 4}, 7, (False, 0, 0.2, 1)),
        ({"num_retries": 1}, 7, (True, 1, 0.2, 2)),  # retry_params wins
        ({"retry_enabled": True, "num_retries": 2, "retry_after": 0.5}, None, (True, 2, 0.5, 3)),
        ({"retry_enabled": None, "num_retries": None}, None, (True, 3, 0.2, 4)),
    ],
)
def test_from_params(
    retry_params: dict[str, Any] | None,
    retries: int | None,
    expected: tuple[bool, int, float, int],
) -> None:
    params = None if retry_params is None else RetryParams.model_validate(retry_params)
    policy = RetryPolicy.from_params(params, retries)
    assert (policy.enabled, policy.num_retries, policy.wait, policy.max_attempts) == expected
    assert policy.backoff == "constant"


def test_from_params_takes_the_backoff_and_overrides() -> None:
    policy = RetryPolicy.from_params(
        RetryParams(num_retries=2), None, backoff="exponential", max_wait=2.0
    )
    assert (policy.num_retries, policy.backoff, policy.max_wait) == (2, "exponential", 2.0)


@pytest.mark.parametrize(
    ("retry_params", "field"),
    [
        ({"num_retries": -1}, "retry_params.num_retries"),
        ({"num_retries": 1.5}, "retry_params.num_retries"),
        ({"num_retries": True}, "retry_params.num_retries"),
        ({"num_retries": 101}, "retry_params.num_retries"),
        ({"retry_after": -0.1}, "retry_params.retry_after"),
        ({"retry_after": 0}, "retry_params.retry_after"),
        ({"retry_after": "soon"}, "retry_params.retry_after"),
        ({"retry_enabled": "yes"}, "retry_params.retry_enabled"),
        ("nope", "retry_params"),
    ],
)  # fmt: skip
def test_retry_params_are_validated_once_by_the_request(retry_params: Any, field: str) -> None:
    # The one declaration of the bounds: the request's RetryParams.
    from respan_router.request._request import build_request

    with pytest.raises(InvalidRequestError) as info:
        build_request(
            {
                "model": "m",
                "messages": [{"role": "user", "content": "x"}],
                "retry_params": retry_params,
            }
        )
    assert info.value.field == field


def test_router_retry_params_share_the_bounds() -> None:
    from respan_router import Router

    with pytest.raises(InvalidRequestError) as info:
        Router(retry_params={"num_retries": 101})
    assert info.value.field == "retry_params.num_retries"


def test_policy_is_frozen() -> None:
    policy = RetryPolicy()
    with pytest.raises(AttributeError):
        policy.num_retries = 3  # type: ignore[misc]
