import dataclasses
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from respan_router.cache.codec import (
    CodecError,
    decode_chunks,
    decode_completion,
    encode_chunks,
    encode_completion,
)
from respan_router.responses import (
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChunkChoice,
    Delta,
    FunctionCall,
    Message,
    ToolCall,
    Usage,
)


def completion(**kw: object) -> ChatCompletion:
    base: dict[str, object] = {
        "id": "chatcmpl-abc",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [Choice(Message("Hello, world!"), finish_reason="stop")],
        "usage": Usage(12, 4, 16),
        "created": 1_700_000_000,
        "system_fingerprint": "fp_1",
    }
    base.update(kw)
    return ChatCompletion(**base)  # type: ignore[arg-type]


def tool_calls() -> list[ToolCall]:
    return [
        ToolCall("call_1", FunctionCall("get_weather", '{"city": "Oslo"}')),
        ToolCall("call_2", FunctionCall("get_time", "{}"), type="function", index=1),
    ]


def test_completion_round_trip() -> None:
    resp = completion()
    out = decode_completion(encode_completion(resp))
    assert out == resp
    assert out.choices[0].message.content == "Hello, world!"
    assert out.usage == Usage(12, 4, 16)
    assert (out.id, out.model, out.created) == (resp.id, resp.model, resp.created)


def test_completion_with_tool_calls_refusal_logprobs_and_several_choices() -> None:
    logprobs = {"content": [{"token": "Hi", "logprob": -0.1, "bytes": [72, 105]}]}
    resp = completion(
        choices=[
            Choice(Message(None, tool_calls=tool_calls()), finish_reason="tool_calls"),
            Choice(Message("no", refusal="I can't"), index=1, finish_reason="stop"),
            Choice(Message("x", tool_calls=[]), index=2, finish_reason="length", logprobs=logprobs),
            Choice(Message("", role="assistant"), index=3, finish_reason=None),
        ],
        usage=None,
        system_fingerprint=None,
    )
    out = decode_completion(encode_completion(resp))
    assert out == resp
    assert out.choices[0].message.tool_calls == tool_calls()
    assert out.choices[2].message.tool_calls == []  # empty stays empty, None stays None
    assert out.choices[1].message.tool_calls is None


def test_text_of_every_kind_round_trips() -> None:
    text = 'quotes " and \\ backslash\nnewline \t tab \x00 nul é 日本語 🎉 \ud800 lone surrogate'
    resp = completion(choices=[Choice(Message(text))])
    assert decode_completion(encode_completion(resp)).choices[0].message.content == text


def test_request_breakdown_is_not_stored() -> None:
    resp = completion(request_breakdown={"cached": False, "latency": 1.2})
    out = decode_completion(encode_completion(resp))
    assert out.request_breakdown is None
    assert dataclasses.replace(out, request_breakdown=resp.request_breakdown) == resp


def test_decoding_builds_new_objects() -> None:
    data = encode_completion(completion())
    a, b = decode_completion(data), decode_completion(data)
    a.choices[0].message.content = "changed"
    assert b.choices[0].message.content == "Hello, world!"


def chunk(content: str | None = None, **kw: object) -> ChatCompletionChunk:
    base: dict[str, object] = {
        "id": "chatcmpl-abc",
        "model": "gpt-4o",
        "choices": [ChunkChoice(Delta(content=content))],
        "created": 1_700_000_000,
    }
    base.update(kw)
    return ChatCompletionChunk(**base)  # type: ignore[arg-type]


def test_chunks_round_trip() -> None:
    chunks = [
        chunk(choices=[ChunkChoice(Delta(role="assistant", content=""))]),
        chunk("Hel"),
        chunk("lo"),
        chunk(choices=[ChunkChoice(Delta(tool_calls=[tool_calls()[1]]))]),
        chunk(choices=[ChunkChoice(Delta(), finish_reason="stop", logprobs={"content": []})]),
        chunk(choices=[], usage=Usage(3, 2, 5)),
    ]
    out = decode_chunks(encode_chunks(chunks))
    assert out == chunks
    assert "".join(c.choices[0].delta.content or "" for c in out if c.choices) == "Hello"
    assert out[-1].usage == Usage(3, 2, 5)
    assert out[3].choices[0].delta.tool_calls[0].index == 1  # type: ignore[index]


def test_no_chunks_round_trips() -> None:
    assert decode_chunks(encode_chunks([])) == []


def test_chunk_request_breakdown_is_not_stored() -> None:
    chunks = [chunk("a", request_breakdown={"cached": False})]
    assert decode_chunks(encode_chunks(chunks))[0].request_breakdown is None


