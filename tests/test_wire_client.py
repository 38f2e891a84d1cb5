"""``router.as_openai()`` / ``as_async_openai()`` are genuine OpenAI SDK clients whose
requests the Router serves in-process: every SDK feature comes from the SDK itself, the
wire contract is the gateway's, and errors are the SDK's own classes with the Router's
error behind them."""

from __future__ import annotations

from typing import Any

import openai
import pydantic
import pytest

from respan_router import RateLimitError, Router, StreamInterruptedError
from respan_router.wire import router_error
from tests.helpers import MSG, header
from tests.upstream import Error, FakeUpstream, Raw, Reply, maximal_chunks, maximal_completion

KEY = "sk-wire-0123456789"


def _router(upstream: FakeUpstream, **kw: Any) -> Router:
    return Router(providers={"openai": {"api_key": KEY, "api_base": upstream.base_url}}, **kw)


def _sdk(upstream: FakeUpstream) -> openai.OpenAI:
    return openai.OpenAI(base_url=upstream.base_url, api_key=KEY, max_retries=0)


# -- a genuine client ------------------------------------------------------------------
def test_clients_are_the_sdks_own(upstream: FakeUpstream) -> None:
    router = _router(upstream)
    client, aclient = router.as_openai(), router.as_async_openai()
    assert isinstance(client, openai.OpenAI) and isinstance(aclient, openai.AsyncOpenAI)
    assert client.max_retries == 0 and aclient.max_retries == 0
    assert str(client.base_url).startswith("http://respan-router.invalid/")
    assert router.as_openai(max_retries=2, organization="o").max_retries == 2
    with pytest.raises(TypeError, match="http_client"):
        router.as_openai(http_client=object())


def test_sync_stream_is_the_sdk_stream_chunk_by_chunk(upstream: FakeUpstream) -> None:
    upstream.set_default(Raw(body=maximal_completion(), events=maximal_chunks()))
    kw: dict[str, Any] = {
        "messages": MSG,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    expected = [
        c.model_dump() for c in _sdk(upstream).chat.completions.create(model="gpt-4o", **kw)
    ]
    with _router(upstream).as_openai().chat.completions.create(model="openai/gpt-4o", **kw) as s:
        got = [c.model_dump() for c in s]
    assert got == expected


def test_raw_streaming_and_options_come_from_the_sdk(upstream: FakeUpstream) -> None:
    upstream.set_default(Reply("Hi there", pieces=2))
    client = _router(upstream).as_openai()
    raw = client.chat.completions.with_raw_response.create(model="openai/gpt-4o", messages=MSG)
    assert raw.status_code == 200 and raw.headers["content-type"] == "application/json"
    assert raw.parse().choices[0].message.content == "Hi there"
    with client.chat.completions.with_streaming_response.create(
        model="openai/gpt-4o", messages=MSG, stream=True
    ) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]" and all(line.startswith("data: ") for line in lines)
    slow = client.with_options(timeout=7.5)
    assert slow.chat.completions.create(model="openai/gpt-4o", messages=MSG).choices


def test_timeout_reaches_the_router_per_attempt(upstream: FakeUpstream) -> None:
    upstream.set_default(Reply("late", delay=1.0))
    client = _router(upstream).as_openai()
    with pytest.raises(openai.APIStatusError) as info:
        client.with_options(timeout=0.2).chat.completions.create(
            model="openai/gpt-4o", messages=MSG
        )
    assert info.value.status_code == 408
    assert type(router_error(info.value)).__name__ == "ProviderTimeoutError"


class City(pydantic.BaseModel):
    name: str
    population: int


def test_parse_with_a_pydantic_model(upstream: FakeUpstream) -> None:
    upstream.set_default(Reply('{"name": "Paris", "population": 2100000}', pieces=1))
    client = _router(upstream).as_openai()
    out = client.chat.completions.parse(model="openai/gpt-4o", messages=MSG, response_format=City)
    assert out.choices[0].message.parsed == City(name="Paris", population=2100000)
    sent = upstream.requests[-1].body
    assert sent["response_format"]["type"] == "json_schema"


def test_stream_helper_of_the_sdk(upstream: FakeUpstream) -> None:
    upstream.set_default(Reply("one two three", pieces=3))
    client = _router(upstream).as_openai()
    with client.chat.completions.stream(model="openai/gpt-4o", messages=MSG) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "one two three"


# -- the wire contract -----------------------------------------------------------------
def test_respan_params_from_body_nested_and_header(upstream: FakeUpstream) -> None:
    upstream.enqueue(Error(500), model="gpt-4o")
    upstream.enqueue(Error(500), model="gpt-4o")
    upstream.enqueue(Error(500), model="gpt-4o")
    client = _router(upstream).as_openai()
    out = client.chat.completions.create(
        model="openai/gpt-4o",
        messages=MSG,
        extra_body={"fallback_models": ["openai/gpt-4o-mini"], "request_breakdown": True},
    )
    assert out.model_extra is not None
    assert out.model_extra["request_breakdown"]["model"] == "openai/gpt-4o-mini"
    out = client.chat.completions.create(
        model="openai/gpt-4o",
        messages=MSG,
        extra_body={"respan_params": {"fallback_models": ["openai/gpt-4o-mini"]}},
    )
    assert upstream.requests[-1].body["model"] == "gpt-4o-mini"
    out = client.chat.completions.create(
        model="openai/gpt-4o",
        messages=MSG,
        extra_headers={
            "X-Data-Respan-Params": header({"fallback_models": ["openai/gpt-4o-mini"]}),
            "X-Trace": "abc",
        },
    )
    sent = upstream.requests[-1]
    assert sent.body["model"] == "gpt-4o-mini"
    assert sent.headers.get("x-trace") == "abc"  # forwarded, as by the gateway
    assert "x-data-respan-params" not in sent.headers
    assert sent.headers["authorization"] == f"Bearer {KEY}"  # the router's key, not the client's
    assert not any(name.startswith("x-stainless") for name in sent.headers)


