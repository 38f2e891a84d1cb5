"""LiteLLMProvider over real HTTP against the local fake upstream."""

from __future__ import annotations

import subprocess
import sys
import traceback
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from respan_router._secrets import Credentials
from respan_router.errors import (
    AuthenticationError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    NotFoundError,
    PermissionDeniedError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    RouterError,
    StreamInterruptedError,
)
from respan_router.providers import LiteLLMProvider, Provider, ProviderCall
from respan_router.providers._litellm_errors import parse_retry_after
from tests.upstream import Behaviour, Drop, Error, FakeUpstream, Reply

API_KEY = "sk-test-0123456789abcdef"
TIMEOUT = 0.5
MESSAGES = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module")
def provider() -> LiteLLMProvider:
    return LiteLLMProvider()


def make_call(upstream: FakeUpstream, **params: object) -> ProviderCall:
    return ProviderCall(
        model="fast",
        litellm_model="openai/test-model",
        provider="openai",
        messages=MESSAGES,
        params=params,
        credentials=Credentials({"api_key": API_KEY, "api_base": upstream.base_url}),
        timeout=TIMEOUT,
    )


def test_is_a_provider(provider: LiteLLMProvider) -> None:
    assert isinstance(provider, Provider)


# -- replies ------------------------------------------------------------------------------------


def check_reply(result: ChatCompletion, upstream: FakeUpstream) -> None:
    assert isinstance(result, ChatCompletion)
    assert result.model == "test-model"  # as the upstream answered
    assert result.choices[0].message.content == "Hi there!"
    assert result.choices[0].finish_reason == "stop"
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (11, 3)
    assert result.usage.total_tokens == 14
    (request,) = upstream.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.body["model"] == "test-model"
    assert request.body["messages"] == MESSAGES
    assert request.body["temperature"] == 0.2


REPLY = Reply("Hi there!", usage={"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14})


def test_complete_round_trip(provider: LiteLLMProvider, upstream: FakeUpstream) -> None:
    upstream.enqueue(REPLY)
    check_reply(provider.complete(make_call(upstream, temperature=0.2)), upstream)


async def test_acomplete_round_trip(provider: LiteLLMProvider, upstream: FakeUpstream) -> None:
    upstream.enqueue(REPLY)
    check_reply(await provider.acomplete(make_call(upstream, temperature=0.2)), upstream)


def test_tool_calls_round_trip(provider: LiteLLMProvider, upstream: FakeUpstream) -> None:
    call_dict = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "lookup", "arguments": '{"q": "x"}'},
    }
    upstream.enqueue(Reply(None, tool_calls=[call_dict], finish_reason="tool_calls"))
    result = provider.complete(make_call(upstream))
    (tool_call,) = result.choices[0].message.tool_calls or []
    assert (tool_call.id, tool_call.function.name) == ("call_1", "lookup")
    assert tool_call.function.arguments == '{"q": "x"}'
    assert result.choices[0].finish_reason == "tool_calls"


def test_our_retries_and_stream_flag_win_over_params(
    provider: LiteLLMProvider, upstream: FakeUpstream
) -> None:
    upstream.enqueue(Error(500, "boom"))
    with pytest.raises(ProviderError):
        provider.complete(make_call(upstream, num_retries=3, max_retries=3))
    assert len(upstream.requests) == 1
    result = provider.complete(make_call(upstream, stream=True))
    assert isinstance(result, ChatCompletion)
    assert upstream.requests[-1].body.get("stream") in (None, False)


# -- errors -------------------------------------------------------------------------------------

