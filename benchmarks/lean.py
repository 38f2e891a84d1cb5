"""Lean dispatch vs litellm, the openai SDK and a bare aiohttp post: client CPU per call.

The upstream (``tests/upstream.py``) runs in another process, so only the client's CPU
(``time.process_time``, every thread of this process) is counted. Variants run
interleaved, round by round, in this one process; medians per call.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks.common import MSG, table
from benchmarks.lean_sync import cpu_sync, sync_variants, verdicts

KEY = "sk-benchmark-not-a-real-key"
MODEL = "test-model"
_SERVER = (
    "import sys, time; from tests.upstream import FakeUpstream, Reply, _Server; "
    "_Server.request_queue_size = 4096; "
    "u = FakeUpstream(Reply(pieces=int(sys.argv[1]))).start(); "
    "print(u.base_url, flush=True); time.sleep(3600)"
)


class Upstream:
    """The fake upstream in a child process, answering streams in ``pieces`` chunks."""

    def __init__(self, pieces: int) -> None:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(pieces)],
            cwd=root,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def _cpu_async(
    variants: dict[str, Callable[[], Awaitable[Any]]],
    rounds: int,
    batch: int,
    closers: list[Callable[[], Awaitable[Any]]],
) -> dict[str, float]:
    """Median client CPU µs per call of each variant, interleaved rounds on one loop."""

    async def main() -> dict[str, float]:
        samples: dict[str, list[float]] = {n: [] for n in variants}
        for fn in variants.values():
            for _ in range(20):
                await fn()
        gc.collect()
        for _ in range(rounds):
            for name, fn in variants.items():
                clock = time.process_time_ns
                for _ in range(batch):
                    t = clock()
                    await fn()
                    samples[name].append((clock() - t) / 1000)
        for close in closers:
            await close()
        return {n: statistics.median(s) for n, s in samples.items()}

    return asyncio.run(main())


def _routers(base_url: str) -> tuple[Any, Any, Any]:
    """A Router on the lean path, one through litellm, and the lean provider (to close)."""
    from respan_router import Router
    from respan_router.providers import LeanProvider

    providers = {"openai": {"api_key": KEY, "api_base": base_url}}
    provider = LeanProvider()
    lean = Router(providers=providers, provider=provider)
    via_litellm = Router(providers=providers, provider=LeanProvider(enabled=False))
    return lean, via_litellm, provider


def _non_streamed(base_url: str, rounds: int, batch: int) -> dict[str, float]:
    import aiohttp
    import litellm
    from openai import AsyncOpenAI

    lean, via_litellm, provider = _routers(base_url)
    sdk = AsyncOpenAI(api_key=KEY, base_url=base_url, max_retries=0)
    body = json.dumps({"model": MODEL, "messages": MSG}).encode()
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    url = base_url + "/chat/completions"
    holder: dict[str, Any] = {}

    async def raw_post() -> Any:
        session = holder.get("s")
        if session is None:
            session = holder["s"] = aiohttp.ClientSession()
        async with session.post(url, data=body, headers=headers) as r:
            return json.loads(await r.read())

    variants: dict[str, Callable[[], Awaitable[Any]]] = {
        "aiohttp post + json": raw_post,
        "routed, lean": lambda: lean.acomplete(model=f"openai/{MODEL}", messages=MSG),
        "openai SDK AsyncOpenAI": lambda: sdk.chat.completions.create(model=MODEL, messages=MSG),
        "litellm.acompletion": lambda: litellm.acompletion(
            model=f"openai/{MODEL}",
            messages=MSG,
            api_key=KEY,
            api_base=base_url,
            num_retries=0,
            max_retries=0,
        ),
        "routed, through litellm": lambda: via_litellm.acomplete(
            model=f"openai/{MODEL}", messages=MSG
        ),
    }
    async def close_all() -> None:
        await provider.aclose()
        await sdk.close()
        if "s" in holder:
            await holder["s"].close()

    return _cpu_async(variants, rounds, batch, [close_all])


def _streams(base_url: str, rounds: int, batch: int) -> dict[str, float]:
    import aiohttp
    import litellm

    lean, _, provider = _routers(base_url)
    body = json.dumps({"model": MODEL, "messages": MSG, "stream": True}).encode()
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    url = base_url + "/chat/completions"
    holder: dict[str, Any] = {}

    async def raw_sse() -> None:
        session = holder.get("s")
        if session is None:
            session = holder["s"] = aiohttp.ClientSession()
        async with session.post(url, data=body, headers=headers) as r:
            async for line in r.content:
                if line.startswith(b"data: {"):
                    json.loads(line[6:])

    async def routed(router: Any) -> None:
        stream = await router.acomplete(model=f"openai/{MODEL}", messages=MSG, stream=True)
        async for _ in stream:
            pass

    async def bare_litellm() -> None:
        stream = await litellm.acompletion(
            model=f"openai/{MODEL}",
            messages=MSG,
            api_key=KEY,
            api_base=base_url,
            stream=True,
            num_retries=0,
            max_retries=0,
        )
        async for _ in stream:
            pass

    variants: dict[str, Callable[[], Awaitable[Any]]] = {
        "aiohttp SSE": raw_sse,
        "routed, lean": lambda: routed(lean),
        "litellm.acompletion": bare_litellm,
    }

    async def close_all() -> None:
        await provider.aclose()
        if "s" in holder:
            await holder["s"].close()

    return _cpu_async(variants, rounds, batch, [close_all])


def _sync(base_url: str, rounds: int, batch: int) -> dict[str, float]:
    lean, _, provider = _routers(base_url)
    variants, close = sync_variants(base_url, MODEL, KEY, lean)
    try:
        return cpu_sync(variants, rounds, batch)
    finally:
        close()
        provider.close()


class _FullCollections:
    """Counts the full (oldest-generation) garbage collections while in use, and their CPU."""

    def __init__(self) -> None:
        self.count, self.cpu_s, self._started = 0, 0.0, 0.0

    def __enter__(self) -> _FullCollections:
        gc.callbacks.append(self._on_collection)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._on_collection)

    def _on_collection(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.process_time()
        else:
            self.count += 1
            self.cpu_s += time.process_time() - self._started


def _throughput(base_url: str, calls: int) -> dict[str, float]:
    """``calls`` concurrent routed calls, client CPU: with the pool empty (the gather
    opens its connections), again with the pool warm, and again after ``gc.freeze()``
    (the heap of litellm's import out of the collector's reach, as an application can
    do). Each gather counts the full collections it ran into."""
    lean, _, provider = _routers(base_url)

    async def gather() -> tuple[float, float, _FullCollections]:
        with _FullCollections() as full:
            cpu, wall = time.process_time(), time.perf_counter()
            await asyncio.gather(
                *(lean.acomplete(model=f"openai/{MODEL}", messages=MSG) for _ in range(calls))
            )
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        return cpu, wall, full

    async def main() -> dict[str, float]:
        await lean.acomplete(model=f"openai/{MODEL}", messages=MSG)
        cpu, wall, full = await gather()
        warm_cpu, _, warm_full = await gather()
        gc.collect()
        gc.freeze()
        try:
            frozen_cpu, _, _ = await gather()
        finally:
            gc.unfreeze()
        await provider.aclose()
        return {
            "calls": calls,
            "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
            "calls_per_cpu_s": round(calls / cpu, 1),
            "full_collections": full.count,
            "full_collections_cpu_s": round(full.cpu_s, 3),
            "calls_per_cpu_s_warm": round(calls / warm_cpu, 1),
            # Both gathers together: a full collection the first one escapes lands in the
            # second, so this is the figure a service sustains (the target's).
            "calls_per_cpu_s_both": round(2 * calls / (cpu + warm_cpu), 1),
            "full_collections_warm": warm_full.count,
            "full_collections_warm_cpu_s": round(warm_full.cpu_s, 3),
            "calls_per_cpu_s_gc_frozen": round(calls / frozen_cpu, 1),
        }

    return asyncio.run(main())


def run(quick: bool = False) -> dict[str, Any]:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    rounds, batch = (3, 30) if quick else (8, 60)
    result: dict[str, Any] = {}
    one = Upstream(pieces=1)
    many = Upstream(pieces=51)
    try:
        plain = _non_streamed(one.base_url, rounds, batch)
        result["non_streamed_us"] = {k: round(v, 1) for k, v in plain.items()}
        lean_us = plain["routed, lean"]
        result["ratios"] = {
            "lean / litellm.acompletion": round(lean_us / plain["litellm.acompletion"], 3),
            "lean / openai SDK": round(lean_us / plain["openai SDK AsyncOpenAI"], 3),
            "lean / aiohttp post": round(lean_us / plain["aiohttp post + json"], 3),
        }
        short = _streams(one.base_url, rounds, max(batch // 2, 10))
        long = _streams(many.base_url, rounds, max(batch // 4, 8))
        # 1 content piece -> 2 chunks (content, finish); 51 pieces -> 52 chunks.
        result["streams"] = {
            name: {
                "per_chunk_us": round((long[name] - short[name]) / 50, 1),
                "fixed_us": round(short[name] - 2 * (long[name] - short[name]) / 50, 1),
            }
            for name in short
        }
        sync = _sync(one.base_url, rounds, batch)
        result["sync_us"] = {k: round(v, 1) for k, v in sync.items()}
        result["ratios"]["sync lean / litellm.completion"] = round(
            sync["routed sync, lean"] / sync["litellm.completion"], 3
        )
        result["ratios"]["sync lean / urllib3 post"] = round(
            sync["routed sync, lean"] / sync["urllib3 post + json"], 3
        )
        _print(result)
        result["throughput"] = _throughput(one.base_url, 1000)
        t = result["throughput"]
        print(
            f"1,000 concurrent routed calls (lean): {t['wall_s']} s wall, {t['cpu_s']} s CPU, "
            f"{t['calls_per_cpu_s']} calls per CPU second, {t['full_collections']} full "
            f"collection(s) taking {t['full_collections_cpu_s']} s of it; pool warm: "
            f"{t['calls_per_cpu_s_warm']} per CPU second, {t['full_collections_warm']} full "
            f"({t['full_collections_warm_cpu_s']} s); after gc.freeze(): "
            f"{t['calls_per_cpu_s_gc_frozen']}; both gathers together: "
            f"{t['calls_per_cpu_s_both']} per CPU second"
        )
        verdicts(result)
    finally:
        one.close()
        many.close()
    return result


def _print(result: dict[str, Any]) -> None:
    plain = result["non_streamed_us"]
    base = plain["routed, lean"]
    rows = [(n, f"{v:.0f}", f"{v / base:.2f}") for n, v in plain.items()]
    print(table("client CPU per non-streamed call (µs)", rows, ("variant", "median", "x lean")))
    rows = [
        (n, f"{s['fixed_us']:.0f}", f"{s['per_chunk_us']:.1f}")
        for n, s in result["streams"].items()
    ]
    print(table("streams, client CPU", rows, ("variant", "fixed µs", "µs per chunk")))
    sync = result["sync_us"]
    rows = [(n, f"{v:.0f}", f"{v / sync['routed sync, lean']:.2f}") for n, v in sync.items()]
    print(table("sync, client CPU per call (µs)", rows, ("variant", "median", "x lean")))
    for name, ratio in result["ratios"].items():
        print(f"{name}: {ratio:.3f}")

