"""A local OpenAI-compatible upstream for tests: real HTTP on a loopback port.

``FakeUpstream`` serves ``POST /v1/chat/completions`` from a background thread and records
every request. What it answers is scripted per model name (the body's ``model``), FIFO,
falling back to a default::

    with FakeUpstream() as upstream:
        upstream.enqueue(Error(429, headers={"retry-after": "2"}))
        upstream.enqueue(Reply("hi", pieces=2), model="test-model")
        ...  # point a client at upstream.base_url

Behaviours: :class:`Reply` (a completion, or SSE chunks when the request streams),
:class:`Raw` (exactly the given body, or the given SSE events),
:class:`Error` (a status with an OpenAI-shaped error body), :class:`Drop` (close the
connection without replying). Each can wait ``delay`` seconds first.
:func:`maximal_completion` / :func:`maximal_chunks` are an answer using every field of
the OpenAI chat completion API, plus one the API does not name.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import select
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "Behaviour",
    "Drop",
    "Error",
    "FakeUpstream",
    "Raw",
    "RecordedRequest",
    "Reply",
    "maximal_chunks",
    "maximal_completion",
]

ANY_MODEL = "*"


@dataclass(frozen=True)
class Reply:
    """A successful completion.

    For a streaming request, ``content`` is split into ``pieces`` chunks (the first carries
    the role), then come the tool calls, a finish chunk and, when the request set
    ``stream_options.include_usage``, a usage chunk; then ``data: [DONE]``.

    Attributes:
        delay: seconds before the response starts (before the status line).
        first_chunk_delay: seconds between the headers and the first chunk.
        chunk_delay: seconds between chunks.
        break_after: close the socket abruptly after this many chunks (no ``[DONE]``).
        extra: more top-level fields of the completion and of every chunk (e.g. Groq's
            ``service_tier``).
    """

    content: str | None = "Hello from the fake upstream."
    usage: Mapping[str, int] | None = field(
        default_factory=lambda: {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}
    )
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str = "stop"
    delay: float = 0.0
    pieces: int = 3
    first_chunk_delay: float = 0.0
    chunk_delay: float = 0.0
    break_after: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Error:
    """An error status with an OpenAI-shaped body ``{"error": {...}}``."""

    status: int
    message: str = "fake upstream error"
    code: str | None = None
    type: str = "invalid_request_error"
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Drop:
    """Read the request, then close the connection without a reply."""

    delay: float = 0.0


@dataclass(frozen=True)
class Raw:
    """Exactly this JSON body (a plain request), or these SSE events then ``[DONE]`` (a
    streaming request), whatever the request asked."""

    body: Mapping[str, Any] | None = None
    events: list[Mapping[str, Any]] | None = None
    delay: float = 0.0


@dataclass(frozen=True)
class Body:
    """A 200 with exactly these bytes as its body (empty, not JSON, ...), whatever the
    request asked."""

    data: bytes = b""
    content_type: str = "application/json"
    delay: float = 0.0
    trickle: float = 0.0  # seconds between pieces of 20 bytes (0: all at once)
    encoding: str = ""  # a Content-Encoding the data is already in ("": none sent)


Behaviour = Reply | Raw | Error | Drop | Body


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes = field(default=b"", compare=False, repr=False)  # the body's bytes as sent


def split_text(text: str, pieces: int) -> list[str]:
    """``text`` cut into ``pieces`` consecutive non-empty parts (fewer if too short)."""
    if not text:
        return []
    pieces = max(1, min(pieces, len(text)))
    size, extra = divmod(len(text), pieces)
    out, start = [], 0
    for i in range(pieces):
        end = start + size + (1 if i < extra else 0)
        out.append(text[start:end])
        start = end
    return out


class _Disconnected(Exception):
    """The client went away while we were answering."""


class _Server(ThreadingHTTPServer):
    # A burst of concurrent connects (10 streams at once) must not overflow the listen
    # backlog (socketserver's default is 5): a dropped SYN is retried after a second.
    request_queue_size = 128
    daemon_threads = True
    block_on_close = False
    upstream: FakeUpstream

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients resetting idle keep-alive connections are normal here; report the rest."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm
    # and the client's delayed ACK add ~40 ms to every reply.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        self.server.upstream._track(self.connection, add=True)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.upstream._track(self.connection, add=False)

    def do_POST(self) -> None:
        upstream = self.server.upstream
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        upstream._record(
            RecordedRequest(
                method="POST",
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                raw=raw,
            )
        )
        if not self._routed(self.path):
            self._send_json(404, {"error": {"message": f"no route {self.path}", "code": None}})
            return
        model = self._model_of(self.path, body)
        stream = self._streams(self.path, body)
        behaviour = upstream._next_behaviour(model, stream)
        if behaviour.delay and upstream._closing.wait(behaviour.delay):
            self._abort()
            return
        try:
            if isinstance(behaviour, Drop):
                self._abort()
            elif isinstance(behaviour, Error):
                self._send_error(behaviour)
            elif isinstance(behaviour, Raw):
                self._send_raw(behaviour, stream)
            elif isinstance(behaviour, Body):
                self._send_body(behaviour)
            elif stream:
                self._send_stream(behaviour, body)
            else:
                self._send_json(200, self._completion(behaviour, model))
        except (_Disconnected, OSError):
            upstream._count_disconnect()
            self.close_connection = True

    # -- the wire format (overridden for other providers' formats) ---------------------------

    done_line = b"data: [DONE]\n\n"
    stream_content_type = "text/event-stream"

    def _routed(self, path: str) -> bool:
        return _chat_route(path)

    def _completion(self, reply: Reply, model: str) -> dict[str, Any]:
        return _completion(reply, model)

    def _model_of(self, path: str, body: Any) -> str:
        """The model a request names (scripting is per model): the body's ``model``."""
        return str(body.get("model", "")) if isinstance(body, dict) else ""

    def _streams(self, path: str, body: Any) -> bool:
        """Whether the request asks for a stream: the body's ``stream``."""
        return bool(isinstance(body, dict) and body.get("stream"))

    def _frame(self, event: dict[str, Any]) -> bytes:
        return f"data: {json.dumps(event)}\n\n".encode()

    def do_GET(self) -> None:
        self._send_json(404, {"error": {"message": "not found", "code": None}})

    # -- responses -------------------------------------------------------------------------

    def _send_json(
        self, status: int, payload: Any, headers: Mapping[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_error(self, err: Error) -> None:
        payload = {
            "error": {"message": err.message, "type": err.type, "param": None, "code": err.code}
        }
        self._send_json(err.status, payload, err.headers)

    def _send_body(self, body: Body) -> None:
        self.send_response(200)
        self.send_header("Content-Type", body.content_type)
        self.send_header("Content-Length", str(len(body.data)))
        if body.encoding:
            self.send_header("Content-Encoding", body.encoding)
        self.end_headers()
        if not body.trickle:
            self.wfile.write(body.data)
            self.wfile.flush()
            return
        for start in range(0, len(body.data), 20):
            try:
                self.wfile.write(body.data[start : start + 20])
                self.wfile.flush()
            except OSError as exc:
                raise _Disconnected from exc
            self._wait_watching_client(body.trickle)

    def _send_raw(self, raw: Raw, stream: bool) -> None:
        if not stream:
            self._send_json(200, dict(raw.body or {}))
            return
        self._send_events([dict(e) for e in raw.events or ()], Reply())

    def _send_stream(self, reply: Reply, body: dict[str, Any]) -> None:
        options = body.get("stream_options") or {}
        events = _stream_events(reply, body.get("model", ""), bool(options.get("include_usage")))
        self._send_events(events, reply)

    def _send_events(self, events: list[dict[str, Any]], reply: Reply) -> None:
        upstream = self.server.upstream
        self.send_response(200)
        self.send_header("Content-Type", self.stream_content_type)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        for i, event in enumerate(events):
            if reply.break_after is not None and i >= reply.break_after:
                self._abort()
                return
            wait = reply.first_chunk_delay if i == 0 else reply.chunk_delay
            if wait:
                self._wait_watching_client(wait)
            self._write_chunk(self._frame(event))
        if reply.break_after is not None and reply.break_after <= len(events):
            self._abort()
            return
        if self.done_line:
            self._write_chunk(self.done_line)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        upstream._count_stream_completed()

    def _write_chunk(self, data: bytes) -> None:
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        except OSError as exc:
            raise _Disconnected from exc

    def _wait_watching_client(self, seconds: float) -> None:
        """Sleep ``seconds``, raising _Disconnected as soon as the client closes."""
        deadline = time.monotonic() + seconds
        sock = self.connection
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.server.upstream._closing.is_set():
                return
            readable, _, _ = select.select([sock], [], [], min(remaining, 0.05))
            if readable:
                try:
                    peek = sock.recv(1, socket.MSG_PEEK)
                except OSError as exc:
                    raise _Disconnected from exc
                if not peek:
                    raise _Disconnected
                # The client sent something while we stream (unexpected): just wait.
                time.sleep(min(remaining, 0.01))

    def _abort(self) -> None:
        """Close the socket abruptly, mid-response or before any reply."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.connection.close()


def _chat_route(path: str) -> bool:
    """OpenAI's chat route, or Azure OpenAI's (``/openai/deployments/{name}/...``)."""
    route = path.split("?", 1)[0].rstrip("/")
    if route == "/v1/chat/completions":
        return True
    parts = route.split("/")
    return (
        len(parts) == 6
        and parts[1:3] == ["openai", "deployments"]
        and parts[4:] == ["chat", "completions"]
    )


def _completion(reply: Reply, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = list(reply.tool_calls)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": reply.finish_reason, "logprobs": None}
        ],
        "usage": dict(reply.usage) if reply.usage is not None else None,
        "system_fingerprint": "fp_fake",
        **reply.extra,
    }


def _stream_events(reply: Reply, model: str, include_usage: bool) -> list[dict[str, Any]]:
    cid = f"chatcmpl-{uuid.uuid4().hex[:12]}"
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        event: dict[str, Any] = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }
        if include_usage:
            event["usage"] = None
        event.update(reply.extra)
        return event

    events = []
    parts = split_text(reply.content or "", reply.pieces)
    for i, part in enumerate(parts):
        delta = {"role": "assistant", "content": part} if i == 0 else {"content": part}
        events.append(chunk(delta))
    if reply.tool_calls:
        calls = [{"index": i, **call} for i, call in enumerate(reply.tool_calls)]
        call_delta: dict[str, Any] = {"tool_calls": calls}
        if not parts:
            call_delta["role"] = "assistant"
        events.append(chunk(call_delta))
    events.append(chunk({}, reply.finish_reason))
    if include_usage and reply.usage is not None:
        events.append(
            {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": dict(reply.usage),
                **reply.extra,
            }
        )
    return events


def maximal_completion(model: str = "gpt-4o-2024-08-06") -> dict[str, Any]:
    """A completion using every field of the API: two choices, a legacy function call,
    tool calls, annotations, audio, a refusal, logprobs, usage details, ``service_tier``,
    and ``x_unknown`` fields (top level, message, usage) that no SDK type names."""
    logprobs = {
        "content": [
            {
                "token": "Hi",
                "logprob": -0.25,
                "bytes": [72, 105],
                "top_logprobs": [{"token": "Hi", "logprob": -0.25, "bytes": [72, 105]}],
            }
        ],
        "refusal": None,
    }
    return {
        "id": "chatcmpl-maximal",
        "object": "chat.completion",
        "created": 1767225600,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": "fp_maximal",
        "x_unknown": {"kept": [1, 2.5, "three"]},
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "logprobs": logprobs,
                "message": {
                    "role": "assistant",
                    "content": "Hi, see https://example.com.",
                    "refusal": None,
                    "annotations": [
                        {
                            "type": "url_citation",
                            "url_citation": {
                                "start_index": 8,
                                "end_index": 27,
                                "title": "Example",
                                "url": "https://example.com",
                            },
                        }
                    ],
                    "audio": {
                        "id": "audio_1",
                        "data": "UklGRg==",
                        "expires_at": 1767229200,
                        "transcript": "Hi",
                    },
                    "function_call": {"name": "legacy_lookup", "arguments": '{"q": "hi"}'},
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        },
                        {
                            "id": "call_2",
                            "type": "function",
                            "function": {"name": "get_time", "arguments": "{}"},
                        },
                    ],
                    "x_message_extra": "kept",
                },
            },
            {
                "index": 1,
                "finish_reason": "content_filter",
                "logprobs": None,
                "message": {"role": "assistant", "content": None, "refusal": "I can't help."},
            },
        ],
        "usage": {
            "prompt_tokens": 40,
            "completion_tokens": 30,
            "total_tokens": 70,
            "prompt_tokens_details": {"cached_tokens": 16, "audio_tokens": 2},
            "completion_tokens_details": {
                "reasoning_tokens": 12,
                "audio_tokens": 3,
                "accepted_prediction_tokens": 1,
                "rejected_prediction_tokens": 0,
            },
            "x_usage_extra": 7,
        },
    }


def maximal_chunks(model: str = "gpt-4o-2024-08-06") -> list[dict[str, Any]]:
    """The same answer as :func:`maximal_completion`, streamed: two choices interleaved,
    tool calls and a function call in pieces, refusal and audio deltas, logprobs, a
    usage chunk with details, and unknown fields on chunks and deltas."""
    base = {
        "id": "chatcmpl-maximal",
        "object": "chat.completion.chunk",
        "created": 1767225600,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": "fp_maximal",
    }
    logprobs = {
        "content": [{"token": "Hi", "logprob": -0.25, "bytes": [72, 105], "top_logprobs": []}],
        "refusal": None,
    }

    def chunk(index: int, delta: dict[str, Any], **extra: Any) -> dict[str, Any]:
        choice = {"index": index, "delta": delta, "finish_reason": None, "logprobs": None}
        choice.update({k: v for k, v in extra.items() if k in ("finish_reason", "logprobs")})
        out = {**base, "choices": [choice]}
        out.update({k: v for k, v in extra.items() if k not in choice})
        return out

    call = {"index": 0, "id": "call_1", "type": "function"}
    return [
        chunk(0, {"role": "assistant", "content": "Hi, ", "refusal": None}, logprobs=logprobs),
        chunk(1, {"role": "assistant", "content": None, "refusal": "I can't "}),
        chunk(0, {"content": "see https://example.com."}, x_chunk_extra="kept"),
        chunk(1, {"refusal": "help."}),
        chunk(0, {"tool_calls": [{**call, "function": {"name": "get_weather", "arguments": ""}}]}),
        chunk(0, {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
        chunk(0, {"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
        chunk(
            0,
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": "{}"},
                    }
                ]
            },
        ),
        chunk(0, {"function_call": {"name": "legacy_lookup", "arguments": '{"q": '}}),
        chunk(0, {"function_call": {"arguments": '"hi"}'}}),
        chunk(0, {"audio": {"id": "audio_1", "transcript": "Hi"}, "x_delta_extra": 1}),
        chunk(0, {}, finish_reason="tool_calls"),
        chunk(1, {}, finish_reason="content_filter"),
        {**base, "choices": [], "usage": maximal_completion(model)["usage"]},
    ]


class FakeUpstream:
    """An OpenAI-compatible HTTP server on 127.0.0.1, scripted per model name.

    Attributes:
        base_url: ``http://127.0.0.1:PORT/v1``, once started.
        default: what to answer when no behaviour is queued for a model.
    """

    def __init__(
        self,
        default: Behaviour | None = None,
        *,
        chooser: Callable[[str, bool], Behaviour] | None = None,
    ) -> None:
        self.default: Behaviour = default if default is not None else Reply()
        # When set, picks the behaviour of every request whose queue is empty, given the
        # model and whether the request streams (chaos tests).
        self.chooser = chooser
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._queues: dict[str, deque[Behaviour]] = {}
        self._defaults: dict[str, Behaviour] = {}
        self._disconnects = 0
        self._streams_completed = 0
        self._connections: set[socket.socket] = set()
        self._accepted = 0
        self._closing = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.handler: type[_Handler] = _Handler

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeUpstream:
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", 0), self.handler)
        server.upstream = self
        self._server = server
        self._closing.clear()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-upstream",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._closing.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeUpstream is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting -------------------------------------------------------------------------

    def enqueue(self, *behaviours: Behaviour, model: str | None = None) -> None:
        """Queue behaviours (FIFO) for ``model``, or for any model when None.

        A model's own queue is served before the any-model queue.
        """
        key = ANY_MODEL if model is None else model
        with self._lock:
            self._queues.setdefault(key, deque()).extend(behaviours)

    def set_default(self, behaviour: Behaviour, *, model: str | None = None) -> None:
        """What ``model`` (or every model, when None) gets once its queue is empty."""
        with self._lock:
            if model is None:
                self.default = behaviour
            else:
                self._defaults[model] = behaviour

    def reset(self) -> None:
        """Forget recorded requests, queued behaviours, per-model defaults and counters."""
        with self._lock:
            self._requests.clear()
            self._queues.clear()
            self._defaults.clear()
            self._disconnects = 0
            self._streams_completed = 0

    # -- observations ----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def disconnects(self) -> int:
        """How many times a client went away while a response was being written.

        Noticed when a write fails, or (between delayed stream chunks) when the socket
        reads end-of-file.
        """
        with self._lock:
            return self._disconnects

    @property
    def open_connections(self) -> int:
        """Client connections a handler is still serving (or waiting on)."""
        with self._lock:
            return len(self._connections)

    @property
    def connections_accepted(self) -> int:
        """Client connections accepted since the upstream started."""
        with self._lock:
            return self._accepted

    @property
    def streams_completed(self) -> int:
        with self._lock:
            return self._streams_completed

    def wait_for(self, predicate: Any, timeout: float = 2.0) -> bool:
        """Poll ``predicate()`` until true or ``timeout``; returns its last value."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate():
                return True
            if time.monotonic() >= deadline:
                return bool(predicate())
            time.sleep(0.01)

    async def async_wait_for(self, predicate: Any, timeout: float = 2.0) -> bool:
        """Like :meth:`wait_for`, without blocking the running event loop.

        Needed after closing an async stream: the socket is closed on a later loop turn.
        """
        deadline = time.monotonic() + timeout
        while True:
            if predicate():
                return True
            if time.monotonic() >= deadline:
                return bool(predicate())
            await asyncio.sleep(0.01)

    # -- used by the handler ---------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _next_behaviour(self, model: str, stream: bool = False) -> Behaviour:
        with self._lock:
            for key in (model, ANY_MODEL):
                queue = self._queues.get(key)
                if queue:
                    return queue.popleft()
            if self.chooser is not None:
                return self.chooser(model, stream)
            return self._defaults.get(model, self.default)

    def _count_disconnect(self) -> None:
        with self._lock:
            self._disconnects += 1

    def _count_stream_completed(self) -> None:
        with self._lock:
            self._streams_completed += 1

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
                self._accepted += 1
            else:
                self._connections.discard(conn)
