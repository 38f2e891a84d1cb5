"""A local upstream speaking Bedrock's Converse API: ``POST /model/{id}/converse``.

The same scripting as :class:`tests.upstream.FakeUpstream` (``Reply``, ``Raw``, ``Error``,
``Drop``, FIFO), answered in Converse's wire format: ``output.message`` with ``text`` and
``toolUse`` content blocks, ``stopReason``, ``usage`` in ``inputTokens``/``outputTokens``
(cache read and write tokens when the reply's usage names them) and ``metrics``; errors as
``{"message": ...}`` with the ``x-amzn-ErrorType`` header.

``POST /model/{id}/converse-stream`` answers in AWS's binary event stream
(``application/vnd.amazon.eventstream``): each event a frame with its prelude (total and
header lengths, CRC32), string headers (``:event-type``, ``:content-type``,
``:message-type``), the JSON payload and the message CRC32, one frame per HTTP chunk:
``messageStart``, ``contentBlockStart`` (tool use), ``contentBlockDelta``,
``contentBlockStop``, ``messageStop`` and ``metadata`` (usage and metrics).
``Raw(events=[{"throttlingException": {...}}])`` sends events as given; a key ending in
``Exception`` is sent as an exception frame (``:message-type exception``).
"""

from __future__ import annotations

import json
import struct
from binascii import crc32
from typing import Any

from tests.upstream import Error, FakeUpstream, RecordedRequest, Reply, _Handler, split_text

__all__ = [
    "BedrockUpstream",
    "converse_events",
    "converse_message",
    "event_frame",
    "frames",
    "sigv4_valid",
]

_STOP = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens"}
_CACHE_KEYS = {"cache_read_input_tokens": "cacheReadInputTokens"}
_ROUTES = ("converse", "converse-stream")


def _usage(reply: Reply) -> dict[str, int]:
    usage = dict(reply.usage or {})
    out = {
        "inputTokens": usage.get("prompt_tokens", 0),
        "outputTokens": usage.get("completion_tokens", 0),
    }
    out["totalTokens"] = out["inputTokens"] + out["outputTokens"]
    out.update({wire: usage[k] for k, wire in _CACHE_KEYS.items() if k in usage})
    return out


def converse_message(reply: Reply) -> dict[str, Any]:
    """The body of a non-streamed Converse reply."""
    content: list[dict[str, Any]] = []
    if reply.content:
        content.append({"text": reply.content})
    for call in reply.tool_calls or ():
        content.append(
            {
                "toolUse": {
                    "toolUseId": call["id"],
                    "name": call["function"]["name"],
                    "input": json.loads(call["function"]["arguments"]),
                }
            }
        )
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": _STOP.get(reply.finish_reason, reply.finish_reason),
        "usage": _usage(reply),
        "metrics": {"latencyMs": 12},
        **reply.extra,
    }


def converse_events(reply: Reply) -> list[dict[str, Any]]:
    """The events of a streamed Converse reply, in ConverseStream's order, each as
    ``{event_type: payload}``."""
    events: list[dict[str, Any]] = [{"messageStart": {"role": "assistant"}}]
    index = 0
    if reply.content:
        for piece in split_text(reply.content, reply.pieces):
            events.append({"contentBlockDelta": {"delta": {"text": piece}, "contentBlockIndex": 0}})
        events.append({"contentBlockStop": {"contentBlockIndex": 0}})
        index = 1
    for call in reply.tool_calls or ():
        start = {"toolUse": {"toolUseId": call["id"], "name": call["function"]["name"]}}
        delta = {"toolUse": {"input": call["function"]["arguments"]}}
        events.append({"contentBlockStart": {"start": start, "contentBlockIndex": index}})
        events.append({"contentBlockDelta": {"delta": delta, "contentBlockIndex": index}})
        events.append({"contentBlockStop": {"contentBlockIndex": index}})
        index += 1
    events.append(
        {"messageStop": {"stopReason": _STOP.get(reply.finish_reason, reply.finish_reason)}}
    )
    events.append({"metadata": {"usage": _usage(reply), "metrics": {"latencyMs": 12}}})
    return events


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return (
        struct.pack("!B", len(raw_name))
        + raw_name
        + struct.pack("!BH", 7, len(raw_value))  # 7: a string header
        + raw_value
    )


