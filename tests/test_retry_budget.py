"""Retry budget: retries capped to a share of the requests over a sliding window."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from respan_router.errors import ProviderError
from respan_router.execution import CallRecord, Executor
from respan_router.request import build_request
from respan_router.resilience._budget import RetryBudget, RetryBudgetSnapshot
from respan_router.resilience._retry import RetryBudgetLike
from respan_router.routing import Attempt
from tests.helpers import MSG


class FakeClock:
    def __init__(self, now: float = 5000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def always_failing() -> None:
    raise ProviderError("unavailable", status_code=503)


def test_is_a_retry_budget() -> None:
    assert isinstance(RetryBudget(), RetryBudgetLike)


def test_floor_allows_retries_without_traffic() -> None:
    budget = RetryBudget(ratio=0.2, window=10.0, min_retries_per_second=1.0, clock=FakeClock())
    assert budget.floor == 10.0
    assert [budget.try_acquire_retry() for _ in range(11)] == [True] * 10 + [False]
    assert budget.snapshot() == RetryBudgetSnapshot(
        requests=0, retries=10, allowed=10.0, denied_total=1
    )


def test_ratio_of_requests() -> None:
    budget = RetryBudget(ratio=0.2, window=10.0, min_retries_per_second=0.0, clock=FakeClock())
    for _ in range(50):
        budget.record_request()
    granted = sum(budget.try_acquire_retry() for _ in range(20))
    assert granted == 10
    budget.record_request()  # 51 requests: still 10.2 -> no eleventh retry
    assert not budget.try_acquire_retry()
    for _ in range(4):
        budget.record_request()  # 55 requests: 11 retries
    assert budget.try_acquire_retry()
    assert not budget.try_acquire_retry()


def test_outage_caps_retries_and_recovers_after_the_window() -> None:
    clock = FakeClock()
    budget = RetryBudget(ratio=0.2, window=10.0, min_retries_per_second=1.0, clock=clock)
    # Through the executor, the one place that counts a candidate's first try as a
    # request; the policy's stop asks the budget for each retry.
    executor = Executor(budget=budget, sleep=lambda s: None, clock=clock)
    request = build_request({"model": "a", "messages": MSG, "retries": 3})
    plan = [Attempt("a", "fake", "fake/a", "environment", "model")]
    attempts = 0

    def call() -> None:
        nonlocal attempts
        attempts += 1
        always_failing()

    def send(_: object) -> None:
        call()

    for _ in range(1000):  # 1000 requests over 5 s, every attempt failing
        with pytest.raises(ProviderError):
            executor.run(request, plan, CallRecord(), send)
        clock.advance(0.005)

    retries = attempts - 1000
    bound = 0.2 * 1000 + budget.floor
    assert retries <= bound
    assert retries >= bound - 1  # the budget is spent, not left idle
    snapshot = budget.snapshot()
    assert snapshot.requests == 1000
    assert snapshot.retries == retries
    assert snapshot.denied_total > 0
    assert not budget.try_acquire_retry()

    clock.advance(10.0)  # the outage has left the window
    assert budget.snapshot().requests == 0
    assert budget.try_acquire_retry()
    attempts = 0
    with pytest.raises(ProviderError):
        executor.run(request, plan, CallRecord(), send)
    assert attempts == 4  # a single failing request gets all its retries again


def test_window_slides_bucket_by_bucket() -> None:
    clock = FakeClock(0.0)
    budget = RetryBudget(ratio=1.0, window=4.0, min_retries_per_second=0.0, clock=clock)
    for second in range(4):  # 10 requests in each of the seconds 0..3
        clock.now = second + 0.5
        for _ in range(10):
            budget.record_request()
    assert budget.snapshot().requests == 40
    clock.now = 4.5  # second 0 has left the window
    assert budget.snapshot().requests == 30
    clock.now = 6.0
    assert budget.snapshot().requests == 10
    clock.now = 7.0
    assert budget.snapshot().requests == 0


def test_retries_expire_with_the_window() -> None:
    clock = FakeClock(0.0)
    budget = RetryBudget(ratio=0.0, window=2.0, min_retries_per_second=1.0, clock=clock)
    assert budget.try_acquire_retry()
    assert budget.try_acquire_retry()
    assert not budget.try_acquire_retry()
    clock.now = 1.0
    assert not budget.try_acquire_retry()  # both are still in the window
    clock.now = 2.0
    assert budget.try_acquire_retry()
    assert budget.try_acquire_retry()
    assert not budget.try_acquire_retry()


def test_a_clock_going_back_counts_into_the_newest_bucket() -> None:
    clock = FakeClock(100.0)
    budget = RetryBudget(window=10.0, clock=clock)
    budget.record_request()
    clock.now = 50.0
    budget.record_request()
    assert budget.snapshot().requests == 2


def test_thread_safe_under_contention() -> None:
    budget = RetryBudget(ratio=0.2, window=10.0, min_retries_per_second=1.0, clock=FakeClock())
    granted = 0
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker() -> None:
        nonlocal granted
        barrier.wait()
        mine = 0
        for _ in range(2000):
            budget.record_request()
            mine += sum(budget.try_acquire_retry() for _ in range(3))
        with lock:
            granted += mine

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    snapshot = budget.snapshot()
    assert snapshot.requests == 16000
    assert snapshot.retries == granted
    assert granted <= 0.2 * 16000 + 10
    assert snapshot.denied_total == 16000 * 3 - granted


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ratio": -0.1},
        {"window": 0.0},
        {"min_retries_per_second": -1.0},
        {"bucket": 0.0},
        {"window": 1.0, "bucket": 2.0},
    ],
)
def test_rejects_bad_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryBudget(**kwargs)


def test_budgets_are_independent() -> None:
    clock = FakeClock()
    first = RetryBudget(min_retries_per_second=0.1, window=10.0, clock=clock)
    second = RetryBudget(min_retries_per_second=0.1, window=10.0, clock=clock)
    assert first.try_acquire_retry()
    assert not first.try_acquire_retry()
    assert second.try_acquire_retry()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["request", "retry", "tick"]), st.floats(0.0, 3.0)),
        max_size=300,
    )
)
def test_never_more_retries_than_allowed_in_any_window(
    steps: list[tuple[str, float]],
) -> None:
    """Whatever happens, the granted retries of the last window respect the cap."""
    clock = FakeClock(0.0)
    budget = RetryBudget(ratio=0.5, window=5.0, min_retries_per_second=0.4, clock=clock)
    requests: list[float] = []
    retries: list[float] = []
    for action, amount in steps:
        if action == "tick":
            clock.advance(amount)
        elif action == "request":
            budget.record_request()
            requests.append(clock())
        elif budget.try_acquire_retry():
            retries.append(clock())
            # The budget looks at the buckets [now - 4, now] (1 s buckets, whole seconds).
            start = float(int(clock()) - 4)
            in_window = sum(1 for t in retries if t >= start)
            requests_in_window = sum(1 for t in requests if t >= start)
            assert in_window <= 0.5 * requests_in_window + 2.0