def test_rate_limit_is_the_sdks_class_with_retry_after(upstream: FakeUpstream) -> None:
    upstream.set_default(Error(429, "slow down", headers={"retry-after": "3"}))
    client = _router(upstream).as_openai()
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="openai/gpt-4o", messages=MSG)
    exc = info.value
    assert exc.response.headers["retry-after"] == "3"
    assert exc.response.headers["retry-after-ms"] == "3000"
    assert isinstance(exc.body, dict) and exc.body["type"] == "rate_limit_error"
    assert exc.body["code"] == "rate_limit_exceeded"
    assert isinstance(router_error(exc), RateLimitError)
    assert len(upstream.requests) == 1  # the SDK did not retry


async def test_async_errors_and_bad_input_before_any_call(upstream: FakeUpstream) -> None:
    client = _router(upstream).as_async_openai()
    with pytest.raises(openai.BadRequestError) as info:
        await client.chat.completions.create(
            model="openai/gpt-4o", messages=MSG, extra_body={"cache_ttl": -1}
        )
    assert info.value.body == {
        "message": info.value.body["message"],  # type: ignore[index]
        "type": "invalid_request_error",
        "param": "cache_ttl",
        "code": None,
    }
    with pytest.raises(openai.BadRequestError, match="query"):
        await client.chat.completions.create(
            model="openai/gpt-4o", messages=MSG, extra_query={"a": "1"}
        )
    assert upstream.requests == []


def test_closing_a_stream_closes_the_router_stream(upstream: FakeUpstream) -> None:
    upstream.set_default(Reply("a b c d e f", pieces=6, chunk_delay=0.3))
    client = _router(upstream).as_openai()
    stream = client.chat.completions.create(model="openai/gpt-4o", messages=MSG, stream=True)
    next(iter(stream))
    stream.close()
    assert upstream.wait_for(lambda: upstream.disconnects >= 1, timeout=3.0)
    assert upstream.streams_completed == 0


async def test_failure_mid_stream_is_an_api_error(upstream: FakeUpstream) -> None:
    upstream.set_default(Reply("a b c d", pieces=4, break_after=2))
    client = _router(upstream).as_async_openai()
    stream = await client.chat.completions.create(model="openai/gpt-4o", messages=MSG, stream=True)
    got: list[str] = []
    with pytest.raises(openai.APIError) as info:
        async for chunk in stream:
            got.append(chunk.choices[0].delta.content or "")
    assert got and "".join(got) != "a b c d"
    assert isinstance(router_error(info.value), StreamInterruptedError)


def test_models_and_unknown_routes(upstream: FakeUpstream) -> None:
    router = _router(
        upstream,
        deployments={"fast": {"model": "openai/gpt-4o-mini"}},
        load_balance_groups={"g": [{"model": "openai/gpt-4o", "weight": 1}]},
    )
    client = router.as_openai()
    assert sorted(m.id for m in client.models.list()) == ["fast", "openai/gpt-4o"]
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="x", input="y")


def test_hand_built_client_over_the_public_transport(upstream: FakeUpstream) -> None:
    from respan_router.wire._transport import http_module

    router = _router(upstream)
    http = http_module()
    client = openai.OpenAI(
        api_key="unused",
        base_url="http://localhost:1/api",
        http_client=http.Client(transport=router.transport()),
        max_retries=0,
    )
    out = client.chat.completions.create(model="openai/gpt-4o", messages=MSG)
    assert out.choices[0].message.content == "Hello from the fake upstream."


def test_import_stays_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import respan_router; "
        "print(sorted(m for m in ('openai', 'httpx', 'httpx2', 'respan_router.wire') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_wire_all_is_sorted() -> None:
    import respan_router.wire as wire

    assert wire.__all__ == sorted(wire.__all__)
    assert all(hasattr(wire, name) for name in wire.__all__)


def test_sync_failure_mid_stream_is_an_api_error(upstream: FakeUpstream) -> None:
    upstream.set_default(Reply("a b c d", pieces=4, break_after=2))
    client = _router(upstream).as_openai()
    stream = client.chat.completions.create(model="openai/gpt-4o", messages=MSG, stream=True)
    with pytest.raises(openai.APIError) as info:
        for _ in stream:
            pass
    assert isinstance(router_error(info.value), StreamInterruptedError)
    assert info.value.body is not None


def test_beta_header_is_read_not_forwarded(upstream: FakeUpstream) -> None:
    client = _router(upstream).as_openai()
    client.chat.completions.create(
        model="openai/gpt-4o",
        messages=MSG,
        extra_headers={"X-Respan-Beta": "token-breakdown-2026-03-26"},
    )
    assert "x-respan-beta" not in upstream.requests[-1].headers
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="openai/gpt-4o", messages=MSG, extra_headers={"X-Respan-Beta": "no-such-flag"}
        )
    assert isinstance(info.value.body, dict)
    assert str(info.value.body["param"]).lower() == "x-respan-beta"
    assert len(upstream.requests) == 1
