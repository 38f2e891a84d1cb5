"""Chaos over real HTTP: three local upstreams failing at random behind one Router.

Shared by the CI test (a short run) and the benchmark (a longer one). Every call must end
in an answer or a typed error; upstream requests never exceed the plan's bound; exactly one
span per call; nothing is left behind.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from respan_router import AllAttemptsFailedError, Router, RouterError, StreamInterruptedError
from tests.upstream import Behaviour, Drop, Error, FakeUpstream, Reply

FAULT_RATE = 0.3
RETRIES = 1
CANDIDATES = 3
TIMEOUT = 0.15
MSG = [{"role": "user", "content": "chaos"}]

# Every fault kind; the broken streams apply to streaming requests only.
FAULTS: dict[str, Behaviour] = {
    "429": Error(429, headers={"retry-after-ms": "5"}),
    "500": Error(500),
    "503": Error(503),
    "timeout": Reply("slow", delay=TIMEOUT + 0.1),
    "drop": Drop(),
    "stream-broken-before-first-chunk": Reply("one two three", pieces=3, break_after=0),
    "stream-broken-after-first-chunk": Reply("one two three", pieces=3, break_after=1),
}
_ANY_REQUEST = [k for k in FAULTS if not k.startswith("stream-")]


def faults(
    seed: int, rate: float = FAULT_RATE
) -> tuple[Callable[[str, bool], Behaviour], Counter[str]]:
    """A behaviour chooser failing at ``rate``, and the count of what it injected."""
    rng = random.Random(seed)
    injected: Counter[str] = Counter()
    ok = Reply("fine answer", pieces=3)

    def choose(model: str, stream: bool) -> Behaviour:
        if rng.random() < rate:
            name = rng.choice(list(FAULTS) if stream else _ANY_REQUEST)
            injected[name] += 1
            return FAULTS[name]
        injected["ok"] += 1
        return ok

    return choose, injected


@dataclass
class ChaosReport:
    calls: int = 0
    successes: int = 0
    all_failed: int = 0
    interrupted_streams: int = 0
    other_errors: list[str] = field(default_factory=list)
    upstream_requests: int = 0
    bound: int = 0
    call_spans: int = 0
    leaked_tasks: list[str] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)  # sync / async / stream calls
    injected: Counter[str] = field(default_factory=Counter)
    typed: Counter[str] = field(default_factory=Counter)  # last error of all-failed calls

    @property
    def faults(self) -> int:
        return sum(v for k, v in self.injected.items() if k != "ok")

    def summary(self) -> str:
        return (
            f"calls={self.calls} ({dict(self.kinds)}) successes={self.successes} "
            f"typed_failures={self.all_failed} ({dict(self.typed)}) "
            f"interrupted_streams={self.interrupted_streams} "
            f"upstream_requests={self.upstream_requests} bound={self.bound} "
            f"call_spans={self.call_spans} leaked_tasks={len(self.leaked_tasks)} "
            f"faults_injected={self.faults} ({dict(self.injected)}) "
            f"other_errors={len(self.other_errors)}"
        )


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0


def start_upstreams() -> list[FakeUpstream]:
    return [FakeUpstream().start() for _ in range(CANDIDATES)]


def _router(upstreams: list[FakeUpstream], seed: int, tracer_provider: Any) -> Router:
    return Router(
        deployments={
            f"u{i}": {
                "model": "openai/chaos",
                "api_key": f"sk-chaos-{i}-secret",
                "api_base": up.base_url,
            }
            for i, up in enumerate(upstreams)
        },
        timeout=TIMEOUT,
        sleep=lambda s: None,
        seed=seed,
        tracer_provider=tracer_provider,
        circuit_breaker={"consecutive_failures": 50},
    )


KWARGS = {
    "messages": MSG,
    "load_balance_models": [{"model": "u0", "weight": 2}, {"model": "u1", "weight": 1}],
    "fallback_models": ["u2"],
    "retries": RETRIES,
}


class _Tally:
    """Files each call's outcome in the report."""

    def __init__(self, report: ChaosReport) -> None:
        self.report = report

    def ok(self) -> None:
        self.report.successes += 1

    def failed(self, exc: BaseException) -> None:
        report = self.report
        if isinstance(exc, StreamInterruptedError):
            report.interrupted_streams += 1  # after its first chunk: no fallback by design
        elif isinstance(exc, AllAttemptsFailedError):
            if len(exc.attempts) != CANDIDATES:
                report.other_errors.append(f"gave up after {len(exc.attempts)} candidates")
            report.all_failed += 1
            report.typed[type(exc.last_error).__name__] += 1
        elif isinstance(exc, RouterError):
            report.other_errors.append(f"{type(exc).__name__} before all candidates failed")
        else:
            report.other_errors.append(f"{type(exc).__name__}: {exc}")


