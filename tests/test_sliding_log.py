"""The in-process rate limit: an exact moving window of 60 s, at its edges."""

from __future__ import annotations

import threading

from respan_router.budgets import InMemoryBudgetStore, SlidingLog


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_allows_up_to_the_limit_then_refuses_without_counting() -> None:
    clock = Clock()
    log = SlidingLog(clock)
    assert [log.hit("c", 3).remaining for _ in range(3)] == [2, 1, 0]
    refused = log.hit("c", 3)
    assert not refused.allowed and refused.remaining == 0 and refused.limit == 3
    assert refused.retry_after == 60.0
    clock.now += 59.0
    refused = log.hit("c", 3)  # a refusal is not counted: the window is still the first three
    assert not refused.allowed and refused.retry_after == 1.0


def test_a_request_exactly_sixty_seconds_old_still_counts() -> None:
    clock = Clock()
    log = SlidingLog(clock)
    assert log.hit("c", 1).allowed
    clock.now += 60.0
    edge = log.hit("c", 1)
    assert not edge.allowed and edge.retry_after == 0.0
    clock.now += 0.001
    assert log.hit("c", 1).allowed


def test_the_window_slides_one_request_at_a_time() -> None:
    clock = Clock()
    log = SlidingLog(clock)
    for _ in range(2):  # at 1000 and at 1030
        assert log.hit("c", 2).allowed
        clock.now += 30.0
    refused = log.hit("c", 2)  # at 1060: the request at 1000 is exactly 60 s old
    assert not refused.allowed and refused.retry_after == 0.0
    clock.now += 0.5
    assert log.hit("c", 2).allowed  # the one at 1000 left; the one at 1030 still counts
    refused = log.hit("c", 2)
    assert not refused.allowed and refused.retry_after == 29.5


def test_customers_are_counted_apart() -> None:
    log = SlidingLog(Clock())
    assert log.hit("a", 1).allowed
    assert not log.hit("a", 1).allowed
    assert log.hit("b", 1).allowed


def test_a_lowered_limit_waits_for_enough_requests_to_leave() -> None:
    clock = Clock()
    log = SlidingLog(clock)
    for _ in range(4):  # at 1000, 1010, 1020, 1030
        assert log.hit("c", 10).allowed
        clock.now += 10.0
    refused = log.hit("c", 2)  # at 1040 with 4 counted: allowed once 3 have left
    assert not refused.allowed and refused.retry_after == 40.0  # 1020 + 60 - 1040


def test_idle_customers_are_forgotten() -> None:
    clock = Clock()
    log = SlidingLog(clock)
    for i in range(100):
        log.hit(f"idle{i}", 5)
    clock.now += 61.0
    for _ in range(1100):  # more hits than a sweep's period
        log.hit("busy", 10_000)
    assert len(log) == 1


def test_threads_never_exceed_the_limit() -> None:
    log = SlidingLog()
    allowed: list[bool] = []

    def worker() -> None:
        for _ in range(200):
            allowed.append(log.hit("c", 250).allowed)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 250


def test_the_memory_store_limits_with_it() -> None:
    store = InMemoryBudgetStore()
    assert store.hit("c", 1).allowed
    refused = store.hit("c", 1)
    assert not refused.allowed
    assert refused.retry_after is not None and 59 < refused.retry_after <= 60
