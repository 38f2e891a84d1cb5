import gc
import math
import random
import threading
import tracemalloc

import pytest

from respan_router.cache import CacheBackend, MemoryCacheBackend


class Clock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_is_a_cache_backend() -> None:
    assert isinstance(MemoryCacheBackend(), CacheBackend)


def test_get_set_delete_clear() -> None:
    b = MemoryCacheBackend()
    assert b.get("k") is None
    b.set("k", b"v1", 60)
    assert b.get("k") == b"v1"
    b.set("k", b"v2", 60)
    assert b.get("k") == b"v2"
    assert b.stats() == {"entries": 1, "bytes": 2}
    b.delete("k")
    b.delete("k")  # absent: no error
    assert b.get("k") is None
    b.set("a", b"x", 60)
    b.set("b", b"yy", 60)
    b.clear()
    assert b.get("a") is None
    assert b.stats() == {"entries": 0, "bytes": 0}
    b.set("a", b"x", 60)  # usable after clear
    assert b.get("a") == b"x"


def test_stores_an_immutable_copy() -> None:
    b = MemoryCacheBackend()
    buf = bytearray(b"abc")
    b.set("k", buf, 60)  # type: ignore[arg-type]
    buf[0] = ord("z")
    assert b.get("k") == b"abc"
    assert type(b.get("k")) is bytes


def test_entries_expire_after_their_own_ttl(clock: Clock) -> None:
    b = MemoryCacheBackend(timer=clock)
    b.set("short", b"s", 10)
    b.set("long", b"l", 100)
    clock.advance(9.999)
    assert b.get("short") == b"s"
    clock.advance(0.001)
    assert b.get("short") is None
    assert b.get("long") == b"l"
    assert b.stats() == {"entries": 1, "bytes": 1}
    clock.advance(90)
    assert b.get("long") is None
    assert b.stats() == {"entries": 0, "bytes": 0}


def test_overwrite_resets_the_ttl(clock: Clock) -> None:
    b = MemoryCacheBackend(timer=clock)
    b.set("k", b"old", 10)
    clock.advance(8)
    b.set("k", b"new", 10)
    clock.advance(8)
    assert b.get("k") == b"new"
    clock.advance(2)
    assert b.get("k") is None


@pytest.mark.parametrize("ttl", [0, -1, math.nan])
def test_no_positive_ttl_stores_nothing_and_drops_the_old_value(ttl: float) -> None:
    b = MemoryCacheBackend()
    b.set("k", b"old", 60)
    b.set("k", b"new", ttl)
    assert b.get("k") is None
    assert b.stats() == {"entries": 0, "bytes": 0}


def test_infinite_ttl_never_expires(clock: Clock) -> None:
    b = MemoryCacheBackend(timer=clock)
    b.set("k", b"v", math.inf)
    clock.advance(1e12)
    assert b.get("k") == b"v"


def test_lru_eviction_by_entry_count() -> None:
    b = MemoryCacheBackend(maxsize=3)
    for k in "abc":
        b.set(k, k.encode(), 60)
    assert b.get("a") == b"a"  # a is now the most recently used
    b.set("d", b"d", 60)
    assert b.get("b") is None
    assert [b.get(k) for k in "acd"] == [b"a", b"c", b"d"]
    assert len(b) == 3


def test_expired_entries_go_before_live_ones(clock: Clock) -> None:
    b = MemoryCacheBackend(maxsize=2, timer=clock)
    b.set("dies", b"1", 5)
    b.set("lives", b"2", 100)
    assert b.get("dies") == b"1"  # most recently used, but about to expire
    clock.advance(6)
    b.set("new", b"3", 100)
    assert b.get("lives") == b"2"
    assert b.get("new") == b"3"


def test_overwriting_at_capacity_evicts_nothing() -> None:
    b = MemoryCacheBackend(maxsize=2)
    b.set("a", b"1", 60)
    b.set("b", b"2", 60)
    b.set("a", b"3", 60)
    assert b.get("a") == b"3"
    assert b.get("b") == b"2"


def test_100k_distinct_keys_stay_within_maxsize() -> None:
    b = MemoryCacheBackend(maxsize=1000)
    for i in range(100_000):
        b.set(f"key-{i}", b"x" * (i % 50), 3600)
        if i % 97 == 0:
            assert len(b) <= 1000
    stats = b.stats()
    assert stats["entries"] == 1000
    assert stats["bytes"] == sum(i % 50 for i in range(99_000, 100_000))
    assert b.get("key-99999") is not None
    assert b.get("key-98999") is None


