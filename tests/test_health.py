"""Circuit breakers per deployment, and the registry that orders candidates by health."""

from __future__ import annotations

import asyncio
import threading

import pytest

from respan_router.errors import (
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
    StreamInterruptedError,
)
from respan_router.resilience import BreakerConfig, BreakerSnapshot, BreakerState, HealthRegistry
from respan_router.resilience._breaker import CircuitBreaker
from respan_router.resilience._breaker_config import StateChange

KEY = "openai/gpt-4o|environment"
CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


class FakeClock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def boom() -> ProviderError:
    return ProviderError("unavailable", status_code=503)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry(clock: FakeClock) -> HealthRegistry:
    return HealthRegistry(clock=clock)


def open_breaker(registry: HealthRegistry, key: str = KEY) -> None:
    for _ in range(registry.config.consecutive_failures):
        registry.record_failure(key, boom())
    assert registry.breaker(key).state is OPEN


# --- opening -------------------------------------------------------------------------------


def test_opens_after_consecutive_failures(registry: HealthRegistry) -> None:
    for _ in range(4):
        registry.record_failure(KEY, boom())
    assert registry.breaker(KEY).state is CLOSED
    assert registry.allow(KEY)
    registry.record_failure(KEY, boom())
    assert registry.breaker(KEY).state is OPEN
    assert not registry.allow(KEY)


def test_a_success_breaks_the_streak(registry: HealthRegistry) -> None:
    for _ in range(4):
        registry.record_failure(KEY, boom())
    registry.record_success(KEY)
    for _ in range(4):
        registry.record_failure(KEY, boom())
    assert registry.breaker(KEY).state is CLOSED


def test_opens_on_failure_rate_once_enough_calls(registry: HealthRegistry) -> None:
    # success, failure, success, failure ...: never 5 in a row, but half of them fail
    for n in range(9):
        if n % 2:
            registry.record_failure(KEY, boom())
        else:
            registry.record_success(KEY)
    assert registry.breaker(KEY).state is CLOSED  # 9 calls < min_calls
    registry.record_failure(KEY, boom())  # 10 calls, 5 failures
    assert registry.breaker(KEY).state is OPEN


def test_failure_rate_below_threshold_stays_closed(registry: HealthRegistry) -> None:
    for n in range(200):  # 2 failures in every 5 calls: 40%
        if n % 5 in (1, 3):
            registry.record_failure(KEY, boom())
        else:
            registry.record_success(KEY)
    assert registry.breaker(KEY).state is CLOSED


def test_failure_rate_looks_only_at_the_window(clock: FakeClock) -> None:
    config = BreakerConfig(consecutive_failures=100, failure_rate=0.5, window=20, min_calls=10)
    breaker = CircuitBreaker(KEY, config, clock)
    for _ in range(9):
        breaker.record_failure(boom())
    for _ in range(11):
        breaker.record_success()
    assert breaker.state is CLOSED  # 9 of 20
    breaker.record_failure(boom())  # the oldest failure leaves, this one comes: still 9 of 20
    assert breaker.snapshot().failures_in_window == 9
    assert breaker.state is CLOSED
    for _ in range(9):
        breaker.record_success()  # the older failures leave the window one by one
    assert breaker.snapshot().failures_in_window == 1
    for _ in range(9):
        breaker.record_failure(boom())
    assert breaker.state is OPEN  # 10 of the last 20


@pytest.mark.parametrize(
    "error",
    [
        ProviderError("boom", status_code=500),
        ProviderError("bad gateway", status_code=502),
        ProviderError("conflict", status_code=409),
        ProviderTimeoutError("slow"),
        ProviderConnectionError("reset"),
        RateLimitError("slow down"),
        AuthenticationError("bad key"),
        PermissionDeniedError("no access"),
        StreamInterruptedError("cut after the first chunk"),
    ],
    ids=repr,
)
def test_counted_failures(registry: HealthRegistry, error: ProviderError) -> None:
    for _ in range(5):
        registry.record_failure(KEY, error)
    assert registry.breaker(KEY).state is OPEN


@pytest.mark.parametrize(
    "error",
    [
        ProviderBadRequestError("bad"),
        NotFoundError("no model"),
        ContextWindowExceededError("too long"),
    ],
    ids=repr,
)
def test_answers_that_are_not_failures_count_as_successes(
    registry: HealthRegistry, error: ProviderError
) -> None:
    for _ in range(4):
        registry.record_failure(KEY, boom())
    registry.record_failure(KEY, error)  # the deployment answered: the streak ends
    for _ in range(4):
        registry.record_failure(KEY, boom())
    assert registry.breaker(KEY).state is CLOSED


