"""A cache hit's copy of the stored answer: equal to a fresh decoding, sharing nothing with
the stored template or another hit, whatever the caller changes in what it got."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

from respan_router import Router
from respan_router.cache import ResponseCache, decode_completion, encode_completion
from respan_router.cache._copies import StoredCopies, copier
from respan_router.responses import completion_from_dict, completion_type, extra_field
from respan_router.testing import FakeProvider, Reply
from tests.helpers import MSG
from tests.upstream import maximal_completion


def _maximal() -> Any:
    return completion_from_dict(maximal_completion())


def _containers(value: Any, out: list[Any]) -> list[Any]:
    """Every model, list and dict of a tree (extras included), in a fixed order."""
    if isinstance(value, BaseModel):
        out.append(value)
        for item in value.__dict__.values():
            _containers(item, out)
        if value.__pydantic_extra__ is not None:
            out.append(value.__pydantic_extra__)
            _containers(value.__pydantic_extra__, out)
        out.append(value.__pydantic_fields_set__)
    elif isinstance(value, list):
        out.append(value)
        for item in value:
            _containers(item, out)
    elif isinstance(value, dict):
        out.append(value)
        for item in value.values():
            _containers(item, out)
    return out


def _same_tree(a: Any, b: Any) -> None:
    assert a == b
    assert type(a) is type(b)
    assert a.model_dump(exclude_unset=True) == b.model_dump(exclude_unset=True)
    assert a.model_dump_json() == b.model_dump_json()
    assert encode_completion(a) == encode_completion(b)
    left, right = _containers(a, []), _containers(b, [])
    assert [type(x) for x in left] == [type(x) for x in right]
    for x, y in zip(left, right, strict=True):
        if isinstance(x, set):
            assert x == y  # every node's fields-set
    shared = {id(x) for x in left} & {id(y) for y in right}
    assert not shared, "a copy shares a model, list, dict or fields-set with its source"


@pytest.mark.parametrize(
    "template",
    [
        _maximal(),
        decode_completion(encode_completion(_maximal())),
        completion_from_dict(
            {**maximal_completion(), "x_nested": {"a": [{"b": [1, {"c": None}]}], "d": []}}
        ),
        # an answer the SDK's types reject, held as its lenient construct() built it
        completion_type().construct(id="x", choices=[{"bad": [1]}], created=1, model="m"),
    ],
)
def test_a_copy_is_equal_and_shares_nothing(template: Any) -> None:
    make = copier(template)
    assert make is not None
    first, second = make(), make()
    _same_tree(first, template)
    _same_tree(second, template)
    _same_tree(first, second)


def test_a_tree_with_an_unknown_value_has_no_copier() -> None:
    odd = completion_type().construct(id="x", choices=[], created=1, model="m", extra={1, 2})
    assert copier(odd) is None


def _change_everything(got: Any) -> None:
    message = got.choices[0].message
    message.content = "changed"
    message.tool_calls[0].function.arguments = "{}"
    message.tool_calls.append(message.tool_calls[0])
    got.choices[0].logprobs.content[0].bytes.append(0)
    got.choices.append(got.choices[0])
    got.usage.prompt_tokens = 10**6
    got.usage.prompt_tokens_details.cached_tokens = 99
    got.x_unknown["kept"].append("four")
    got.request_breakdown = {"cached": True}
    got.system_fingerprint = None


def test_changing_a_hit_changes_no_later_hit() -> None:
    cache = ResponseCache()
    stored = _maximal()
    cache.set_completion("k", stored)
    expected = decode_completion(encode_completion(stored))
    for _ in range(3):  # the first decodes, the next are copies of its template
        got = cache.peek_completion("k")
        assert got is not None
        _same_tree(got, expected)
        _change_everything(got)
        assert got != expected


def test_an_entry_written_again_is_decoded_again() -> None:
    cache = ResponseCache()
    cache.set_completion("k", completion_from_dict({**maximal_completion(), "id": "one"}))
    assert cache.peek_completion("k").id == "one"  # type: ignore[union-attr]
    cache.set_completion("k", completion_from_dict({**maximal_completion(), "id": "two"}))
    assert cache.peek_completion("k").id == "two"  # type: ignore[union-attr]
    cache.clear()
    assert cache.peek_completion("k") is None


def test_a_copy_follows_the_stored_bytes_not_the_key() -> None:
    copies = StoredCopies(limit=2)
    data = {name: encode_completion(completion_from_dict({**maximal_completion(), "id": name}))
            for name in "abc"}  # fmt: skip
    for _ in range(2):
        for name in "abc":  # three entries, two templates held: the oldest is dropped
            assert copies.completion(name, data[name]).id == name
    assert copies.completion("a", data["b"]).id == "b"  # other bytes under a held key
    assert copies.completion("a", bytes(data["a"])).id == "a"  # equal bytes, another object


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_router_hits_are_independent_of_each_other(mode: str) -> None:
    fake = FakeProvider(Reply("the answer", usage=(3, 2)))
    router = Router(provider=fake, cache_enabled=True)

    def call(**kw: Any) -> Any:
        if mode == "sync":
            return router.complete(model="m", messages=MSG, **kw)
        return asyncio.run(router.acomplete(model="m", messages=MSG, **kw))

    first = call(request_breakdown=True)
    assert extra_field(first, "request_breakdown")["cached"] is False  # the miss
    hits = [call(request_breakdown=True), call(), call(request_breakdown=True)]
    assert len(fake.calls) == 1
    for hit in hits:
        assert hit.choices[0].message.content == "the answer"
        hit.choices[0].message.content = "changed by the caller"
        hit.usage.total_tokens = 0
    assert extra_field(hits[0], "request_breakdown")["cached"] is True
    assert extra_field(hits[2], "request_breakdown")["cached"] is True
    assert extra_field(hits[1], "request_breakdown") is None  # not the previous hit's
    last = call()
    assert last.choices[0].message.content == "the answer"
    assert last.usage == first.usage
    assert last.model_dump(exclude={"request_breakdown"}) == first.model_dump(
        exclude={"request_breakdown"}
    )
    assert (router.cache.stats.hits, router.cache.stats.misses) == (4, 1)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_hit_and_a_miss_record_what_they_did(mode: str) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    fake = FakeProvider(Reply("the answer", usage=(3, 2)))
    router = Router(provider=fake, cache_enabled=True, tracer_provider=provider)
    for _ in range(2):
        if mode == "sync":
            router.complete(model="m", messages=MSG)
        else:
            asyncio.run(router.acomplete(model="m", messages=MSG))
    spans = exporter.get_finished_spans()
    calls = [s for s in spans if s.parent is None]
    tries = [s for s in spans if s.parent is not None]
    assert [bool((s.attributes or {}).get("respan.cache.hit")) for s in calls] == [False, True]
    assert len(tries) == 1 and tries[0].parent.span_id == calls[0].context.span_id  # type: ignore[union-attr]
    for call in calls:
        assert (call.attributes or {})["gen_ai.usage.input_tokens"] == 3
    provider.shutdown()