def test_memory_stays_bounded_under_churn() -> None:
    # Distinct keys, each with its own TTL, some overwritten (which leaves dead items in
    # cachetools' expiry heap until it is compacted), some expiring: once the cache is
    # full, more inserts must not grow its memory.
    clock = Clock()
    b = MemoryCacheBackend(maxsize=200, timer=clock)
    rnd = random.Random(7)
    value = b"v" * 100

    def churn(start: int) -> None:
        for i in range(start, start + 5000):
            b.set(f"key-{i}", value, rnd.choice((1, 50, 3600)))
            if i % 3 == 0:
                b.set(f"key-{i - 1}", value, 3600)
            if i % 100 == 0:
                clock.advance(1)

    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        churn(0)
        gc.collect()
        full = tracemalloc.get_traced_memory()[0] - base
        later = []
        for round_ in range(1, 5):
            churn(round_ * 5000)
            gc.collect()
            later.append(tracemalloc.get_traced_memory()[0] - base)
            assert len(b) <= 200
    finally:
        tracemalloc.stop()
    # The expiry heap breathes between one and two items per entry; nothing accumulates.
    assert max(later) < 1.5 * full, (full, later)


def test_byte_bound_evicts_least_recently_used() -> None:
    b = MemoryCacheBackend(maxsize=1000, max_bytes=1000)
    for i in range(10):
        b.set(f"k{i}", bytes(100), 60)
    assert b.stats() == {"entries": 10, "bytes": 1000}
    assert b.get("k0") is not None  # k0 becomes the most recently used
    b.set("big", bytes(250), 60)  # needs 250 bytes: k1, k2, k3 go
    assert [b.get(f"k{i}") is None for i in range(5)] == [False, True, True, True, False]
    assert b.stats() == {"entries": 8, "bytes": 950}


def test_byte_bound_holds_under_many_inserts() -> None:
    b = MemoryCacheBackend(maxsize=10_000, max_bytes=50_000)
    rnd = random.Random(3)
    for i in range(20_000):
        b.set(f"k{rnd.randrange(5000)}", bytes(rnd.randrange(1, 2000)), 60)
        if i % 101 == 0:
            assert b.stats()["bytes"] <= 50_000
    assert b.stats()["bytes"] <= 50_000


def test_value_larger_than_the_byte_bound_is_not_stored() -> None:
    b = MemoryCacheBackend(max_bytes=100)
    b.set("k", b"small", 60)
    b.set("k", bytes(101), 60)
    assert b.get("k") is None  # the older, smaller value is gone too
    b.set("k", bytes(100), 60)
    assert b.get("k") == bytes(100)


def test_bytes_are_exact_through_overwrite_delete_and_expiry(clock: Clock) -> None:
    b = MemoryCacheBackend(max_bytes=10_000, timer=clock)
    b.set("a", bytes(10), 5)
    b.set("b", bytes(20), 50)
    b.set("a", bytes(30), 5)
    assert b.stats() == {"entries": 2, "bytes": 50}
    b.delete("b")
    assert b.stats() == {"entries": 1, "bytes": 30}
    clock.advance(5)
    assert b.stats() == {"entries": 0, "bytes": 0}


def test_invalid_bounds_are_rejected() -> None:
    with pytest.raises(ValueError):
        MemoryCacheBackend(maxsize=0)
    with pytest.raises(ValueError):
        MemoryCacheBackend(max_bytes=0)
    assert MemoryCacheBackend(maxsize=5, max_bytes=None).max_bytes is None
    assert MemoryCacheBackend(maxsize=5, max_bytes=7).max_bytes == 7
    assert "entries=0" in repr(MemoryCacheBackend())


def test_sixteen_threads() -> None:
    b = MemoryCacheBackend(maxsize=200, max_bytes=20_000)
    errors: list[BaseException] = []
    start = threading.Barrier(16)

    def work(seed: int) -> None:
        rnd = random.Random(seed)
        try:
            start.wait()
            for _ in range(3000):
                k = f"k{rnd.randrange(400)}"
                op = rnd.random()
                if op < 0.5:
                    b.set(k, (k + ":").encode() * rnd.randrange(1, 40), rnd.choice((0.001, 60)))
                elif op < 0.9:
                    v = b.get(k)
                    # a value is always whole and always the one stored under its own key
                    assert v is None or v == (k + ":").encode() * (len(v) // len(k + ":"))
                elif op < 0.99:
                    b.delete(k)
                else:
                    s = b.stats()
                    assert s["entries"] <= 200 and s["bytes"] <= 20_000
        except BaseException as exc:  # reported below, on the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    s = b.stats()
    assert s["entries"] <= 200 and s["bytes"] <= 20_000