ERROR_CASES: dict[str, tuple[Behaviour, type[RouterError], int]] = {
    "400": (Error(400, "bad request"), ProviderBadRequestError, 400),
    "400-context-window": (
        Error(
            400, "This model's maximum context length is 8 tokens.", code="context_length_exceeded"
        ),
        ContextWindowExceededError,
        400,
    ),
    "400-content-policy-code": (
        Error(
            400,
            "Your request was rejected as a result of our safety system.",
            code="content_policy_violation",
        ),
        ContentPolicyViolationError,
        400,
    ),
    "400-content-policy-message": (
        Error(400, "Invalid prompt: your prompt was flagged as violating our usage policy."),
        ContentPolicyViolationError,
        400,
    ),
    "401": (Error(401, "bad key", code="invalid_api_key"), AuthenticationError, 401),
    "403": (Error(403, "not allowed"), PermissionDeniedError, 403),
    "404": (Error(404, "no such model", code="model_not_found"), NotFoundError, 404),
    "408": (Error(408, "request timeout"), ProviderTimeoutError, 408),
    "409": (Error(409, "conflict"), ProviderError, 409),
    "422": (Error(422, "unprocessable"), ProviderBadRequestError, 422),
    "429": (Error(429, "slow down"), RateLimitError, 429),
    "500": (Error(500, "boom", type="server_error"), ProviderError, 500),
    "502": (Error(502, "bad gateway", type="server_error"), ProviderError, 502),
    "503": (Error(503, "unavailable", type="server_error"), ProviderError, 503),
    "504": (Error(504, "gateway timeout", type="server_error"), ProviderTimeoutError, 504),
    "dropped-connection": (Drop(), ProviderConnectionError, 503),
    "slower-than-timeout": (Reply(delay=TIMEOUT + 0.5), ProviderTimeoutError, 408),
}


def check_error(
    err: RouterError, expected: type[RouterError], status: int, upstream: FakeUpstream
) -> None:
    assert type(err) is expected, repr(err)
    assert err.status_code == status
    assert isinstance(err, ProviderError)
    assert (err.model, err.provider) == ("fast", "openai")
    assert err.__cause__ is not None
    assert len(upstream.requests) == 1


@pytest.mark.parametrize("case", ERROR_CASES)
def test_complete_error(provider: LiteLLMProvider, upstream: FakeUpstream, case: str) -> None:
    behaviour, expected, status = ERROR_CASES[case]
    upstream.enqueue(behaviour)
    with pytest.raises(RouterError) as info:
        provider.complete(make_call(upstream))
    check_error(info.value, expected, status, upstream)


@pytest.mark.parametrize("case", ERROR_CASES)
async def test_acomplete_error(
    provider: LiteLLMProvider, upstream: FakeUpstream, case: str
) -> None:
    behaviour, expected, status = ERROR_CASES[case]
    upstream.enqueue(behaviour)
    with pytest.raises(RouterError) as info:
        await provider.acomplete(make_call(upstream))
    check_error(info.value, expected, status, upstream)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [({"retry-after": "2"}, 2.0), ({"Retry-After-Ms": "1500"}, 1.5), ({}, None)],
)
def test_rate_limit_retry_after(
    provider: LiteLLMProvider,
    upstream: FakeUpstream,
    headers: dict[str, str],
    seconds: float | None,
) -> None:
    upstream.enqueue(Error(429, "slow down", headers=headers))
    with pytest.raises(RateLimitError) as info:
        provider.complete(make_call(upstream))
    assert info.value.retry_after == seconds
    assert len(upstream.requests) == 1


async def test_rate_limit_retry_after_async(
    provider: LiteLLMProvider, upstream: FakeUpstream
) -> None:
    upstream.enqueue(Error(429, "slow down", headers={"retry-after": "3"}))
    with pytest.raises(RateLimitError) as info:
        await provider.acomplete(make_call(upstream))
    assert info.value.retry_after == 3.0


def test_parse_retry_after_forms() -> None:
    now = 1_700_000_000.0
    date = format_datetime(datetime.fromtimestamp(now + 30, tz=UTC), usegmt=True)
    assert parse_retry_after({"Retry-After": date}, now=now) == 30.0
    assert parse_retry_after({"retry-after": date}, now=now + 60) == 0.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after(None) is None