def event_frame(event: dict[str, Any]) -> bytes:
    """One event-stream frame for ``{event_type: payload}``: prelude, headers, payload and
    the two CRC32s, as AWS encodes them."""
    ((kind, payload),) = event.items()
    if kind.endswith("Exception"):
        names = {":exception-type": kind, ":content-type": "application/json"}
        names[":message-type"] = "exception"
    else:
        names = {":event-type": kind, ":content-type": "application/json"}
        names[":message-type"] = "event"
    headers = b"".join(_header(k, v) for k, v in names.items())
    body = json.dumps(payload).encode()
    total = 12 + len(headers) + len(body) + 4
    prelude = struct.pack("!II", total, len(headers))
    prelude += struct.pack("!I", crc32(prelude))
    message = prelude + headers + body
    return message + struct.pack("!I", crc32(message))


def frames(events: list[dict[str, Any]]) -> bytes:
    """The frames of ``events``, back to back (a whole stream's body)."""
    return b"".join(event_frame(e) for e in events)


class _BedrockHandler(_Handler):
    done_line = b""
    stream_content_type = "application/vnd.amazon.eventstream"

    def _routed(self, path: str) -> bool:
        parts = path.split("?", 1)[0].strip("/").split("/")
        return len(parts) == 3 and parts[0] == "model" and parts[2] in _ROUTES

    def _streams(self, path: str, body: Any) -> bool:
        return path.split("?", 1)[0].rstrip("/").endswith("/converse-stream")

    def _frame(self, event: dict[str, Any]) -> bytes:
        return event_frame(event)

    def _send_stream(self, reply: Reply, body: dict[str, Any]) -> None:
        self._send_events(converse_events(reply), reply)

    def _completion(self, reply: Reply, model: str) -> dict[str, Any]:
        return converse_message(reply)

    def _send_error(self, err: Error) -> None:
        kind = f"{err.type}:http://internal.amazon.com/coral/com.amazon.bedrock/"
        self._send_json(
            err.status, {"message": err.message}, {"x-amzn-ErrorType": kind, **err.headers}
        )


class BedrockUpstream(FakeUpstream):
    """:class:`FakeUpstream` answering Bedrock's Converse API; ``root_url`` is its base."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.handler = _BedrockHandler

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def sigv4_valid(request: RecordedRequest, secret_key: str, token: str | None = None) -> bool:
    """Whether ``request`` carries a valid SigV4 signature for ``secret_key``: botocore
    recomputes it from the signed headers, the body as sent and the request's own date."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    headers = request.headers
    scheme, _, rest = headers["authorization"].partition(" ")
    fields = dict(part.strip().split("=", 1) for part in rest.split(","))
    access_key, date, region, service, _ = fields["Credential"].split("/")
    signed = fields["SignedHeaders"].split(";")
    url = f"http://{headers['host']}{request.path}"
    aws = AWSRequest(
        method="POST", url=url, data=request.raw, headers={h: headers[h] for h in signed}
    )
    aws.context["timestamp"] = headers["x-amz-date"]
    auth = SigV4Auth(Credentials(access_key, secret_key, token), service, region)
    canonical = auth.canonical_request(aws)
    expected = auth.signature(auth.string_to_sign(aws, canonical), aws)
    return (
        scheme == "AWS4-HMAC-SHA256"
        and date == headers["x-amz-date"][:8]
        and auth.signed_headers(auth.headers_to_sign(aws)) == fields["SignedHeaders"]
        and expected == fields["Signature"]
    )
