"""Thread and task safety: 16 threads and 1,000 concurrent tasks sharing one Router.

Load-balance counts, breaker state, cache statistics and span counts must stay consistent:
no lost update, no double count, no call missing from the record.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from respan_router import Router
from respan_router.testing import Failure, FakeProvider, Reply
from tests import figures
from tests.helpers import MSG, assert_matches_weights

THREADS = 16
TASKS = 1_000
WEIGHTS = {"a": 3.0, "b": 1.0}
LB = {"load_balance_models": [{"model": m, "weight": w} for m, w in WEIGHTS.items()]}
THRESHOLD = 5


def _setup() -> tuple[Router, FakeProvider, InMemorySpanExporter]:
    fake = FakeProvider(Reply("ok"))
    fake.set_default("flaky", Failure(500, "down"))
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    router = Router(
        provider=fake,
        tracer_provider=tracer_provider,
        circuit_breaker={"consecutive_failures": THRESHOLD, "cooldown": 600},
        seed=3,
    )
    return router, fake, exporter


def _call_spans(exporter: InMemorySpanExporter) -> int:
    return sum(1 for s in exporter.get_finished_spans() if s.parent is None)


def _in_threads(work: Callable[[int], None]) -> None:
    """Run ``work(i)`` in THREADS threads released together; re-raise the first error."""
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def target(i: int) -> None:
        barrier.wait()
        try:
            work(i)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def _lb_counts(fake: FakeProvider) -> Counter[str]:
    return Counter(c.model for c in fake.calls if c.model in WEIGHTS)


def test_sixteen_threads_share_one_router_consistently() -> None:
    router, fake, exporter = _setup()
    per_thread = 100

    def balanced(i: int) -> None:
        for _ in range(per_thread):
            assert router.complete(messages=MSG, **LB).choices[0].message.content == "ok"

    _in_threads(balanced)
    counts = _lb_counts(fake)
    assert sum(counts.values()) == THREADS * per_thread  # no call lost or doubled
    assert_matches_weights(counts, WEIGHTS)

    # Breaker: every thread hits a failing model with a fallback; the breaker opens once.
    def failing(i: int) -> None:
        for _ in range(4):
            out = router.complete(model="flaky", fallback_models=["good"], messages=MSG)
            assert out.choices[0].message.content == "ok"

    _in_threads(failing)
    flaky_calls = len(fake.calls_for("flaky"))
    assert THRESHOLD <= flaky_calls <= THRESHOLD + THREADS - 1  # at most one in flight each
    assert router.health is not None
    (snap,) = [s for k, s in router.health.snapshot().items() if k.startswith("flaky|")]
    assert snap.state == "open" and snap.times_opened == 1
    assert snap.consecutive_failures >= THRESHOLD

    # Cache under single flight: every thread asks each of 5 prompts at the same moment.
    fake.script("slow", *[Reply("cached", latency=0.3)] * 5)
    stats0 = router.cache.stats
    calls0 = len(fake.calls_for("slow"))
    rounds = 5
    barrier = threading.Barrier(THREADS)

    def cached(i: int) -> None:
        for r in range(rounds):
            barrier.wait()
            prompt = [{"role": "user", "content": f"prompt {r}"}]
            out = router.complete(model="slow", messages=prompt, cache_enabled=True)
            assert out.choices[0].message.content == "cached"

    _in_threads(cached)
    stats = router.cache.stats
    assert (stats.hits - stats0.hits) + (stats.misses - stats0.misses) == THREADS * rounds
    assert len(fake.calls_for("slow")) - calls0 == rounds  # one provider call per prompt
    assert stats.misses - stats0.misses == rounds  # the waiters count as hits, as their spans
    assert stats.entries == rounds

    total = THREADS * (per_thread + 4 + rounds)
    assert _call_spans(exporter) == total
    figures.report("16 threads", f"{total} calls, load balance {dict(sorted(counts.items()))}, "
                   f"breaker opened {snap.times_opened}x after {flaky_calls} calls, cache "
                   f"{stats.hits} hits / {stats.misses} misses, {total} call spans")  # fmt: skip


def test_a_thousand_concurrent_tasks_share_one_router_consistently() -> None:
    router, fake, exporter = _setup()
    fake.set_default("slow", Reply("cached", latency=0.05))
    distinct = 10

    async def balanced() -> Any:
        return await router.acomplete(messages=MSG, **LB)

    async def cached(i: int) -> Any:
        prompt = [{"role": "user", "content": f"prompt {(i // 4) % distinct}"}]
        return await router.acomplete(model="slow", messages=prompt, cache_enabled=True)

    async def streamed() -> str:
        stream = await router.acomplete(stream=True, messages=MSG, **LB)
        return "".join([c.choices[0].delta.content or "" async for c in stream])

    async def main() -> list[Any]:
        jobs = []
        for i in range(TASKS):
            kind = i % 4
            jobs.append(balanced() if kind < 2 else cached(i) if kind == 2 else streamed())
        return await asyncio.gather(*jobs)

    out = asyncio.run(main())
    assert len(out) == TASKS
    assert all(o == "ok" or o.choices[0].message.content in ("ok", "cached") for o in out)
    counts = _lb_counts(fake)
    assert sum(counts.values()) == TASKS // 2 + TASKS // 4  # balanced and streamed calls
    assert_matches_weights(counts, WEIGHTS)
    stats = router.cache.stats
    assert stats.hits + stats.misses == TASKS // 4
    assert stats.misses == distinct  # the waiters count as hits, as their spans
    assert len(fake.calls_for("slow")) == distinct  # single flight: one call per key
    assert _call_spans(exporter) == TASKS
    assert fake.open_streams == 0
    slow = len(fake.calls_for("slow"))
    figures.report("1,000 tasks", f"{TASKS} calls, load balance {dict(sorted(counts.items()))}, "
                   f"cache {stats.hits} hits / {stats.misses} misses, "
                   f"{slow} provider calls for {distinct} prompts")  # fmt: skip


def test_threads_and_tasks_at_once_on_one_router() -> None:
    router, fake, exporter = _setup()
    per_thread = 50
    loop_done = threading.Event()

    async def tasks() -> None:
        await asyncio.gather(*(router.acomplete(messages=MSG, **LB) for _ in range(TASKS)))

    def run_loop() -> None:
        asyncio.run(tasks())
        loop_done.set()

    loop_thread = threading.Thread(target=run_loop)
    loop_thread.start()
    _in_threads(lambda i: [router.complete(messages=MSG, **LB) for _ in range(per_thread)])
    loop_thread.join()
    assert loop_done.is_set()
    total = TASKS + THREADS * per_thread
    counts = _lb_counts(fake)
    assert sum(counts.values()) == total
    assert_matches_weights(counts, WEIGHTS)
    assert _call_spans(exporter) == total