def test_encoding_is_compact_utf8_json() -> None:
    data = encode_completion(completion(choices=[Choice(Message("é"))]))
    assert b" " not in data.replace(b"Hello, world!", b"")
    assert "é".encode() in data
    json.loads(data)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"{}",
        b"[]",
        b"[1, 2, 3]",
        b'["chat.completion/0", "id", "m", 1, "o", null, null, []]',
        b'["chat.completion/2", "id", "m", 1, "o", null, null, [[1]]]',
        b'["chat.completion/2", "id", "m", 1, "o", null, null, 5]',
        b'["chat.completion/2", "id", "m", 1, "o", null, [1], []]',
        b'["chat.completion/2", "id", "m", 1, "o", null, null, []] trailing',
        b'["chat.completion/2", "id", "m", 1, "o", null, null, []]\n',
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
        decode_completion(encode_chunks([chunk("x")]))


def test_truncated_bytes_are_a_codec_error() -> None:
    data = encode_completion(completion(choices=[Choice(Message("é" * 10))]))
    for cut in range(len(data)):
        with pytest.raises(CodecError):
            decode_completion(data[:cut])


def test_codec_error_is_a_value_error() -> None:
    assert issubclass(CodecError, ValueError)


@pytest.mark.parametrize(
    ("cls", "names"),
    [
        (
            ChatCompletion,
            # request_breakdown and prompt_message describe one call: never stored
            "id model choices usage created object system_fingerprint request_breakdown "
            "prompt_message",
        ),
        (ChatCompletionChunk, "id model choices usage created object request_breakdown"),
        (Choice, "message index finish_reason logprobs"),
        (ChunkChoice, "delta index finish_reason logprobs"),
        (Message, "content role tool_calls refusal"),
        (Delta, "content role tool_calls"),
        (ToolCall, "id function type index"),
        (FunctionCall, "name arguments"),
        (Usage, "prompt_tokens completion_tokens total_tokens cached_tokens"),
    ],
)
def test_codec_knows_every_field(cls: type, names: str) -> None:
    # The codec writes fields by position. A field added to a response type fails here
    # until the codec stores it too (and its format tag is bumped).
    assert [f.name for f in dataclasses.fields(cls)] == names.split()


# Any response the types can hold round-trips exactly.
texts = st.text(max_size=20)
opt_texts = st.none() | texts
json_scalars = st.none() | st.booleans() | st.integers() | texts
logprobs_values = st.none() | st.dictionaries(texts, st.lists(json_scalars, max_size=3), max_size=2)
tool_call_st = st.builds(
    ToolCall,
    id=texts,
    function=st.builds(FunctionCall, name=texts, arguments=texts),
    type=st.just("function"),
    index=st.none() | st.integers(0, 5),
)
calls_st = st.none() | st.lists(tool_call_st, max_size=3)
usage_st = st.none() | st.builds(
    Usage,
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
)
completion_st = st.builds(
    ChatCompletion,
    id=texts,
    model=texts,
    choices=st.lists(
        st.builds(
            Choice,
            message=st.builds(
                Message, content=opt_texts, role=texts, tool_calls=calls_st, refusal=opt_texts
            ),
            index=st.integers(0, 10),
            finish_reason=opt_texts,
            logprobs=logprobs_values,
        ),
        max_size=3,
    ),
    usage=usage_st,
    created=st.integers(0, 2**40),
    object=texts,
    system_fingerprint=opt_texts,
    request_breakdown=st.none(),
)
chunk_st = st.builds(
    ChatCompletionChunk,
    id=texts,
    model=texts,
    choices=st.lists(
        st.builds(
            ChunkChoice,
            delta=st.builds(Delta, content=opt_texts, role=opt_texts, tool_calls=calls_st),
            index=st.integers(0, 10),
            finish_reason=opt_texts,
            logprobs=logprobs_values,
        ),
        max_size=2,
    ),
    usage=usage_st,
    created=st.integers(0, 2**40),
    object=texts,
    request_breakdown=st.none(),
)
relaxed = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@relaxed
@given(completion_st)
def test_any_completion_round_trips(resp: ChatCompletion) -> None:
    assert decode_completion(encode_completion(resp)) == resp


@relaxed
@given(st.lists(chunk_st, max_size=5))
def test_any_chunks_round_trip(chunks: list[ChatCompletionChunk]) -> None:
    assert decode_chunks(encode_chunks(chunks)) == chunks
