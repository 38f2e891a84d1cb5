"""1. Router overhead on FakeProvider (zero latency) vs calling FakeProvider directly."""

from __future__ import annotations

from typing import Any

from benchmarks.common import MSG, Series, run_async, run_sync, table
from respan_router import Router
from respan_router.providers.base import ProviderCall
from respan_router.testing import FakeProvider


def _direct(fake: FakeProvider) -> tuple[Any, Any]:
    call = ProviderCall(model="gpt-4o", litellm_model="gpt-4o", provider="fake", messages=MSG)
    return (lambda: fake.complete(call)), (lambda: fake.acomplete(call))


def scenarios() -> dict[str, tuple[Router, dict[str, Any]]]:
    """Router variants and the call keywords each is measured with."""
    plain = Router(provider=FakeProvider("ok"))
    return {"plain": (plain, {"model": "gpt-4o", "messages": MSG})}


def _rows(series: dict[str, Series], baseline: str) -> list[tuple[str, ...]]:
    base = series[baseline]
    rows = []
    for name, s in series.items():
        over = s.median_us - base.median_us
        rows.append(
            (
                name,
                f"{s.median_us:.2f}",
                f"{s.p99_us:.2f}",
                "-" if name == baseline else f"{over:+.2f}",
            )
        )
    return rows


def run(quick: bool = False) -> dict[str, Any]:
    rounds, batch = (10, 500) if quick else (30, 1000)
    results: dict[str, Any] = {}
    for label, (router, kwargs) in scenarios().items():
        fake = router._provider  # the FakeProvider the router dispatches to
        direct_sync, direct_async = _direct(fake)

        def routed_sync(r: Router = router, kw: dict[str, Any] = kwargs) -> Any:
            return r.complete(**kw)

        def routed_async(r: Router = router, kw: dict[str, Any] = kwargs) -> Any:
            return r.acomplete(**kw)

        sync = run_sync({"direct": direct_sync, "router": routed_sync}, rounds=rounds, batch=batch)
        fake.calls.clear()
        asyn = run_async(
            {"direct": direct_async, "router": routed_async}, rounds=rounds, batch=batch
        )
        fake.calls.clear()
        for mode, series in (("sync", sync), ("async", asyn)):
            key = f"{label}/{mode}"
            results[key] = {
                **{n: s.summary() for n, s in series.items()},
                "overhead_median_us": round(
                    series["router"].median_us - series["direct"].median_us, 2
                ),
                "overhead_p99_us": round(series["router"].p99_us - series["direct"].p99_us, 2),
                "samples_ns": {n: s.samples for n, s in series.items()},
            }
            print(
                table(
                    f"router overhead: {key} (µs per call)",
                    _rows(series, "direct"),
                    ("variant", "median", "p99", "overhead"),
                )
            )
    return results
