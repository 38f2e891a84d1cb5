import asyncio
import gc
import threading
from typing import Any

import pytest

from respan_router.cache import AsyncSingleFlight, SingleFlight
from respan_router.cache import _singleflight as singleflight

# --- asyncio ---------------------------------------------------------------------------


async def test_concurrent_identical_calls_run_once() -> None:
    sf = AsyncSingleFlight()
    calls = 0
    release = asyncio.Event()

    async def fn() -> dict[str, int]:
        nonlocal calls
        calls += 1
        await release.wait()
        return {"answer": 42}

    tasks = [asyncio.create_task(sf.do("k", fn)) for _ in range(100)]
    await asyncio.sleep(0)  # every task reaches do() and waits
    release.set()
    results = await asyncio.gather(*tasks)
    assert calls == 1
    assert all(value == {"answer": 42} for value, _ in results)
    assert sum(leader for _, leader in results) == 1
    assert results[0][1] is True  # the first caller led


async def test_different_keys_run_separately() -> None:
    sf = AsyncSingleFlight()
    calls: list[str] = []

    def make(key: str) -> Any:
        async def fn() -> str:
            calls.append(key)
            await asyncio.sleep(0)
            return key

        return fn

    results = await asyncio.gather(*(sf.do(k, make(k)) for k in "abcab"))
    assert sorted(calls) == ["a", "b", "c"]
    assert [v for v, _ in results] == list("abcab")


async def test_key_is_free_once_done() -> None:
    sf = AsyncSingleFlight()
    calls = 0

    async def fn() -> int:
        nonlocal calls
        calls += 1
        return calls

    assert await sf.do("k", fn) == (1, True)
    assert await sf.do("k", fn) == (2, True)


