"""Self-tests of the fake upstream, with a plain stdlib HTTP client."""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any

import pytest

from tests.upstream import Drop, Error, FakeUpstream, Reply, split_text


def post(
    upstream: FakeUpstream, body: dict[str, Any], *, timeout: float = 2.0
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    conn = http.client.HTTPConnection("127.0.0.1", upstream.port, timeout=timeout)
    conn.request(
        "POST",
        "/v1/chat/completions",
        body=json.dumps(body),
        headers={"Content-Type": "application/json", "Authorization": "Bearer sk-abc"},
    )
    return conn, conn.getresponse()


def sse_events(raw: bytes) -> list[str]:
    return [line[len("data: ") :] for line in raw.decode().split("\n\n") if line]


def test_reply_echoes_model_and_records_request(upstream: FakeUpstream) -> None:
    upstream.enqueue(Reply("hi there", usage={"prompt_tokens": 1, "completion_tokens": 2}))
    conn, resp = post(upstream, {"model": "m1", "messages": [{"role": "user", "content": "x"}]})
    data = json.loads(resp.read())
    conn.close()

    assert resp.status == 200
    assert data["model"] == "m1"
    assert data["choices"][0]["message"]["content"] == "hi there"
    assert data["usage"] == {"prompt_tokens": 1, "completion_tokens": 2}
    (req,) = upstream.requests
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == "Bearer sk-abc"
    assert req.body["messages"] == [{"role": "user", "content": "x"}]
    assert upstream.base_url == f"http://127.0.0.1:{upstream.port}/v1"


def test_queues_are_per_model_fifo_with_default(upstream: FakeUpstream) -> None:
    upstream.enqueue(Error(500), Error(503), model="a")
    upstream.enqueue(Error(429))
    upstream.set_default(Reply("b default"), model="b")

    statuses = []
    for model in ["a", "b", "a", "a", "c", "b"]:
        conn, resp = post(upstream, {"model": model})
        resp.read()
        conn.close()
        statuses.append(resp.status)
    # "b" first takes the any-model 429; "a" drains its own queue then gets the default.
    assert statuses == [500, 429, 503, 200, 200, 200]
    upstream.reset()
    assert upstream.requests == []


def test_error_body_and_headers(upstream: FakeUpstream) -> None:
    upstream.enqueue(
        Error(429, "slow down", code="rate_limit_exceeded", headers={"retry-after": "3"})
    )
    conn, resp = post(upstream, {"model": "m"})
    data = json.loads(resp.read())
    conn.close()
    assert resp.status == 429
    assert resp.getheader("retry-after") == "3"
    assert data["error"]["message"] == "slow down"
    assert data["error"]["code"] == "rate_limit_exceeded"


def test_delay_triggers_client_timeout(upstream: FakeUpstream) -> None:
    upstream.enqueue(Reply(delay=60))  # far past the client's timeout: no race with it
    with pytest.raises(TimeoutError):
        post(upstream, {"model": "m"}, timeout=0.1)
    assert len(upstream.requests) == 1  # the request arrived; only the reply was late


def test_drop_closes_without_reply(upstream: FakeUpstream) -> None:
    upstream.enqueue(Drop())
    with pytest.raises(http.client.RemoteDisconnected):
        post(upstream, {"model": "m"})
    assert len(upstream.requests) == 1


def test_stream_chunks_usage_and_done(upstream: FakeUpstream) -> None:
    upstream.enqueue(Reply("abcdef", pieces=3))
    conn, resp = post(
        upstream, {"model": "m", "stream": True, "stream_options": {"include_usage": True}}
    )
    events = sse_events(resp.read())
    conn.close()

    assert resp.getheader("content-type") == "text/event-stream"
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = [c["choices"][0]["delta"].get("content") for c in chunks[:3]]
    assert text == ["ab", "cd", "ef"]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[3]["choices"][0]["finish_reason"] == "stop"
    assert chunks[4]["choices"] == [] and chunks[4]["usage"]["total_tokens"] == 12
    assert all(c["model"] == "m" for c in chunks)
    # The server counts a stream after its last write, which may land after our read.
    assert upstream.wait_for(lambda: upstream.streams_completed == 1)


def test_stream_without_usage_option_has_no_usage_chunk(upstream: FakeUpstream) -> None:
    conn, resp = post(upstream, {"model": "m", "stream": True})
    events = sse_events(resp.read())
    conn.close()
    assert len(events) == 3 + 1 + 1  # pieces, finish, [DONE]


def test_stream_break_after_cuts_the_body(upstream: FakeUpstream) -> None:
    upstream.enqueue(Reply("abcdef", pieces=3, break_after=2))
    conn, resp = post(upstream, {"model": "m", "stream": True})
    with pytest.raises(http.client.IncompleteRead) as info:
        resp.read()
    conn.close()
    events = sse_events(info.value.partial)
    assert [json.loads(e)["choices"][0]["delta"]["content"] for e in events] == ["ab", "cd"]


def test_early_client_close_counts_a_disconnect(upstream: FakeUpstream) -> None:
    upstream.enqueue(Reply("x" * 50, pieces=50, chunk_delay=0.01))
    conn, resp = post(upstream, {"model": "m", "stream": True})
    resp.read1(64)  # the first chunk or so
    conn.sock.shutdown(socket.SHUT_RDWR)
    conn.close()
    assert upstream.wait_for(lambda: upstream.disconnects == 1)
    assert upstream.streams_completed == 0


def test_split_text() -> None:
    assert split_text("abcdefg", 3) == ["abc", "de", "fg"]
    assert split_text("ab", 5) == ["a", "b"]
    assert split_text("", 3) == []


def test_close_wakes_a_pending_delay() -> None:
    upstream = FakeUpstream().start()
    upstream.enqueue(Reply(delay=60))
    with pytest.raises((TimeoutError, http.client.RemoteDisconnected, ConnectionError)):
        post(upstream, {"model": "m"}, timeout=0.1)
    assert upstream.wait_for(lambda: len(upstream.requests) == 1)
    assert upstream.open_connections == 1  # its handler is waiting out the delay
    upstream.close()
    # Woken by close, the handler lets its connection go (else it would hold it a minute).
    assert upstream.wait_for(lambda: upstream.open_connections == 0)
