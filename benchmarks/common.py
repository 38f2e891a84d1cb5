"""Timing helpers: interleaved rounds so that ratios hold on a noisy machine."""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

MSG = [{"role": "user", "content": "Say hello."}]


@dataclass
class Series:
    """Per-call timings of one variant, in nanoseconds."""

    name: str
    samples: list[int] = field(default_factory=list)

    @property
    def median_us(self) -> float:
        return statistics.median(self.samples) / 1000

    @property
    def p99_us(self) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1000

    def summary(self) -> dict[str, Any]:
        return {
            "median_us": round(self.median_us, 2),
            "p99_us": round(self.p99_us, 2),
            "n": len(self.samples),
        }


def run_sync(
    variants: dict[str, Callable[[], Any]], *, rounds: int, batch: int
) -> dict[str, Series]:
    """Each round runs a batch of every variant in turn; every call is timed."""
    series = {name: Series(name) for name in variants}
    for fn in variants.values():  # warm up
        for _ in range(min(batch, 200)):
            fn()
    gc.collect()
    gc.disable()
    try:
        for _ in range(rounds):
            for name, fn in variants.items():
                out = series[name].samples
                clock = time.perf_counter_ns
                for _ in range(batch):
                    t = clock()
                    fn()
                    out.append(clock() - t)
            gc.collect()
    finally:
        gc.enable()
    return series


def run_async(
    variants: dict[str, Callable[[], Awaitable[Any]]], *, rounds: int, batch: int
) -> dict[str, Series]:
    """The async twin of :func:`run_sync`, on one event loop."""

    async def main() -> dict[str, Series]:
        series = {name: Series(name) for name in variants}
        for fn in variants.values():
            for _ in range(min(batch, 200)):
                await fn()
        gc.collect()
        gc.disable()
        try:
            for _ in range(rounds):
                for name, fn in variants.items():
                    out = series[name].samples
                    clock = time.perf_counter_ns
                    for _ in range(batch):
                        t = clock()
                        await fn()
                        out.append(clock() - t)
                gc.collect()
        finally:
            gc.enable()
        return series

    return asyncio.run(main())


def table(title: str, rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(r: tuple[str, ...]) -> str:
        return "  ".join(
            str(c).rjust(w) if i else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )

    out = [f"\n== {title}", line(header), line(tuple("-" * w for w in widths))]
    out += [line(r) for r in rows]
    return "\n".join(out)


def verdict(what: str, measured: float, limit: float, unit: str = "µs") -> bool:
    """Print one target of the issue against this run's figure: met or MISSED."""
    met = measured <= limit
    shown = f"{measured:.3f}" if unit == "x" else f"{measured:.1f}"
    print(f"target {what}: {shown} {unit} (<= {limit:g} {unit}): {'met' if met else 'MISSED'}")
    return met