def all_text(err: BaseException) -> str:
    return "".join(traceback.format_exception(err))


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_error_messages_are_redacted(
    provider: LiteLLMProvider, upstream: FakeUpstream, mode: str
) -> None:
    upstream.enqueue(Error(401, f"Incorrect API key provided: {API_KEY}.", code="invalid_api_key"))
    with pytest.raises(AuthenticationError) as info:
        if mode == "sync":
            provider.complete(make_call(upstream))
        else:
            await provider.acomplete(make_call(upstream))
    err = info.value
    assert "Incorrect API key provided: ***" in err.message
    for text in (err.message, repr(err), str(err), str(err.__cause__), repr(err.__cause__)):
        assert API_KEY not in text
    assert API_KEY not in all_text(err)


# -- streaming ----------------------------------------------------------------------------------


def contents(chunks: list[ChatCompletionChunk]) -> list[str | None]:
    return [c.choices[0].delta.content for c in chunks if c.choices]


STREAM_REPLY = Reply(
    "Hello, streaming world!",
    pieces=4,
    usage={"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9},
)


def check_stream(chunks: list[ChatCompletionChunk], upstream: FakeUpstream) -> None:
    assert all(isinstance(c, ChatCompletionChunk) and c.model == "test-model" for c in chunks)
    assert [t for t in contents(chunks) if t] == ["Hello,", " strea", "ming w", "orld!"]
    finish = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finish[-1] == "stop"
    usage = [c.usage for c in chunks if c.usage is not None]
    assert usage and usage[-1].total_tokens == 9
    (request,) = upstream.requests
    assert request.body["stream"] is True
    # The server counts a stream after its last write, which may land after our read.
    assert upstream.wait_for(lambda: upstream.streams_completed == 1)


def test_stream_chunks_in_order_with_usage(
    provider: LiteLLMProvider, upstream: FakeUpstream
) -> None:
    upstream.enqueue(STREAM_REPLY)
    chunks = list(provider.stream(make_call(upstream, stream_options={"include_usage": True})))
    check_stream(chunks, upstream)


async def test_astream_chunks_in_order_with_usage(
    provider: LiteLLMProvider, upstream: FakeUpstream
) -> None:
    upstream.enqueue(STREAM_REPLY)
    call = make_call(upstream, stream_options={"include_usage": True})
    chunks = [c async for c in provider.astream(call)]
    check_stream(chunks, upstream)


def test_stream_sends_nothing_until_iterated(
    provider: LiteLLMProvider, upstream: FakeUpstream
) -> None:
    stream = provider.stream(make_call(upstream))
    stream.close()  # type: ignore[attr-defined]
    assert upstream.requests == []


def test_stream_break_midway(provider: LiteLLMProvider, upstream: FakeUpstream) -> None:
    upstream.enqueue(Reply("abcdefgh", pieces=4, break_after=2))
    got: list[ChatCompletionChunk] = []
    with pytest.raises(StreamInterruptedError) as info:
        for chunk in provider.stream(make_call(upstream)):
            got.append(chunk)
    assert contents(got) == ["ab", "cd"]
    assert info.value.status_code == 502
    assert (info.value.model, info.value.provider) == ("fast", "openai")
    assert len(upstream.requests) == 1


async def test_astream_break_midway(provider: LiteLLMProvider, upstream: FakeUpstream) -> None:
    upstream.enqueue(Reply("abcdefgh", pieces=4, break_after=2))
    got: list[ChatCompletionChunk] = []
    with pytest.raises(StreamInterruptedError):
        async for chunk in provider.astream(make_call(upstream)):
            got.append(chunk)
    assert contents(got) == ["ab", "cd"]
    assert len(upstream.requests) == 1


def test_stream_break_before_first_chunk_is_a_connection_error(
    provider: LiteLLMProvider, upstream: FakeUpstream
) -> None:
    upstream.enqueue(Reply("abcdefgh", pieces=4, break_after=0))
    with pytest.raises(ProviderConnectionError):
        list(provider.stream(make_call(upstream)))
    assert len(upstream.requests) == 1


async def test_astream_break_before_first_chunk_is_a_connection_error(
    provider: LiteLLMProvider, upstream: FakeUpstream
) -> None:
    upstream.enqueue(Reply("abcdefgh", pieces=4, break_after=0))
    with pytest.raises(ProviderConnectionError):
        [c async for c in provider.astream(make_call(upstream))]


def test_stream_timeout_midway_is_interrupted(
    provider: LiteLLMProvider, upstream: FakeUpstream
) -> None:
    upstream.enqueue(Reply("abcdefgh", pieces=4, chunk_delay=TIMEOUT + 0.5))
    got: list[ChatCompletionChunk] = []
    with pytest.raises(StreamInterruptedError) as info:
        for chunk in provider.stream(make_call(upstream)):
            got.append(chunk)
    assert contents(got) == ["ab"]
    assert isinstance(info.value.__cause__, Exception)


async def test_astream_timeout_before_first_chunk(
    provider: LiteLLMProvider, upstream: FakeUpstream
) -> None:
    upstream.enqueue(Reply("abcdefgh", first_chunk_delay=TIMEOUT + 0.5))
    with pytest.raises(ProviderTimeoutError):
        [c async for c in provider.astream(make_call(upstream))]


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        (Error(429, "slow down", headers={"retry-after": "1"}), RateLimitError),
        (Error(400, "bad", code="context_length_exceeded"), ContextWindowExceededError),
        (Drop(), ProviderConnectionError),
    ],
)
async def test_stream_errors_before_first_chunk(
    provider: LiteLLMProvider,
    upstream: FakeUpstream,
    behaviour: Error | Drop,
    expected: type[RouterError],
) -> None:
    upstream.enqueue(behaviour, behaviour)
    with pytest.raises(expected):
        list(provider.stream(make_call(upstream)))
    with pytest.raises(expected):
        [c async for c in provider.astream(make_call(upstream))]
    assert len(upstream.requests) == 2


