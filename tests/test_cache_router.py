"""The response cache through the Router: keys, options, TTL, single flight, streams."""

from __future__ import annotations

import asyncio
import threading

import pytest

from respan_router import ProviderError, Router, StreamInterruptedError
from respan_router.cache import CacheStage, MemoryCacheBackend, ResponseCache
from respan_router.providers import ProviderCall
from respan_router.request._request import build_request
from respan_router.testing import Failure, FakeProvider, Reply
from tests.helpers import MSG


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _router(fake: FakeProvider, **kw: object) -> Router:
    return Router(provider=fake, **kw)  # type: ignore[arg-type]


def test_second_identical_call_is_a_hit_without_dispatch() -> None:
    fake = FakeProvider(Reply("cached answer", usage=(3, 2)))
    router = _router(fake)
    first = router.complete(model="m", messages=MSG, cache_enabled=True)
    second = router.complete(model="m", messages=MSG, cache_enabled=True)
    assert len(fake.calls) == 1
    assert second.choices[0].message.content == "cached answer"
    assert second.usage == first.usage
    assert second is not first
    stats = router.cache.stats
    assert (stats.hits, stats.misses, stats.entries) == (1, 1, 1)


def test_cache_is_off_unless_asked() -> None:
    fake = FakeProvider("x")
    router = _router(fake)
    router.complete(model="m", messages=MSG)
    router.complete(model="m", messages=MSG)
    assert len(fake.calls) == 2
    fake.reset()
    on = _router(fake, cache_enabled=True)
    on.complete(model="m", messages=MSG)
    on.complete(model="m", messages=MSG)
    on.complete(model="m", messages=MSG, cache_enabled=False)
    assert len(fake.calls) == 2


@pytest.mark.parametrize("by_model", [True, False, None])
@pytest.mark.parametrize("by_customer", [True, False, None])
def test_options_decide_who_shares_entries(by_model: bool | None, by_customer: bool | None) -> None:
    fake = FakeProvider("x")
    router = _router(fake)
    options = {}
    if by_model is not None:
        options["is_cached_by_model"] = by_model
    if by_customer is not None:
        options["cache_by_customer"] = by_customer

    def call(model: str, customer: str) -> None:
        router.complete(
            model=model, messages=MSG, cache_enabled=True, cache_options=options,
            customer_identifier=customer,
        )  # fmt: skip

    call("a", "c1")
    call("a", "c1")  # always a hit
    assert len(fake.calls) == 1
    call("b", "c1")  # another model: shares only when not cached by model
    expected = 1 if by_model is False else 2
    assert len(fake.calls) == expected
    call("a", "c2")  # another customer: shares unless cached by customer
    expected += 1 if by_customer else 0
    assert len(fake.calls) == expected


def test_no_cross_customer_hit_with_cache_by_customer() -> None:
    fake = FakeProvider()
    fake.script("m", Reply("for alice"), Reply("for bob"))
    router = _router(fake, cache_enabled=True)
    opts = {"cache_by_customer": True}
    a = router.complete(model="m", messages=MSG, customer_identifier="alice", cache_options=opts)
    b = router.complete(model="m", messages=MSG, customer_identifier="bob", cache_options=opts)
    again = router.complete(
        model="m", messages=MSG, customer_identifier="alice", cache_options=opts
    )
    assert (a.choices[0].message.content, b.choices[0].message.content) == (
        "for alice",
        "for bob",
    )
    assert again.choices[0].message.content == "for alice"


def test_answer_changing_parameters_change_the_key_logging_fields_do_not() -> None:
    fake = FakeProvider("x")
    router = _router(fake, cache_enabled=True)
    router.complete(model="m", messages=MSG, temperature=0.1)
    router.complete(model="m", messages=MSG, temperature=0.1, metadata={"a": 1},
                    properties={"p": 2}, custom_identifier="c", thread_identifier="t",
                    credential_override={"m": {"api_key": "sk-other"}})  # fmt: skip
    assert len(fake.calls) == 1
    router.complete(model="m", messages=MSG, temperature=0.2)
    router.complete(model="m", messages=MSG, temperature=0.1, max_tokens=5)
    router.complete(model="m", messages=[*MSG, {"role": "user", "content": "more"}],
                    temperature=0.1)  # fmt: skip
    assert len(fake.calls) == 4


def test_dict_key_order_does_not_matter() -> None:
    fake = FakeProvider("x")
    router = _router(fake, cache_enabled=True)
    router.complete(
        model="m",
        messages=[{"role": "user", "content": "q"}],
        response_format={"type": "json_object", "schema": {"a": 1, "b": 2}},
    )
    router.complete(
        model="m",
        messages=[{"content": "q", "role": "user"}],
        response_format={"schema": {"b": 2, "a": 1}, "type": "json_object"},
    )
    assert len(fake.calls) == 1


