"""5. 10,000 concurrent acomplete calls on one loop against a 100 ms FakeProvider."""

from __future__ import annotations

import asyncio
import resource
import time
from typing import Any

from benchmarks.common import MSG, table
from respan_router import Router
from respan_router.testing import FakeProvider, Reply

LATENCY = 0.1


def run(quick: bool = False) -> dict[str, Any]:
    n = 2_000 if quick else 10_000
    router = Router(provider=FakeProvider(Reply("ok", latency=LATENCY)))

    async def main() -> float:
        await router.acomplete(model="m", messages=MSG)  # warm up
        t = time.perf_counter()
        out = await asyncio.gather(*(router.acomplete(model="m", messages=MSG) for _ in range(n)))
        wall = time.perf_counter() - t
        assert len(out) == n and all(o.choices[0].message.content == "ok" for o in out)
        return wall

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    wall = asyncio.run(main())
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {
        "calls": n,
        "latency_s": LATENCY,
        "wall_s": round(wall, 3),
        "ideal_s": LATENCY,
        "overhead_per_call_us": round((wall - LATENCY) / n * 1e6, 2),
        "peak_rss_growth_mb": round((rss_after - rss_before) / 1024, 1),
    }
    print(
        table(
            f"{n} concurrent acomplete, provider latency {LATENCY * 1000:.0f} ms",
            [
                ("wall time", f"{wall:.3f} s"),
                ("ideal", f"{LATENCY:.3f} s"),
                ("router cost per call", f"{result['overhead_per_call_us']:.1f} µs"),
                ("peak RSS growth", f"{result['peak_rss_growth_mb']:.1f} MB"),
            ],
            ("what", "value"),
        )
    )
    return result