SLOW_STREAM = Reply("x" * 40, pieces=40, chunk_delay=0.02)


def test_stream_early_close_reaches_upstream(
    provider: LiteLLMProvider, upstream: FakeUpstream
) -> None:
    upstream.enqueue(SLOW_STREAM)
    stream = provider.stream(make_call(upstream))
    assert contents([next(stream), next(stream)]) == ["x", "x"]
    stream.close()  # type: ignore[attr-defined]
    assert upstream.wait_for(lambda: upstream.disconnects == 1)
    assert upstream.streams_completed == 0


async def test_astream_early_close_reaches_upstream(
    provider: LiteLLMProvider, upstream: FakeUpstream
) -> None:
    upstream.enqueue(SLOW_STREAM)
    stream = provider.astream(make_call(upstream))
    assert contents([await anext(stream), await anext(stream)]) == ["x", "x"]
    await stream.aclose()  # type: ignore[attr-defined]
    assert await upstream.async_wait_for(lambda: upstream.disconnects == 1)
    assert upstream.streams_completed == 0


async def test_stream_redacts_secrets(provider: LiteLLMProvider, upstream: FakeUpstream) -> None:
    upstream.enqueue(Error(401, f"bad key {API_KEY}"), Error(401, f"bad key {API_KEY}"))
    with pytest.raises(AuthenticationError) as info:
        list(provider.stream(make_call(upstream)))
    assert API_KEY not in all_text(info.value)
    with pytest.raises(AuthenticationError) as ainfo:
        [c async for c in provider.astream(make_call(upstream))]
    assert API_KEY not in all_text(ainfo.value)


# -- provider_of and lazy import ----------------------------------------------------------------


def test_provider_of(provider: LiteLLMProvider) -> None:
    assert provider.provider_of("openai/gpt-4o") == "openai"
    assert provider.provider_of("azure/my-deployment") == "azure"
    assert provider.provider_of("gpt-4o-mini") == "openai"
    assert provider.provider_of("gpt-4o-mini") == "openai"  # memoised


def test_provider_of_unknown(provider: LiteLLMProvider, capsys: pytest.CaptureFixture[str]) -> None:
    assert provider.provider_of("surely-not-a-model-name") == "unknown"


def test_import_does_not_import_litellm() -> None:
    code = (
        "import sys\n"
        "from respan_router.providers import LiteLLMProvider\n"
        "p = LiteLLMProvider()\n"
        "assert p.provider_of('openai/gpt-4o') == 'openai'\n"
        "assert 'litellm' not in sys.modules, 'litellm was imported'\n"
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
