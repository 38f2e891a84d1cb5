"""3. Cache: the cost of a hit next to a miss (FakeProvider, zero latency), interleaved.

A miss is a full call that also stores its answer (a fresh message each time, so it is
never a hit); a hit is the same call again. Both are compared to the direct provider call.
"""

from __future__ import annotations

import itertools
from typing import Any

from benchmarks.common import MSG, run_async, run_sync, table, verdict
from respan_router import Router
from respan_router.providers import ProviderCall
from respan_router.testing import FakeProvider, Reply


def run(quick: bool = False) -> dict[str, Any]:
    rounds, batch = (8, 400) if quick else (30, 1000)
    fake = FakeProvider(Reply("a cached answer of a few words", usage=(5, 6)))
    router = Router(provider=fake, cache_enabled=True, cache_maxsize=1_000_000)
    call = ProviderCall(model="gpt-4o", litellm_model="gpt-4o", provider="fake", messages=MSG)
    router.complete(model="gpt-4o", messages=MSG)  # fill
    counter = itertools.count()

    def miss() -> Any:
        question = [{"role": "user", "content": f"q{next(counter)}"}]
        return router.complete(model="gpt-4o", messages=question)

    def hit() -> Any:
        return router.complete(model="gpt-4o", messages=MSG)

    async def amiss() -> Any:
        return await router.acomplete(
            model="gpt-4o", messages=[{"role": "user", "content": f"q{next(counter)}"}]
        )

    sync = run_sync({"direct provider": lambda: fake.complete(call), "hit": hit, "miss": miss},
                    rounds=rounds, batch=batch)  # fmt: skip
    fake.calls.clear()
    asyn = run_async({"direct provider": lambda: fake.acomplete(call),
                      "hit": lambda: router.acomplete(model="gpt-4o", messages=MSG),
                      "miss": amiss}, rounds=rounds, batch=batch)  # fmt: skip
    fake.calls.clear()
    result: dict[str, Any] = {}
    for mode, series in (("sync", sync), ("async", asyn)):
        result[mode] = {n: s.summary() for n, s in series.items()}
        print(table(f"cache hit vs miss, {mode} (µs per call)",
                    [(n, f"{s.median_us:.2f}", f"{s.p99_us:.2f}") for n, s in series.items()],
                    ("variant", "median", "p99")))  # fmt: skip
        verdict(f"cache hit, whole call ({mode})", series["hit"].median_us, 10.0)
    return result
