"""The sidecar: ``python -m respan_router serve --config FILE`` in its own process,
answering the real OpenAI client over HTTP with the gateway's contract."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest

from tests.helpers import MSG, header
from tests.upstream import Error, FakeUpstream, Reply

pytest.importorskip("uvicorn")

KEY = "sk-provider-0123456789"
SERVER_KEY = "srv-key-abcdef123456"
WRONG_KEY = "srv-wrong-key-987654"


@dataclass
class Server:
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, api_key: str = SERVER_KEY, path: str = "/v1") -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + path, api_key=api_key, max_retries=0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("the server did not start")


@pytest.fixture(scope="module")
def shared_upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def server(
    shared_upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("sidecar")
    config = folder / "router.json"
    config.write_text(
        json.dumps(
            {
                "providers": {"openai": {"api_key": KEY, "api_base": shared_upstream.base_url}},
                "deployments": {"fast": {"model": "openai/gpt-4o-mini"}},
                "server_api_keys": [SERVER_KEY],
            }
        )
    )
    log = folder / "server.log"
    port = _free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "respan_router",
                "serve",
                "--config",
                str(config),
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_listening(port, process, log)
            yield Server(port, log)
        finally:
            process.terminate()
            process.wait(timeout=10)


@pytest.fixture
def upstream(shared_upstream: FakeUpstream) -> FakeUpstream:
    shared_upstream.reset()
    shared_upstream.set_default(Reply())
    return shared_upstream


def test_plain_and_gateway_route(server: Server, upstream: FakeUpstream) -> None:
    out = server.client().chat.completions.create(model="openai/gpt-4o", messages=MSG)
    assert out.choices[0].message.content == "Hello from the fake upstream."
    assert upstream.requests[-1].headers["authorization"] == f"Bearer {KEY}"
    out = server.client(path="/api").chat.completions.create(model="fast", messages=MSG)
    assert upstream.requests[-1].body["model"] == "gpt-4o-mini"
    assert [m.id for m in server.client().models.list()] == ["fast"]


def test_streamed(server: Server, upstream: FakeUpstream) -> None:
    upstream.set_default(Reply("one two three", pieces=3))
    stream = server.client().chat.completions.create(
        model="openai/gpt-4o", messages=MSG, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "one two three"
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 12


def test_closing_a_stream_closes_the_upstream(server: Server, upstream: FakeUpstream) -> None:
    upstream.set_default(Reply("a b c d e f", pieces=6, chunk_delay=0.3))
    stream = server.client().chat.completions.create(
        model="openai/gpt-4o", messages=MSG, stream=True
    )
    next(iter(stream))
    stream.close()
    assert upstream.wait_for(lambda: upstream.disconnects >= 1, timeout=5.0)
    assert upstream.streams_completed == 0


def test_tools(server: Server, upstream: FakeUpstream) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    upstream.set_default(Reply(None, tool_calls=[call], finish_reason="tool_calls"))
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    out = server.client().chat.completions.create(
        model="openai/gpt-4o",
        messages=MSG,
        tools=tools,  # type: ignore[list-item]
    )
    assert out.choices[0].message.tool_calls is not None
    assert out.choices[0].message.tool_calls[0].function.name == "f"
    assert upstream.requests[-1].body["tools"] == tools


def test_respan_params_by_extra_body_and_header(server: Server, upstream: FakeUpstream) -> None:
    client = server.client()
    upstream.enqueue(Error(500), model="gpt-4o")
    out = client.chat.completions.create(
        model="openai/gpt-4o",
        messages=MSG,
        extra_body={"fallback_models": ["openai/gpt-4o-mini"], "request_breakdown": True},
    )
    assert out.model_extra is not None
    assert out.model_extra["request_breakdown"]["model"] == "openai/gpt-4o-mini"
    upstream.enqueue(Error(500), model="gpt-4o")
    client.chat.completions.create(
        model="openai/gpt-4o",
        messages=MSG,
        extra_headers={"X-Data-Respan-Params": header({"fallback_models": ["openai/gpt-4o-mini"]})},
    )
    assert [r.body["model"] for r in upstream.requests[-2:]] == ["gpt-4o", "gpt-4o-mini"]


def test_rate_limit_with_retry_after(server: Server, upstream: FakeUpstream) -> None:
    upstream.set_default(Error(429, "slow down", headers={"retry-after": "2"}))
    with pytest.raises(openai.RateLimitError) as info:
        server.client().chat.completions.create(model="openai/gpt-4o", messages=MSG)
    assert info.value.response.headers["retry-after"] == "2"
    assert info.value.response.headers["retry-after-ms"] == "2000"
    assert isinstance(info.value.body, dict) and info.value.body["code"] == "rate_limit_exceeded"


def test_api_keys_are_required_and_never_logged(server: Server, upstream: FakeUpstream) -> None:
    with pytest.raises(openai.AuthenticationError) as info:
        server.client(api_key=WRONG_KEY).chat.completions.create(
            model="openai/gpt-4o", messages=MSG
        )
    assert isinstance(info.value.body, dict) and info.value.body["code"] == "invalid_api_key"
    request = urllib.request.Request(
        server.url + "/v1/chat/completions",
        data=json.dumps({"model": "openai/gpt-4o", "messages": MSG}).encode(),
        headers={"content-type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as raw:
        urllib.request.urlopen(request, timeout=5)
    assert raw.value.code == 401
    assert json.loads(raw.value.read())["error"]["type"] == "authentication_error"
    assert upstream.requests == []
    server.client().chat.completions.create(model="openai/gpt-4o", messages=MSG)
    logged = server.log.read_text()
    assert "POST /v1/chat/completions" in logged  # the log is there, and says little
    for secret in (SERVER_KEY, WRONG_KEY, KEY):
        assert secret not in logged


def test_failure_mid_stream_reaches_the_client(server: Server, upstream: FakeUpstream) -> None:
    upstream.set_default(Reply("a b c d", pieces=4, break_after=2))
    stream = server.client().chat.completions.create(
        model="openai/gpt-4o", messages=MSG, stream=True
    )
    got: list[str] = []
    with pytest.raises(openai.APIError, match="interrupted"):
        for chunk in stream:
            got.append(chunk.choices[0].delta.content or "")
    assert got and "".join(got) != "a b c d"