def test_ttl_expiry_through_the_injected_timer() -> None:
    clock = Clock()
    fake = FakeProvider("x")
    router = _router(fake, cache_backend=MemoryCacheBackend(timer=clock), cache_enabled=True)
    router.complete(model="m", messages=MSG, cache_ttl=10)
    clock.now = 9.9
    router.complete(model="m", messages=MSG, cache_ttl=10)
    assert len(fake.calls) == 1
    clock.now = 10.1
    router.complete(model="m", messages=MSG, cache_ttl=10)
    assert len(fake.calls) == 2


def test_router_default_ttl_is_30_days() -> None:
    clock = Clock()
    fake = FakeProvider("x")
    router = _router(fake, cache_backend=MemoryCacheBackend(timer=clock), cache_enabled=True)
    router.complete(model="m", messages=MSG)
    clock.now = 30 * 24 * 3600 - 1
    router.complete(model="m", messages=MSG)
    assert len(fake.calls) == 1
    clock.now = 30 * 24 * 3600 + 1
    router.complete(model="m", messages=MSG)
    assert len(fake.calls) == 2


def test_errors_are_never_cached() -> None:
    fake = FakeProvider().script("m", Failure(500), Reply("recovered"))
    router = _router(fake, cache_enabled=True)
    with pytest.raises(ProviderError):
        router.complete(model="m", messages=MSG)
    assert router.complete(model="m", messages=MSG).choices[0].message.content == "recovered"
    assert len(fake.calls) == 2
    assert router.cache.stats.entries == 1


def test_bound_holds_under_many_distinct_keys() -> None:
    fake = FakeProvider("x")
    router = _router(fake, cache_backend=MemoryCacheBackend(maxsize=500), cache_enabled=True)
    for i in range(20_000):
        router.complete(model="m", messages=[{"role": "user", "content": f"q{i}"}])
    assert router.cache.stats.entries == 500
    router.cache.clear()
    assert router.cache.stats.entries == 0


async def test_100_concurrent_identical_async_calls_make_one_provider_call() -> None:
    fake = FakeProvider(Reply("shared", latency=0.05))
    router = _router(fake, cache_enabled=True)
    out = await asyncio.gather(*(router.acomplete(model="m", messages=MSG) for _ in range(100)))
    assert len(fake.calls) == 1
    assert {o.choices[0].message.content for o in out} == {"shared"}
    assert len({id(o) for o in out}) == 100  # each caller has its own object