@pytest.mark.parametrize(
    "error", [InvalidRequestError("bad input"), asyncio.CancelledError(), ValueError("bug")]
)
def test_errors_that_are_not_the_providers_count_as_nothing(
    registry: HealthRegistry, error: BaseException
) -> None:
    for _ in range(10):
        registry.record_failure(KEY, error)
    assert registry.snapshot() == {}  # not even a breaker was made
    for _ in range(4):
        registry.record_failure(KEY, boom())
    registry.record_failure(KEY, error)  # does not end the streak either
    registry.record_failure(KEY, boom())
    assert registry.breaker(KEY).state is OPEN


def test_which_statuses_count_is_configurable(clock: FakeClock) -> None:
    registry = HealthRegistry(BreakerConfig(failure_statuses=frozenset()), clock=clock)
    for _ in range(10):
        registry.record_failure(KEY, AuthenticationError("bad key"))
    assert registry.breaker(KEY).state is CLOSED
    registry = HealthRegistry(BreakerConfig(failure_statuses=frozenset({404})), clock=clock)
    for _ in range(5):
        registry.record_failure(KEY, NotFoundError("gone"))
    assert registry.breaker(KEY).state is OPEN


# --- cooldown, half-open, probe ------------------------------------------------------------


def test_cooldown_then_half_open(registry: HealthRegistry, clock: FakeClock) -> None:
    open_breaker(registry)
    clock.advance(29.9)
    assert registry.breaker(KEY).state is OPEN
    assert not registry.allow(KEY)
    clock.advance(0.1)
    assert registry.breaker(KEY).state is HALF_OPEN


def test_half_open_lets_exactly_one_probe_through(
    registry: HealthRegistry, clock: FakeClock
) -> None:
    open_breaker(registry)
    clock.advance(30)
    assert registry.allow(KEY)  # the probe
    assert not registry.allow(KEY)
    assert not registry.allow(KEY)
    assert registry.breaker(KEY).snapshot().probe_in_flight


