"""Lean dispatch per provider wire format vs bare litellm and a bare aiohttp post.

For each provider the lean path covers beyond the OpenAI-compatible ones (Azure OpenAI,
Anthropic, Bedrock Converse with a bearer key and with SigV4, Gemini on AI Studio and on
Vertex AI), against the local upstream speaking its wire format in another process: client
CPU per routed non-streamed call on the lean path, through litellm, bare
``litellm.acompletion`` for the same provider, and a bare aiohttp post of the same body;
streams' fixed cost and cost per chunk, against a bare aiohttp read of the same stream (SSE
lines, or Bedrock's binary event stream cut into frames by botocore, each payload parsed).
Variants run interleaved in one process. ``LEAN_PROVIDERS=vertex,gemini`` runs only those.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.common import MSG, table
from benchmarks.lean import _cpu_async
from benchmarks.vertex_wire import close_account, vertex_settings, vertex_url

KEY = "benchmark-not-a-real-key"
API_VERSION = "2024-10-21"
_SERVER = (
    "import sys, time; from tests.upstream import FakeUpstream, Reply, _Server; "
    "from tests.upstream_anthropic import AnthropicUpstream; "
    "from tests.upstream_bedrock import BedrockUpstream; "
    "from tests.upstream_gemini import GeminiUpstream; "
    "from tests.upstream_vertex import VertexUpstream; "
    "_Server.request_queue_size = 4096; "
    "cls = {'anthropic': AnthropicUpstream, 'bedrock': BedrockUpstream, "
    "'gemini': GeminiUpstream, 'vertex': VertexUpstream}.get(sys.argv[2], FakeUpstream); "
    "u = cls(Reply(pieces=int(sys.argv[1]))).start(); "
    "print(f'http://127.0.0.1:{u.port}', flush=True); time.sleep(3600)"
)


class Upstream:
    """The fake upstream speaking ``wire`` in a child process, streams in ``pieces`` chunks."""

    def __init__(self, pieces: int, wire: str) -> None:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(pieces), wire],
            cwd=root,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.root = self.proc.stdout.readline().strip()

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@dataclass(frozen=True)
class Wire:
    """How one provider is called: the router's settings, litellm's, the raw request."""

    name: str
    model: str  # as the router and litellm take it
    settings: Callable[[str], dict[str, Any]]  # upstream root -> provider credentials
    url: Callable[[str, bool], str]  # upstream root, stream -> URL of the raw post
    headers: dict[str, str]
    body: Callable[[bool], dict[str, Any]]  # stream -> raw body
    server: str = "openai"  # the upstream's wire format
    streams: bool = True  # False: the lean path leaves this provider's streams to litellm
    event_stream: bool = False  # streams in AWS's binary event stream (else SSE)


def _bedrock_url(root: str, stream: bool) -> str:
    route = "converse-stream" if stream else "converse"
    return f"{root}/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/{route}"


_BEDROCK_BODY = {"messages": [{"role": "user", "content": [{"text": MSG[0]["content"]}]}],
                 "inferenceConfig": {}}  # fmt: skip
# Made-up AWS keys: the local upstream does not check signatures.
_AWS = {
    "aws_access_key_id": "AKIDBENCHMARKEXAMPLE",
    "aws_secret_access_key": "benchmark/secret/key/not-a-real-one",
    "aws_region_name": "us-east-1",
}


def _azure_url(root: str, stream: bool) -> str:
    return f"{root}/openai/deployments/bench-gpt4o/chat/completions?api-version={API_VERSION}"


WIRES = {
    "azure": Wire(
        name="Azure OpenAI",
        model="azure/bench-gpt4o",
        settings=lambda root: {"api_key": KEY, "api_base": root, "api_version": API_VERSION},
        url=_azure_url,
        headers={"api-key": KEY, "Content-Type": "application/json"},
        body=lambda stream: {"model": "bench-gpt4o", "messages": MSG, "stream": stream},
    ),
    "anthropic": Wire(
        name="Anthropic",
        model="anthropic/claude-3-5-sonnet-20241022",
        settings=lambda root: {"api_key": KEY, "api_base": root},
        url=lambda root, stream: f"{root}/v1/messages",
        headers={
            "x-api-key": KEY,
            "anthropic-version": "2023-06-01",
            "Content-Type": "application/json",
        },
        body=lambda stream: {
            "model": "claude-3-5-sonnet-20241022",
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": MSG[0]["content"]}]}
            ],
            "max_tokens": 8192,
            **({"stream": True} if stream else {}),
        },
        server="anthropic",
    ),
    "bedrock": Wire(
        name="Bedrock Converse",
        model="bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0",
        settings=lambda root: {"api_key": KEY, "api_base": root},
        url=_bedrock_url,
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        body=lambda stream: _BEDROCK_BODY,
        server="bedrock",
        event_stream=True,
    ),
    "gemini": Wire(
        name="Gemini (AI Studio)",
        model="gemini/gemini-2.0-flash",
        settings=lambda root: {"api_key": KEY, "api_base": f"{root}/v1beta"},
        url=lambda root, stream: (
            f"{root}/v1beta/models/gemini-2.0-flash:"
            + ("streamGenerateContent?alt=sse" if stream else "generateContent")
        ),
        headers={"x-goog-api-key": KEY, "Content-Type": "application/json"},
        body=lambda stream: {
            "contents": [{"role": "user", "parts": [{"text": MSG[0]["content"]}]}]
        },
        server="gemini",
    ),
    "vertex": Wire(
        name="Vertex AI (Gemini)",
        model="vertex_ai/gemini-2.0-flash",
        settings=vertex_settings,
        url=vertex_url,
        headers={"Authorization": "Bearer bench-token", "Content-Type": "application/json"},
        body=lambda stream: {
            "contents": [{"role": "user", "parts": [{"text": MSG[0]["content"]}]}]
        },
        server="vertex",
    ),
}
WIRES["bedrock_sigv4"] = dataclasses.replace(
    WIRES["bedrock"],
    name="Bedrock Converse, SigV4",
    settings=lambda root: {**_AWS, "api_base": root},
    headers={"Content-Type": "application/json"},  # the raw post is not signed
)


def _session(holder: dict[str, Any]) -> Any:
    """The benchmark's one aiohttp session for the bare variants (made on first use)."""
    import aiohttp

    if "s" not in holder:
        holder["s"] = aiohttp.ClientSession()
    return holder["s"]


