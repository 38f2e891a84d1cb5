import dataclasses
import threading
from typing import Any

import pytest

from respan_router.cache import (
    DEFAULT_TTL,
    BackendStats,
    CacheStats,
    MemoryCacheBackend,
    ResponseCache,
)
from tests.helpers import chunk
from tests.helpers import completion as make_completion

KEY = "respan:chat:" + "0" * 64


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def completion(content: str = "Hi!") -> Any:
    return make_completion(content, id="chatcmpl-1", usage=(5, 2))


def chunks() -> list[Any]:
    return [
        chunk({"content": "Hi", "role": "assistant"}),
        chunk({"content": "!"}, finish_reason="stop"),
    ]


def test_peek_counts_nothing_until_the_caller_counts() -> None:
    cache = ResponseCache()
    assert cache.peek_completion(KEY) is None
    cache.set_completion(KEY, completion())
    assert cache.peek_completion(KEY) == completion()
    assert cache.peek_completion(KEY) == completion()
    assert (cache.stats.hits, cache.stats.misses, cache.stats.entries) == (0, 0, 1)
    cache.count(hit=False)
    cache.count(hit=True)
    cache.count(hit=True)
    stats = cache.stats
    assert (stats.hits, stats.misses, stats.entries) == (2, 1, 1)
    assert stats.bytes > 0


def test_chunks_miss_then_hit() -> None:
    cache = ResponseCache()
    assert cache.get_chunks(KEY) is None
    cache.set_chunks(KEY, chunks())
    assert cache.get_chunks(KEY) == chunks()
    assert (cache.stats.hits, cache.stats.misses) == (1, 1)


def test_streamed_and_whole_answers_are_stored_apart() -> None:
    cache = ResponseCache()
    cache.set_completion(KEY, completion("whole"))
    assert cache.get_chunks(KEY) is None
    cache.set_chunks(KEY, chunks())
    assert cache.peek_completion(KEY) == completion("whole")
    assert cache.get_chunks(KEY) == chunks()
    assert cache.stats.entries == 2


def test_distinct_keys_are_distinct_entries() -> None:
    cache = ResponseCache()
    cache.set_completion("a", completion("A"))
    cache.set_completion("b", completion("B"))
    assert cache.peek_completion("a") == completion("A")
    assert cache.peek_completion("b") == completion("B")


def test_default_and_explicit_ttl() -> None:
    clock = Clock()
    cache = ResponseCache(MemoryCacheBackend(timer=clock), default_ttl=60)
    cache.set_completion("default", completion())
    cache.set_completion("short", completion(), ttl=10)
    cache.set_chunks("chunks", chunks(), ttl=30)
    clock.now = 10
    assert cache.peek_completion("short") is None
    assert cache.get_chunks("chunks") is not None
    clock.now = 30
    assert cache.get_chunks("chunks") is None
    assert cache.peek_completion("default") is not None
    clock.now = 60
    assert cache.peek_completion("default") is None


def test_default_ttl_is_thirty_days() -> None:
    assert DEFAULT_TTL == 30 * 24 * 3600
    assert ResponseCache().default_ttl == DEFAULT_TTL


def test_zero_ttl_stores_nothing() -> None:
    cache = ResponseCache()
    cache.set_completion(KEY, completion(), ttl=0)
    assert cache.peek_completion(KEY) is None


@pytest.mark.parametrize("garbage", [b"", b"garbage", b"\xff", b'["chat.completion/999"]'])
def test_undecodable_bytes_are_a_miss_and_deleted(garbage: bytes) -> None:
    backend = DictBackend()
    cache = ResponseCache(backend)
    cache.set_completion(KEY, completion())
    cache.set_chunks(KEY, chunks())
    assert len(backend.data) == 2
    for stored_key in backend.data:
        backend.data[stored_key] = garbage
    assert cache.peek_completion(KEY) is None
    assert cache.get_chunks(KEY) is None
    assert backend.data == {}
    assert (cache.stats.hits, cache.stats.misses) == (0, 1)  # the chunks' lookup counted


def test_hits_are_new_objects() -> None:
    cache = ResponseCache()
    cache.set_completion(KEY, completion())
    got = cache.peek_completion(KEY)
    assert got is not None
    got.choices[0].message.content = "mutated"
    got.request_breakdown = {"cached": True}
    assert cache.peek_completion(KEY) == completion()


def test_clear_drops_entries_and_counts() -> None:
    cache = ResponseCache()
    cache.set_completion(KEY, completion())
    cache.peek_completion(KEY)
    cache.peek_completion("other")
    cache.clear()
    assert cache.stats == CacheStats(hits=0, misses=0, entries=0, bytes=0)
    assert cache.peek_completion(KEY) is None


def test_stats_are_frozen() -> None:
    stats = ResponseCache().stats
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.hits = 3  # type: ignore[misc]


def test_counters_are_thread_safe() -> None:
    cache = ResponseCache()
    cache.set_completion("hit", completion())
    start = threading.Barrier(16)

    def work() -> None:
        start.wait()
        for i in range(500):
            cache.count(hit=cache.peek_completion("hit" if i % 2 else "miss") is not None)

    threads = [threading.Thread(target=work) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (cache.stats.hits, cache.stats.misses) == (16 * 250, 16 * 250)


class DictBackend:
    """The least a backend needs: the protocol's five methods, no TTL handling."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def set(self, key: str, value: bytes, ttl: float) -> None:
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)

    def clear(self) -> None:
        self.data.clear()

    def stats(self) -> BackendStats:
        return {"entries": len(self.data), "bytes": sum(map(len, self.data.values()))}


def test_any_backend_of_the_protocol_works() -> None:
    backend = DictBackend()
    cache = ResponseCache(backend)
    cache.set_completion(KEY, completion())
    assert cache.peek_completion(KEY) == completion()
    assert all(k.startswith(KEY) for k in backend.data)
    assert cache.stats.entries == 1
    assert "ResponseCache(" in repr(cache)