def test_half_open_single_probe_under_concurrency(
    registry: HealthRegistry, clock: FakeClock
) -> None:
    for _round in range(20):
        open_breaker(registry)
        clock.advance(30)
        threads_count = 16
        barrier = threading.Barrier(threads_count)
        results: list[bool] = []

        def caller(barrier: threading.Barrier = barrier, results: list[bool] = results) -> None:
            barrier.wait()
            results.append(registry.allow(KEY))  # list.append is atomic

        threads = [threading.Thread(target=caller) for _ in range(threads_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == [False] * (threads_count - 1) + [True]
        registry.record_success(KEY)  # the probe reports: closed for the next round
        assert registry.breaker(KEY).state is CLOSED


def test_probe_success_closes(registry: HealthRegistry, clock: FakeClock) -> None:
    open_breaker(registry)
    clock.advance(30)
    assert registry.allow(KEY)
    registry.record_success(KEY)
    breaker = registry.breaker(KEY)
    assert breaker.state is CLOSED
    assert all(registry.allow(KEY) for _ in range(10))
    snapshot = breaker.snapshot()
    assert (snapshot.consecutive_failures, snapshot.calls_in_window) == (0, 0)
    for _ in range(4):  # a fresh start: the old failures are forgotten
        registry.record_failure(KEY, boom())
    assert breaker.state is CLOSED


def test_probe_failure_reopens_for_a_full_cooldown(
    registry: HealthRegistry, clock: FakeClock
) -> None:
    open_breaker(registry)
    clock.advance(45)
    assert registry.allow(KEY)
    registry.record_failure(KEY, boom())
    breaker = registry.breaker(KEY)
    assert breaker.state is OPEN
    assert breaker.snapshot().open_for == pytest.approx(30.0)
    assert breaker.snapshot().times_opened == 2
    clock.advance(29)
    assert not registry.allow(KEY)
    clock.advance(1)
    assert registry.allow(KEY)  # the next probe


def test_probe_with_a_non_failure_answer_closes(registry: HealthRegistry, clock: FakeClock) -> None:
    open_breaker(registry)
    clock.advance(30)
    assert registry.allow(KEY)
    registry.record_failure(KEY, ContextWindowExceededError("too long"))
    assert registry.breaker(KEY).state is CLOSED


def test_released_probe_frees_the_slot(registry: HealthRegistry, clock: FakeClock) -> None:
    open_breaker(registry)
    clock.advance(30)
    assert registry.allow(KEY)
    registry.record_failure(KEY, asyncio.CancelledError())  # the probe was cancelled
    assert registry.breaker(KEY).state is HALF_OPEN
    assert registry.allow(KEY)
    assert not registry.allow(KEY)
    registry.release(KEY)
    assert registry.allow(KEY)


def test_a_probe_that_never_reports_times_out(clock: FakeClock) -> None:
    registry = HealthRegistry(BreakerConfig(probe_timeout=60.0), clock=clock)
    open_breaker(registry)
    clock.advance(30)
    assert registry.allow(KEY)
    clock.advance(59)
    assert not registry.allow(KEY)
    clock.advance(1)
    assert registry.allow(KEY)


def test_outcomes_during_cooldown_change_nothing(
    registry: HealthRegistry, clock: FakeClock
) -> None:
    open_breaker(registry)
    clock.advance(10)
    registry.record_success(KEY)  # a call that started before the breaker opened
    registry.record_failure(KEY, boom())
    breaker = registry.breaker(KEY)
    assert breaker.state is OPEN
    assert breaker.snapshot().open_for == pytest.approx(20.0)


# --- Retry-After ---------------------------------------------------------------------------


def test_retry_after_longer_than_cooldown_extends_it(
    registry: HealthRegistry, clock: FakeClock
) -> None:
    for _ in range(4):
        registry.record_failure(KEY, boom())
    registry.record_failure(KEY, RateLimitError("slow", retry_after=120.0))
    breaker = registry.breaker(KEY)
    clock.advance(60)
    assert breaker.state is OPEN
    assert not registry.allow(KEY)
    clock.advance(60)
    assert breaker.state is HALF_OPEN


def test_retry_after_shorter_than_cooldown_does_not_shorten_it(
    registry: HealthRegistry, clock: FakeClock
) -> None:
    for _ in range(5):
        registry.record_failure(KEY, RateLimitError("slow", retry_after=1.0))
    clock.advance(29)
    assert registry.breaker(KEY).state is OPEN


def test_retry_after_while_open_extends_the_cooldown(
    registry: HealthRegistry, clock: FakeClock
) -> None:
    open_breaker(registry)
    clock.advance(10)
    registry.record_failure(KEY, RateLimitError("slow", retry_after=90.0))
    clock.advance(89)
    assert registry.breaker(KEY).state is OPEN
    clock.advance(1)
    assert registry.breaker(KEY).state is HALF_OPEN


def test_retry_after_on_probe_failure(registry: HealthRegistry, clock: FakeClock) -> None:
    open_breaker(registry)
    clock.advance(30)
    assert registry.allow(KEY)
    registry.record_failure(KEY, RateLimitError("slow", retry_after=300.0))
    assert registry.breaker(KEY).snapshot().open_for == pytest.approx(300.0)


# --- availability (what plans are ordered by) ---------------------------------------------


def test_available_does_not_take_the_probe(registry: HealthRegistry, clock: FakeClock) -> None:
    open_breaker(registry, "a|env")
    assert not registry.available("a|env")
    assert registry.available("b|env")
    clock.advance(30)
    for _ in range(5):
        assert registry.available("a|env")  # half-open and free: available
    assert registry.allow("a|env")  # the probe is still there to take
    assert not registry.available("a|env")  # probe out: not available


def test_available_and_allow_of_unknown_keys_make_no_breakers(registry: HealthRegistry) -> None:
    assert registry.available("y")
    assert registry.allow("x")
    registry.release("x")
    assert registry.snapshot() == {}


# --- snapshot, notifications, isolation ----------------------------------------------------


def test_snapshot(registry: HealthRegistry, clock: FakeClock) -> None:
    registry.record_failure("a", boom())
    registry.record_success("a")
    registry.record_failure("a", boom())
    open_breaker(registry, "b")
    clock.advance(12)
    snapshot = registry.snapshot()
    assert snapshot["a"] == BreakerSnapshot(
        key="a",
        state=CLOSED,
        consecutive_failures=1,
        calls_in_window=3,
        failures_in_window=2,
        open_for=0.0,
        probe_in_flight=False,
        times_opened=0,
    )
    assert snapshot["b"].state is OPEN
    assert snapshot["b"].open_for == pytest.approx(18.0)
    assert snapshot["b"].times_opened == 1
    assert snapshot["b"].state == "open"  # a string enum, ready for attributes


def test_state_changes_are_reported(clock: FakeClock) -> None:
    changes: list[StateChange] = []
    registry = HealthRegistry(clock=clock, on_state_change=changes.append)
    open_breaker(registry)
    clock.advance(30)
    assert registry.allow(KEY)
    last = boom()
    registry.record_failure(KEY, last)
    clock.advance(30)
    assert registry.allow(KEY)
    registry.record_success(KEY)
    assert [(c.old, c.new) for c in changes] == [
        (CLOSED, OPEN),
        (HALF_OPEN, OPEN),
        (HALF_OPEN, CLOSED),
    ]
    assert changes[1].error is last
    assert all(change.key == KEY for change in changes)


def test_registries_are_independent(clock: FakeClock) -> None:
    first = HealthRegistry(clock=clock)
    second = HealthRegistry(clock=clock)
    open_breaker(first)
    assert not first.allow(KEY)
    assert second.allow(KEY)


def test_breaker_is_made_once_per_key_under_concurrency(registry: HealthRegistry) -> None:
    barrier = threading.Barrier(8)
    seen: list[CircuitBreaker] = []

    def worker() -> None:
        barrier.wait()
        seen.append(registry.breaker(KEY))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(breaker is seen[0] for breaker in seen)


def test_concurrent_reports_keep_counts_consistent(clock: FakeClock) -> None:
    config = BreakerConfig(consecutive_failures=10**6, failure_rate=1.0, window=100, min_calls=100)
    breaker = CircuitBreaker(KEY, config, clock)
    barrier = threading.Barrier(8)

    def worker(n: int) -> None:
        barrier.wait()
        for i in range(2000):
            if (i + n) % 3:
                breaker.record_success()
            else:
                breaker.record_failure(boom())

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    snapshot = breaker.snapshot()
    assert snapshot.calls_in_window == 100
    assert snapshot.failures_in_window == sum(breaker._outcomes)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"consecutive_failures": 0},
        {"failure_rate": 0.0},
        {"failure_rate": 1.5},
        {"window": 0},
        {"min_calls": 0},
        {"window": 5, "min_calls": 6},
        {"cooldown": -1.0},
        {"probe_timeout": 0.0},
    ],
)
def test_config_validates(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        BreakerConfig(**kwargs)  # type: ignore[arg-type]


# --- a quiet window: successes answered without the lock ----------------------------------


def test_a_failure_after_a_quiet_window_still_counts(clock: FakeClock) -> None:
    breaker = CircuitBreaker(KEY, BreakerConfig(window=4, min_calls=4, failure_rate=0.5), clock)
    for _ in range(10):  # the window fills with successes, then stays as it is
        assert breaker.record_success() is None
    assert breaker.snapshot().calls_in_window == 4
    breaker.record_failure(boom())
    snap = breaker.snapshot()
    assert (snap.consecutive_failures, snap.failures_in_window) == (1, 1)
    breaker.record_success()  # not quiet: counted, the streak ends
    assert breaker.snapshot().consecutive_failures == 0
    breaker.record_failure(boom())  # 2 of the last 4 failed: the rate opens it
    assert breaker.state is OPEN


def test_the_failure_leaves_the_window_after_window_successes(clock: FakeClock) -> None:
    breaker = CircuitBreaker(KEY, BreakerConfig(window=3, min_calls=3), clock)
    for _ in range(5):
        breaker.record_success()
    breaker.record_failure(boom())
    for expected in (1, 1, 0, 0):
        breaker.record_success()
        assert breaker.snapshot().failures_in_window == expected


def test_quiet_successes_under_threads_keep_the_counts_exact(clock: FakeClock) -> None:
    config = BreakerConfig(window=20, min_calls=20, consecutive_failures=10**6, failure_rate=1.0)
    breaker = CircuitBreaker(KEY, config, clock)
    barrier = threading.Barrier(5)

    def successes() -> None:
        barrier.wait()
        for _ in range(20_000):
            breaker.record_success()

    def failures() -> None:
        barrier.wait()
        for _ in range(2_000):  # at most every other outcome fails: it never opens
            breaker.record_failure(boom())
            breaker.record_success()

    threads = [threading.Thread(target=successes) for _ in range(4)]
    threads.append(threading.Thread(target=failures))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outcomes = list(breaker._outcomes)
    assert len(outcomes) == 20
    assert breaker.snapshot().failures_in_window == sum(outcomes)
    assert breaker.state is CLOSED
    # Whatever the interleaving, the window then moves on exactly: 20 successes clear it,
    # and only then is it quiet again.
    for _ in range(20):
        assert breaker._quiet is (sum(breaker._outcomes) == 0)
        breaker.record_success()
    assert breaker.snapshot().failures_in_window == 0
    assert breaker._quiet
    breaker.record_failure(boom())
    assert not breaker._quiet
    assert breaker.snapshot().failures_in_window == 1