def _routers(wire: Wire, root: str) -> tuple[Any, Any, Any]:
    from respan_router import Router
    from respan_router.providers import LeanProvider

    provider_name = wire.model.split("/", 1)[0]
    providers = {provider_name: wire.settings(root)}
    provider = LeanProvider()
    lean = Router(providers=providers, provider=provider)
    via_litellm = Router(providers=providers, provider=LeanProvider(enabled=False))
    return lean, via_litellm, provider


def _non_streamed(wire: Wire, root: str, rounds: int, batch: int) -> dict[str, float]:
    import litellm

    lean, via_litellm, provider = _routers(wire, root)
    body = json.dumps(wire.body(False)).encode()
    url = wire.url(root, False)
    holder: dict[str, Any] = {}

    async def raw_post() -> Any:
        async with _session(holder).post(url, data=body, headers=wire.headers) as r:
            return json.loads(await r.read())

    variants: dict[str, Callable[[], Awaitable[Any]]] = {
        "aiohttp post + json": raw_post,
        "routed, lean": lambda: lean.acomplete(model=wire.model, messages=MSG),
        "litellm.acompletion": lambda: litellm.acompletion(
            model=wire.model, messages=MSG, num_retries=0, max_retries=0, **wire.settings(root)
        ),
        "routed, through litellm": lambda: via_litellm.acomplete(model=wire.model, messages=MSG),
    }

    async def close_all() -> None:
        await provider.aclose()
        if "s" in holder:
            await holder["s"].close()

    return _cpu_async(variants, rounds, batch, [close_all])