async def test_error_reaches_every_caller_and_is_not_cached() -> None:
    sf = AsyncSingleFlight()
    calls = 0
    release = asyncio.Event()

    async def fail() -> None:
        nonlocal calls
        calls += 1
        await release.wait()
        raise ValueError("provider down")

    tasks = [asyncio.create_task(sf.do("k", fail)) for _ in range(20)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert calls == 1
    assert all(isinstance(r, ValueError) for r in results)
    assert all(r is results[0] for r in results)  # the same exception, re-raised

    async def ok() -> str:
        nonlocal calls
        calls += 1
        return "fine"

    assert await sf.do("k", ok) == ("fine", True)
    assert calls == 2


async def test_cancelled_leader_hands_over_to_a_follower() -> None:
    sf = AsyncSingleFlight()
    started: list[str] = []
    release = asyncio.Event()

    def make(name: str) -> Any:
        async def fn() -> str:
            started.append(name)
            await release.wait()
            return f"from {name}"

        return fn

    leader = asyncio.create_task(sf.do("k", make("leader")))
    await asyncio.sleep(0)
    followers = [asyncio.create_task(sf.do("k", make(f"f{i}"))) for i in range(5)]
    await asyncio.sleep(0)
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    await asyncio.sleep(0)  # the followers wake; the first becomes the leader
    release.set()
    async with asyncio.timeout(5):
        results = await asyncio.gather(*followers)
    assert started == ["leader", "f0"]
    assert [v for v, _ in results] == ["from f0"] * 5
    assert [leader for _, leader in results] == [True, False, False, False, False]


async def test_cancelled_follower_leaves_the_others_alone() -> None:
    sf = AsyncSingleFlight()
    calls = 0
    release = asyncio.Event()

    async def fn() -> str:
        nonlocal calls
        calls += 1
        await release.wait()
        return "ok"

    leader = asyncio.create_task(sf.do("k", fn))
    await asyncio.sleep(0)
    quitter = asyncio.create_task(sf.do("k", fn))
    stayer = asyncio.create_task(sf.do("k", fn))
    await asyncio.sleep(0)
    quitter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await quitter
    release.set()
    assert await leader == ("ok", True)
    assert await stayer == ("ok", False)
    assert calls == 1


async def test_timed_out_follower_does_not_cancel_the_call() -> None:
    sf = AsyncSingleFlight()
    release = asyncio.Event()

    async def fn() -> str:
        await release.wait()
        return "ok"

    leader = asyncio.create_task(sf.do("k", fn))
    await asyncio.sleep(0)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await sf.do("k", fn)
    release.set()
    assert await leader == ("ok", True)


async def test_reentering_its_own_flight_raises() -> None:
    sf = AsyncSingleFlight()

    async def fn() -> Any:
        return await sf.do("k", fn)

    with pytest.raises(RuntimeError, match="re-entered"):
        await sf.do("k", fn)
    assert await sf.do("k", _value("free again")) == ("free again", True)


def _value(v: Any) -> Any:
    async def fn() -> Any:
        return v

    return fn


async def test_a_lone_failure_logs_no_unretrieved_exception() -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    sf = AsyncSingleFlight()

    async def fail() -> None:
        raise ValueError("x")

    with pytest.raises(ValueError):
        await sf.do("k", fail)
    gc.collect()
    await asyncio.sleep(0)
    assert reported == []


def test_flights_are_per_event_loop() -> None:
    # Two loops in two threads, same instance, same key, at the same time: each loop
    # runs its own call (a future of one loop cannot be awaited from another).
    sf = AsyncSingleFlight()
    both_inside = threading.Barrier(2, timeout=5)
    results: list[Any] = []

    async def fn() -> str:
        await asyncio.to_thread(both_inside.wait)
        return threading.current_thread().name

    def run() -> None:
        results.append(asyncio.run(sf.do("k", fn)))

    threads = [threading.Thread(target=run, name=f"t{i}") for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [("t0", True), ("t1", True)]


# --- threads ---------------------------------------------------------------------------


def run_threads(n: int, target: Any) -> list[Any]:
    """Run target(i) in n threads started together; return results or exceptions."""
    results: list[Any] = [None] * n
    start = threading.Barrier(n)

    def work(i: int) -> None:
        start.wait()
        try:
            results[i] = target(i)
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert not any(t.is_alive() for t in threads)
    return results


def test_sixteen_threads_run_once() -> None:
    sf = SingleFlight()
    calls = 0
    release = threading.Event()

    def fn() -> str:
        nonlocal calls
        calls += 1
        release.wait(timeout=5)
        return "answer"

    def caller(_i: int) -> tuple[str, bool]:
        return sf.do("k", fn)

    releaser = threading.Timer(0.3, release.set)  # let every thread reach do() first
    releaser.start()
    results = run_threads(16, caller)
    assert calls == 1
    assert [v for v, _ in results] == ["answer"] * 16
    assert sum(leader for _, leader in results) == 1
    assert len(sf) == 0


def test_thread_error_reaches_every_caller_and_is_not_cached() -> None:
    sf = SingleFlight()
    calls = 0
    release = threading.Event()

    def fail() -> None:
        nonlocal calls
        calls += 1
        release.wait(timeout=5)
        raise ValueError("provider down")

    threading.Timer(0.3, release.set).start()
    results = run_threads(16, lambda _i: sf.do("k", fail))
    assert calls == 1
    assert all(isinstance(r, ValueError) for r in results)
    assert all(str(r) == "provider down" for r in results)
    assert len({id(r) for r in results}) == 16  # a copy each: no shared traceback
    assert sf.do("k", lambda: "fine") == ("fine", True)


def test_thread_key_is_free_once_done() -> None:
    sf = SingleFlight()
    assert sf.do("k", lambda: 1) == (1, True)
    assert sf.do("k", lambda: 2) == (2, True)


class Interrupted(BaseException):
    """Like KeyboardInterrupt, without disturbing the test run."""


class _WatchedCall(singleflight._Call[Any]):
    """A flight whose followers say when they start waiting for it."""

    waiting = threading.Semaphore(0)

    def __init__(self, owner: int) -> None:
        super().__init__(owner)
        self.done = _AnnouncedEvent()


class _AnnouncedEvent(threading.Event):
    def wait(self, timeout: float | None = None) -> bool:
        _WatchedCall.waiting.release()
        return super().wait(timeout)


def test_interrupted_thread_leader_hands_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(singleflight, "_Call", _WatchedCall)
    monkeypatch.setattr(_WatchedCall, "waiting", threading.Semaphore(0))
    sf = SingleFlight()
    entered = threading.Event()
    release = threading.Event()
    calls: list[str] = []

    def leader_fn() -> str:
        calls.append("leader")
        entered.set()
        release.wait(timeout=5)
        raise Interrupted

    def follower_fn() -> str:
        calls.append("follower")
        return "from a follower"

    out: dict[str, Any] = {}

    def lead() -> None:
        try:
            sf.do("k", leader_fn)
        except Interrupted as exc:
            out["leader"] = exc

    def follow(i: int) -> None:
        out[i] = sf.do("k", follower_fn)

    t_lead = threading.Thread(target=lead)
    t_lead.start()
    entered.wait(timeout=5)
    followers = [threading.Thread(target=follow, args=(i,)) for i in range(4)]
    for t in followers:
        t.start()
    for _ in followers:  # every follower waits on the leader's flight
        assert _WatchedCall.waiting.acquire(timeout=5)
    release.set()
    for t in [t_lead, *followers]:
        t.join(timeout=5)
    assert isinstance(out["leader"], Interrupted)
    assert [out[i][0] for i in range(4)] == ["from a follower"] * 4
    assert sum(out[i][1] for i in range(4)) >= 1  # one of them led the new call
    assert calls[0] == "leader" and "follower" in calls


def test_thread_reentering_its_own_flight_raises() -> None:
    sf = SingleFlight()

    def fn() -> Any:
        return sf.do("k", fn)

    with pytest.raises(RuntimeError, match="re-entered"):
        sf.do("k", fn)
    assert len(sf) == 0
