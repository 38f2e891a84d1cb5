"""The cache codec: OpenAI responses to compact bytes and back, every field kept."""

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from respan_router.cache import (
    CodecError,
    decode_chunks,
    decode_completion,
    encode_chunks,
    encode_completion,
)
from respan_router.responses import (
    chunk_from_dict,
    completion_from_dict,
    extra_field,
    set_extra_field,
)
from tests.upstream import maximal_chunks, maximal_completion


def completion(**kw: Any) -> Any:
    base: dict[str, Any] = {
        "id": "chatcmpl-abc",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello, world!"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16},
        "created": 1_700_000_000,
        "system_fingerprint": "fp_1",
    }
    base.update(kw)
    return completion_from_dict(base)


def text_choice(text: Any) -> list[dict[str, Any]]:
    message = {"role": "assistant", "content": text}
    return [{"index": 0, "message": message, "finish_reason": "stop"}]


def test_completion_round_trip() -> None:
    resp = completion()
    out = decode_completion(encode_completion(resp))
    assert out == resp
    assert out.choices[0].message.content == "Hello, world!"
    assert out.usage is not None and out.usage.total_tokens == 16


def test_every_field_round_trips_including_unknown_ones() -> None:
    resp = completion_from_dict(maximal_completion())
    out = decode_completion(encode_completion(resp))
    assert out.model_dump() == resp.model_dump()
    assert out.model_extra == {"x_unknown": {"kept": [1, 2.5, "three"]}}
    assert out.choices[0].message.function_call is not None
    assert out.usage is not None and out.usage.prompt_tokens_details is not None
    assert out.usage.prompt_tokens_details.cached_tokens == 16


def test_only_fields_the_upstream_sent_are_stored() -> None:
    data = encode_completion(completion())
    assert b"null" not in data  # no field the upstream did not send
    assert b" " not in data.replace(b"Hello, world!", b"")
    explicit = encode_completion(completion(system_fingerprint=None))
    assert b'"system_fingerprint":null' in explicit  # an explicit null is kept


def test_text_of_every_kind_round_trips() -> None:
    text = 'quotes " and \\ backslash\nnewline \t tab \x00 nul é 日本語 🎉 \ud800 lone surrogate'
    resp = completion(choices=text_choice(text))
    assert decode_completion(encode_completion(resp)).choices[0].message.content == text


def test_request_breakdown_is_not_stored() -> None:
    resp = completion()
    set_extra_field(resp, "request_breakdown", {"cached": False, "latency": 1.2})
    out = decode_completion(encode_completion(resp))
    assert extra_field(out, "request_breakdown") is None
    assert "request_breakdown" not in out.model_dump()


def test_an_answer_the_types_reject_is_stored_as_it_came() -> None:
    resp = completion(
        choices=[{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": 7}]
    )
    assert resp.choices[0].finish_reason == 7  # built by the SDK's lenient construct
    out = decode_completion(encode_completion(resp))
    assert out.choices[0].finish_reason == 7


def test_decoding_builds_new_objects() -> None:
    data = encode_completion(completion())
    a, b = decode_completion(data), decode_completion(data)
    a.choices[0].message.content = "changed"
    assert b.choices[0].message.content == "Hello, world!"


def test_chunks_round_trip_with_every_field() -> None:
    chunks = [chunk_from_dict(c) for c in maximal_chunks()]
    out = decode_chunks(encode_chunks(chunks))
    assert [c.model_dump() for c in out] == [c.model_dump() for c in chunks]
    assert out[2].model_extra == {"x_chunk_extra": "kept"}
    assert out[-1].usage is not None and out[-1].usage.completion_tokens_details is not None


def test_no_chunks_round_trips() -> None:
    assert decode_chunks(encode_chunks([])) == []


def test_chunk_request_breakdown_is_not_stored() -> None:
    chunk = chunk_from_dict(maximal_chunks()[0])
    set_extra_field(chunk, "request_breakdown", {"cached": False})
    assert extra_field(decode_chunks(encode_chunks([chunk]))[0], "request_breakdown") is None


def test_encoding_is_compact_utf8_json() -> None:
    data = encode_completion(completion(choices=text_choice("é")))
    assert "é".encode() in data
    assert json.loads(data)[0] == "chat.completion/3"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"{}",
        b"[]",
        b"[1, 2, 3]",
        b'["chat.completion/1", "id", "m", 1, "o", null, null, []]',
        b'["chat.completion/3",{}]',
        b'["chat.completion/3",5]',
        b'["chat.completion/3",[]]',
        b'["chat.completion.chunks/3",{}]',
        b'["chat.completion.chunks/3",[5]]',
        b'["chat.completion.chunks/3",[{"choices":[]}]]',
        b'["chat.completion/3",{"id":"x"}] trailing',
    ],
)
def test_foreign_bytes_are_a_codec_error(data: bytes) -> None:
    with pytest.raises(CodecError):
        decode_completion(data)
    with pytest.raises(CodecError):
        decode_chunks(data)


def test_completion_and_chunks_are_not_confused() -> None:
    with pytest.raises(CodecError):
        decode_chunks(encode_completion(completion()))
    with pytest.raises(CodecError):
        decode_completion(encode_chunks([chunk_from_dict(maximal_chunks()[0])]))


def test_truncated_bytes_are_a_codec_error() -> None:
    data = encode_completion(completion(choices=text_choice("é" * 10)))
    for cut in range(len(data)):
        with pytest.raises(CodecError):
            decode_completion(data[:cut])


def test_codec_error_is_a_value_error() -> None:
    assert issubclass(CodecError, ValueError)


# Any answer the wire format can hold round-trips exactly, unknown fields included.
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
opt_texts = st.none() | texts
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)
tool_call_st = st.fixed_dictionaries(
    {
        "id": texts,
        "type": st.just("function"),
        "function": st.fixed_dictionaries({"name": texts, "arguments": texts}),
    }
)
finish_st = st.sampled_from(["stop", "length", "tool_calls", "content_filter", "function_call"])
message_st = st.fixed_dictionaries(
    {"role": st.just("assistant"), "content": opt_texts},
    optional={
        "refusal": opt_texts,
        "tool_calls": st.lists(tool_call_st, max_size=2),
        "x_extra": json_values,
    },
)
usage_st = st.fixed_dictionaries(
    {
        "prompt_tokens": st.integers(0, 10**6),
        "completion_tokens": st.integers(0, 10**6),
        "total_tokens": st.integers(0, 10**6),
    },
    optional={"prompt_tokens_details": st.fixed_dictionaries({"cached_tokens": st.integers(0, 9)})},
)
completion_st = st.fixed_dictionaries(
    {
        "id": texts,
        "object": st.just("chat.completion"),
        "created": st.integers(0, 2**40),
        "model": texts,
        "choices": st.lists(
            st.fixed_dictionaries(
                {"index": st.integers(0, 10), "message": message_st, "finish_reason": finish_st}
            ),
            max_size=3,
        ),
    },
    optional={"usage": usage_st, "system_fingerprint": opt_texts, "x_top": json_values},
)
relaxed = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@relaxed
@given(completion_st)
def test_any_completion_round_trips(data: dict[str, Any]) -> None:
    resp = completion_from_dict(data)
    out = decode_completion(encode_completion(resp))
    assert out == resp
    assert out.model_dump(exclude_unset=True) == data