def _streams(wire: Wire, root: str, rounds: int, batch: int) -> dict[str, float]:
    import litellm

    lean, _, provider = _routers(wire, root)
    body = json.dumps(wire.body(True)).encode()
    url = wire.url(root, True)
    holder: dict[str, Any] = {}

    async def raw_sse() -> None:
        async with _session(holder).post(url, data=body, headers=wire.headers) as r:
            async for line in r.content:
                if line.startswith(b"data: {"):
                    json.loads(line[6:])

    async def raw_events() -> None:
        from botocore.eventstream import EventStreamBuffer

        session = _session(holder)
        frames = EventStreamBuffer()
        async with session.post(url, data=body, headers=wire.headers) as r:
            async for piece in r.content.iter_any():
                frames.add_data(piece)
                for frame in frames:
                    json.loads(frame.payload)

    async def routed() -> None:
        stream = await lean.acomplete(model=wire.model, messages=MSG, stream=True)
        async for _ in stream:
            pass

    async def bare_litellm() -> None:
        stream = await litellm.acompletion(
            model=wire.model,
            messages=MSG,
            stream=True,
            num_retries=0,
            max_retries=0,
            **wire.settings(root),
        )
        async for _ in stream:
            pass

    raw = ("aiohttp event stream", raw_events) if wire.event_stream else ("aiohttp SSE", raw_sse)
    variants: dict[str, Callable[[], Awaitable[Any]]] = {
        raw[0]: raw[1],
        "routed, lean": routed,
        "litellm.acompletion": bare_litellm,
    }

    async def close_all() -> None:
        await provider.aclose()
        if "s" in holder:
            await holder["s"].close()

    return _cpu_async(variants, rounds, batch, [close_all])


def _measure(wire: Wire, rounds: int, batch: int) -> dict[str, Any]:
    one = Upstream(1, wire.server)
    many = Upstream(51, wire.server)
    try:
        plain = _non_streamed(wire, one.root, rounds, batch)
        streams: dict[str, dict[str, float]] = {}
        if wire.streams:
            short = _streams(wire, one.root, rounds, max(batch // 2, 10))
            long = _streams(wire, many.root, rounds, max(batch // 4, 8))
            # 1 content piece -> 2 chunks (content, finish); 51 pieces -> 52 chunks.
            streams = {
                name: {
                    "per_chunk_us": round((long[name] - short[name]) / 50, 1),
                    "fixed_us": round(short[name] - 2 * (long[name] - short[name]) / 50, 1),
                }
                for name in short
            }
    finally:
        one.close()
        many.close()
    return {"plain": plain, "streams": streams}


def run(quick: bool = False) -> dict[str, Any]:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    rounds, batch = (3, 30) if quick else (6, 60)
    result: dict[str, Any] = {}
    only = [k for k in os.environ.get("LEAN_PROVIDERS", "").split(",") if k]
    try:
        for key, wire in WIRES.items():
            if not only or key in only:
                result[key] = _result(wire, _measure(wire, rounds, batch))
                _print(result[key])
    finally:
        close_account()  # the Vertex token endpoint's thread: no state left behind
    return result


def _result(wire: Wire, measured: dict[str, Any]) -> dict[str, Any]:
    """One provider's figures: the non-streamed medians, their ratios, the streams'."""
    plain, streams = measured["plain"], measured["streams"]
    lean_us = plain["routed, lean"]
    return {
        "name": wire.name,
        "non_streamed_us": {k: round(v, 1) for k, v in plain.items()},
        "ratios": {
            "lean / litellm.acompletion": round(lean_us / plain["litellm.acompletion"], 3),
            "lean / aiohttp post": round(lean_us / plain["aiohttp post + json"], 3),
        },
        "streams": streams,
    }


def _print(v: dict[str, Any]) -> None:
    plain = v["non_streamed_us"]
    base = plain["routed, lean"]
    rows = [(n, f"{us:.0f}", f"{us / base:.2f}") for n, us in plain.items()]
    print(table(f"{v['name']}: client CPU per non-streamed call (µs)", rows,
                ("variant", "median", "x lean")))  # fmt: skip
    checks = [
        ("lean / litellm.acompletion", v["ratios"]["lean / litellm.acompletion"], 0.15),
        ("lean / aiohttp post", v["ratios"]["lean / aiohttp post"], 2.5),
    ]
    streams = v["streams"]
    if streams:
        rows = [(n, f"{s['fixed_us']:.0f}", f"{s['per_chunk_us']:.1f}") for n, s in streams.items()]
        print(
            table(
                f"{v['name']}: streams, client CPU", rows, ("variant", "fixed µs", "µs per chunk")
            )
        )
        lean = streams["routed, lean"]
        checks += [
            ("lean stream fixed µs", lean["fixed_us"], 1500.0),
            ("lean stream µs per chunk", lean["per_chunk_us"], 50.0),
        ]
    else:
        print(f"{v['name']}: streams are not on the lean path (they go through litellm)")
    for what, measured, limit in checks:
        print(f"{v['name']}: {what} = {measured:.3f} (target <= {limit:g}): "
              f"{'met' if measured <= limit else 'NOT met'}")  # fmt: skip