def run_chaos(
    calls: int,
    *,
    seed: int = 7,
    upstreams: list[FakeUpstream] | None = None,
) -> ChaosReport:
    """Run ``calls`` mixed sync/async/stream calls; return what happened.

    Upstreams given by the caller are reset and left running; otherwise three are
    started and closed here.
    """
    own = upstreams is None
    ups = start_upstreams() if upstreams is None else upstreams
    report = ChaosReport()
    tally = _Tally(report)
    counters = []
    for i, up in enumerate(ups):
        up.reset()
        chooser, injected = faults(seed + i)
        up.chooser = chooser
        counters.append(injected)
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        router = _router(ups, seed, tracer_provider)

        def one_sync(stream: bool) -> None:
            report.kinds["sync-stream" if stream else "sync"] += 1
            try:
                if stream:
                    for _ in router.complete(stream=True, **KWARGS):
                        pass
                else:
                    router.complete(**KWARGS)
            except Exception as exc:  # the point: classify anything
                tally.failed(exc)
            else:
                tally.ok()

        async def one_async(stream: bool) -> None:
            report.kinds["async-stream" if stream else "async"] += 1
            try:
                if stream:
                    async for _ in await router.acomplete(stream=True, **KWARGS):
                        pass
                else:
                    await router.acomplete(**KWARGS)
            except Exception as exc:  # the point: classify anything
                tally.failed(exc)
            else:
                tally.ok()

        async def main() -> None:
            # One event loop for the whole run, as in a service; sync calls run inline.
            done = 0
            while done < calls:
                n = min(20, calls - done)
                third = n // 3
                for i in range(2 * third):
                    one_sync(stream=i >= third)
                await asyncio.gather(*(one_async(i % 2 == 1) for i in range(n - 2 * third)))
                done += n
            await asyncio.sleep(0.05)  # let closed streams finish their cleanup
            me = asyncio.current_task()
            report.leaked_tasks = [
                repr(t) for t in asyncio.all_tasks() if t is not me and not _litellm_worker(t)
            ]

        asyncio.run(main())
        report.calls = sum(report.kinds.values())
        report.upstream_requests = sum(len(u.requests) for u in ups)
        report.bound = calls * CANDIDATES * (1 + RETRIES)
        report.call_spans = sum(1 for s in exporter.get_finished_spans() if s.parent is None)
        for c in counters:
            report.injected.update(c)
    finally:
        tracer_provider.shutdown()
        if own:
            for up in ups:
                up.close()
    return report


def _litellm_worker(task: asyncio.Task[Any]) -> bool:
    """litellm's own logging worker: one per event loop, started by its first call."""
    return getattr(task.get_coro(), "__qualname__", "") == "LoggingWorker._worker_loop"


def our_threads() -> int:
    """Live threads, not counting the fake upstreams' own server threads."""
    return sum(
        1
        for t in threading.enumerate()
        if t.is_alive()
        and "process_request" not in t.name
        and t.name != "fake-upstream"
        and not t.name.startswith("litellm-")  # litellm's own bounded worker pool
    )