def test_16_threads_identical_calls_make_one_provider_call() -> None:
    fake = FakeProvider(Reply("shared", latency=0.1))
    router = _router(fake, cache_enabled=True)
    barrier = threading.Barrier(16)
    results: list[str] = []

    def work() -> None:
        barrier.wait()
        results.append(router.complete(model="m", messages=MSG).choices[0].message.content)

    threads = [threading.Thread(target=work) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["shared"] * 16
    assert len(fake.calls) == 1


async def test_concurrent_identical_misses_share_an_error_without_caching_it() -> None:
    fake = FakeProvider().script("m", Failure(503, latency=0.05)).set_default("m", "later")
    router = _router(fake, cache_enabled=True)
    out = await asyncio.gather(
        *(router.acomplete(model="m", messages=MSG) for _ in range(10)), return_exceptions=True
    )
    assert all(isinstance(o, ProviderError) for o in out)
    assert len(fake.calls) == 1
    assert (await router.acomplete(model="m", messages=MSG)).choices[0].message.content == "later"


def _text(chunks: list) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_completed_stream_fills_the_cache_and_a_hit_replays_chunks() -> None:
    fake = FakeProvider(Reply("one two three"))
    router = _router(fake, cache_enabled=True)
    first = list(router.complete(model="m", messages=MSG, stream=True))
    replay = list(router.complete(model="m", messages=MSG, stream=True))
    assert len(fake.calls) == 1
    assert _text(replay) == _text(first) == "one two three"
    assert len(replay) == len(first)


async def test_async_stream_hit_replays() -> None:
    fake = FakeProvider(Reply("a b"))
    router = _router(fake, cache_enabled=True)
    first = [c async for c in await router.acomplete(model="m", messages=MSG, stream=True)]
    again = [c async for c in await router.acomplete(model="m", messages=MSG, stream=True)]
    assert _text(again) == _text(first) and len(fake.calls) == 1


def test_interrupted_or_closed_streams_are_not_stored() -> None:
    fake = FakeProvider().script("m", Failure(500, after_chunks=1)).set_default("m", "w " * 9)
    router = _router(fake, cache_enabled=True)
    with pytest.raises(StreamInterruptedError):
        list(router.complete(model="m", messages=MSG, stream=True))
    with router.complete(model="m", messages=MSG, stream=True) as stream:
        next(stream)
    list(router.complete(model="m", messages=MSG, stream=True))
    assert len(fake.calls) == 3
    list(router.complete(model="m", messages=MSG, stream=True))
    assert len(fake.calls) == 3


def test_hit_returns_before_planning_and_dispatch(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeProvider("x")
    router = _router(fake, cache_enabled=True)
    router.complete(model="m", messages=MSG)

    def no_planning(request: object) -> None:
        raise AssertionError("a cache hit must not plan")

    monkeypatch.setattr(router._planner, "attempts", no_planning)  # plan() asks it too
    out = router.complete(model="m", messages=MSG)
    assert out.choices[0].message.content == "x" and len(fake.calls) == 1


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_miss_that_loses_the_race_to_a_finished_leader_does_not_fetch_again(
    mode: str,
) -> None:
    # Thread B's lookup misses; leader A then stores its answer and leaves the flight;
    # B reaches the flight with no leader in it: it must find A's answer, not fetch.

    stage = CacheStage(ResponseCache(), enabled=True)
    request = build_request({"model": "m", "messages": MSG})
    key = stage.key(request)
    assert key is not None
    answer = FakeProvider(Reply("from A")).complete(ProviderCall("m", "m", "fake", MSG))
    assert stage.lookup(key) is None  # B misses
    stage.cache.set_completion(key, answer)  # A finishes
    fetched: list[int] = []

    def fetch() -> object:
        fetched.append(1)
        return answer

    async def afetch() -> object:
        return fetch()

    if mode == "sync":
        out, led = stage.shared(key, request, fetch)  # type: ignore[arg-type]
    else:
        out, led = await stage.ashared(key, request, afetch)  # type: ignore[arg-type]
    assert fetched == [] and led is False
    assert out.choices[0].message.content == "from A"
    stats = stage.cache.stats
    assert (stats.hits, stats.misses) == (1, 0)  # B was served from the cache after all


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("echo", True),
        ("min_p", 0.1),
        ("repetition_penalty", 1.2),
        ("safety_settings", [{"category": "HARM_CATEGORY_X", "threshold": "BLOCK_NONE"}]),
        ("mock_response", "a scripted answer"),
        ("top_k", 5),
        ("brand_new_provider_option", {"anything": 1}),
        ("extra_headers", {"anthropic-beta": "prompt-caching-2024-07-31"}),
    ],
)
def test_every_parameter_sent_to_the_provider_is_in_the_key(name: str, value: object) -> None:
    fake = FakeProvider("ok")
    router = _router(fake)
    router.complete(model="m", messages=MSG, cache_enabled=True)
    router.complete(model="m", messages=MSG, cache_enabled=True, **{name: value})
    assert len(fake.calls) == 2  # an entry made without the option never answers it
    router.complete(model="m", messages=MSG, cache_enabled=True, **{name: value})
    assert len(fake.calls) == 2  # the same option again: a hit


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("metadata", {"run": "2"}),
        ("properties", {"k": [1]}),
        ("user", "someone"),
        ("customer_identifier", "c-2"),
        ("timeout", 12.0),
        ("store", True),
        ("extra_headers", {"traceparent": "00-abc-def-01", "X-Request-Id": "r2"}),
    ],
)
def test_fields_that_cannot_change_the_answer_are_not_in_the_key(name: str, value: object) -> None:
    fake = FakeProvider("ok")
    router = _router(fake)
    router.complete(model="m", messages=MSG, cache_enabled=True)
    router.complete(model="m", messages=MSG, cache_enabled=True, **{name: value})
    assert len(fake.calls) == 1


def test_a_bare_call_and_the_same_call_with_respan_parameters_share_the_entry() -> None:
    """The key of a call of only model and messages (worked out the short way) is the
    key the general path gives the same call with Respan parameters that key nothing."""
    fake = FakeProvider("x")
    router = _router(fake, cache_enabled=True)
    router.complete(model="m", messages=MSG)
    router.complete(model="m", messages=MSG, cache_enabled=True, metadata={"a": "b"})
    router.complete(model="m", messages=MSG, cache_options={"is_cached_by_model": True})
    assert len(fake.calls) == 1
    router.complete(model="m", messages=MSG, temperature=0.5)  # a parameter sent: its own key
    assert len(fake.calls) == 2
