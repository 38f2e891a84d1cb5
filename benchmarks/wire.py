"""The wire edge's cost: what the JSON round trip adds to a call, and a whole call through
``router.as_async_openai()`` against the plain OpenAI SDK over HTTP.

1. The transport's own work (reading the request, rendering the answer or the stream),
   on FakeProvider (no I/O): the transport's ``handle_async_request`` on a built request,
   body read to the end, interleaved with ``acomplete`` of the same call; the difference
   of the medians is the transport's work per call.
2. Client CPU per call (``time.process_time``) against a fake upstream in another
   process: ``as_async_openai()`` over the lean path vs ``AsyncOpenAI`` posting to the
   upstream itself, and ``acomplete`` on the lean path for reference.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from benchmarks.common import MSG, run_async, table
from benchmarks.lean import KEY, MODEL, Upstream, _cpu_async, _routers

TARGET_US = 30.0


def _transport_work(rounds: int, batch: int) -> dict[str, float]:
    from respan_router import Router
    from respan_router.testing import FakeProvider, Reply
    from respan_router.wire._transport import http_module

    http = http_module()
    router = Router(provider=FakeProvider(Reply("Hello there, this is a reply.", chunks=5)))
    transport = router.async_transport()
    url = "http://respan-router.invalid/v1/chat/completions"
    sdk_headers = {
        "authorization": "Bearer x",
        "content-type": "application/json",
        "user-agent": "AsyncOpenAI/Python",
        "x-stainless-lang": "python",
        "x-stainless-retry-count": "0",
    }

    def request(stream: bool) -> Any:
        body = orjson.dumps({"model": "gpt-4o", "messages": MSG, "stream": stream})
        return http.Request("POST", url, headers=sdk_headers, content=body)

    plain, streamed = request(False), request(True)

    async def through_transport() -> None:
        response = await transport.handle_async_request(plain)
        async for _ in response.stream:  # the body as the transport hands it over
            pass

    async def through_transport_stream() -> None:
        response = await transport.handle_async_request(streamed)
        async for _ in response.stream:
            pass
        await response.aclose()

    async def direct() -> None:
        await router.acomplete(model="gpt-4o", messages=MSG)

    async def direct_stream() -> None:
        stream = await router.acomplete(model="gpt-4o", messages=MSG, stream=True)
        async for _ in stream:
            pass

    variants: dict[str, Callable[[], Awaitable[Any]]] = {
        "acomplete": direct,
        "transport": through_transport,
        "acomplete, stream (5 chunks)": direct_stream,
        "transport, stream (5 chunks)": through_transport_stream,
    }
    series = run_async(variants, rounds=rounds, batch=batch)
    return {name: s.median_us for name, s in series.items()}


def _whole_call(base_url: str, rounds: int, batch: int) -> dict[str, float]:
    from openai import AsyncOpenAI

    lean, _, provider = _routers(base_url)
    sdk = AsyncOpenAI(api_key=KEY, base_url=base_url, max_retries=0)
    dropin = lean.as_async_openai()
    variants: dict[str, Callable[[], Awaitable[Any]]] = {
        "openai SDK over HTTP": lambda: sdk.chat.completions.create(model=MODEL, messages=MSG),
        "as_async_openai(), lean": lambda: dropin.chat.completions.create(
            model=f"openai/{MODEL}", messages=MSG
        ),
        "acomplete, lean": lambda: lean.acomplete(model=f"openai/{MODEL}", messages=MSG),
    }

    async def close_all() -> None:
        await provider.aclose()
        await sdk.close()
        await dropin.close()

    return _cpu_async(variants, rounds, batch, [close_all])


def run(quick: bool = False) -> dict[str, Any]:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    rounds, batch = (3, 200) if quick else (8, 500)
    work = _transport_work(rounds, batch)
    plain_cost = work["transport"] - work["acomplete"]
    stream_cost = work["transport, stream (5 chunks)"] - work["acomplete, stream (5 chunks)"]
    upstream = Upstream(pieces=1)
    try:
        crounds, cbatch = (3, 30) if quick else (8, 60)
        whole = _whole_call(upstream.base_url, crounds, cbatch)
    finally:
        upstream.close()
    result: dict[str, Any] = {
        "transport_work_us": {k: round(v, 1) for k, v in work.items()},
        "transport_cost_us": {"plain": round(plain_cost, 1), "stream": round(stream_cost, 1)},
        "whole_call_cpu_us": {k: round(v, 1) for k, v in whole.items()},
        "ratios": {
            "as_async_openai / openai SDK": round(
                whole["as_async_openai(), lean"] / whole["openai SDK over HTTP"], 3
            ),
        },
        "target_us": TARGET_US,
    }
    rows = [(name, f"{us:.1f}") for name, us in work.items()]
    rows += [
        ("transport's own work, plain", f"{plain_cost:.1f}"),
        ("transport's own work, stream", f"{stream_cost:.1f}"),
    ]
    print(table("wire: the transport on FakeProvider (median µs per call)", rows, ("", "µs")))
    rows = [(name, f"{us:.1f}") for name, us in whole.items()]
    rows.append(
        ("ratio as_async_openai / SDK", f"{result['ratios']['as_async_openai / openai SDK']}")
    )
    print(table("wire: client CPU per call over HTTP (median µs)", rows, ("", "µs")))
    verdict = "met" if max(plain_cost, stream_cost) <= TARGET_US else "MISSED"
    print(f"transport target ≤ {TARGET_US:.0f} µs per call: {verdict}")
    return result
