"""1. Router overhead on FakeProvider (zero latency) vs calling FakeProvider directly.

Scenarios, each interleaved with its own baseline:

- ``plain``: ``model=`` only, tracing off (no tracer provider configured).
- ``routed``: load balancing over two models + a fallback + a retry policy, tracing off.
- ``traced``: the plain call with an SDK ``TracerProvider`` (batch processor, an exporter
  that discards); its baseline records the *same* spans (same names, kinds and
  attributes) with the same SDK around a direct FakeProvider call, so the difference is
  the routing, not the SDK.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.common import MSG, Series, run_async, run_sync, table, verdict
from respan_router import Router
from respan_router.providers import ProviderCall
from respan_router.testing import FakeProvider, Reply

ROUTED = {
    "load_balance_models": [{"model": "a", "weight": 3}, {"model": "b", "weight": 1}],
    "fallback_models": ["c"],
    "retry_params": {"num_retries": 2, "retry_after": 0.1},
}
#: The issue's limits on the router's own work per call (µs above the same-run baseline).
TARGETS = {"plain": 8.0, "routed": 20.0, "traced": 15.0}


def _sdk_provider() -> Any:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard(), max_queue_size=100_000))
    return provider


def _same_spans(router: Router, kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """The spans one routed call records: (root name, kind, attrs), (child ...)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    probe = Router(provider=router._provider, tracer_provider=provider)
    probe.complete(**kwargs)
    spans = sorted(exporter.get_finished_spans(), key=lambda s: s.parent is not None)
    return tuple((s.name, s.kind, dict(s.attributes or {})) for s in spans)


def _baseline_with_spans(
    fake: FakeProvider, call: ProviderCall, spans: Any, provider: Any
) -> Callable[[], Any]:
    from opentelemetry import trace

    tracer = provider.get_tracer("baseline")
    (root_name, root_kind, root_attrs), (child_name, child_kind, child_attrs) = spans

    def direct_with_spans() -> Any:
        root = tracer.start_span(root_name, kind=root_kind, attributes=root_attrs)
        ctx = trace.set_span_in_context(root)
        child = tracer.start_span(child_name, context=ctx, kind=child_kind, attributes=child_attrs)
        out = fake.complete(call)
        child.end()
        root.end()
        return out

    return direct_with_spans


def _rows(series: dict[str, Series], baseline: str) -> list[tuple[str, ...]]:
    base = series[baseline]
    return [
        (name, f"{s.median_us:.2f}", f"{s.p99_us:.2f}",
         "-" if name == baseline else f"{s.median_us - base.median_us:+.2f}")
        for name, s in series.items()
    ]  # fmt: skip


def _measure(
    label: str,
    direct: Callable[[], Any],
    adirect: Callable[[], Any] | None,
    router: Router,
    kwargs: dict[str, Any],
    rounds: int,
    batch: int,
    results: dict[str, Any],
) -> None:
    fake = router._provider
    modes: list[tuple[str, dict[str, Series]]] = []
    sync = run_sync({"baseline": direct, "router": lambda: router.complete(**kwargs)},
                    rounds=rounds, batch=batch)  # fmt: skip
    fake.calls.clear()
    modes.append(("sync", sync))
    if adirect is not None:
        asyn = run_async({"baseline": adirect, "router": lambda: router.acomplete(**kwargs)},
                         rounds=rounds, batch=batch)  # fmt: skip
        fake.calls.clear()
        modes.append(("async", asyn))
    for mode, series in modes:
        key = f"{label}/{mode}"
        results[key] = {
            **{n: s.summary() for n, s in series.items()},
            "overhead_median_us": round(
                series["router"].median_us - series["baseline"].median_us, 2
            ),
            "overhead_p99_us": round(series["router"].p99_us - series["baseline"].p99_us, 2),
            "samples_ns": {n: s.samples for n, s in series.items()},
        }
        print(table(f"router overhead: {key} (µs per call)", _rows(series, "baseline"),
                    ("variant", "median", "p99", "overhead")))  # fmt: skip
        limit = next(v for k, v in TARGETS.items() if label.startswith(k))
        verdict(f"router overhead, {key}", results[key]["overhead_median_us"], limit)


TYPICAL = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello! How can I help?", "refusal": None},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ],
    "usage": {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16},
    "system_fingerprint": "fp_1",
}
TYPICAL_CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1_700_000_000,
    "model": "gpt-4o-2024-08-06",
    "choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": None}],
}


def _building(rounds: int, batch: int, results: dict[str, Any]) -> None:
    """What building one response costs: an upstream's dict -> the OpenAI SDK's type."""
    from respan_router.responses import chunk_from_dict, completion_from_dict

    series = run_sync(
        {
            "completion_from_dict": lambda: completion_from_dict(TYPICAL),
            "chunk_from_dict": lambda: chunk_from_dict(TYPICAL_CHUNK),
        },
        rounds=rounds,
        batch=batch,
    )
    results["response_building"] = {n: s.summary() for n, s in series.items()}
    rows = [(n, f"{s.median_us:.2f}", f"{s.p99_us:.2f}") for n, s in series.items()]
    print(table("response building (µs per response)", rows, ("variant", "median", "p99")))


def run(quick: bool = False) -> dict[str, Any]:
    rounds, batch = (8, 400) if quick else (30, 1000)
    results: dict[str, Any] = {}
    _building(rounds, batch, results)
    fake = FakeProvider(Reply("ok", usage=(3, 1)))
    call = ProviderCall(model="gpt-4o", litellm_model="gpt-4o", provider="fake", messages=MSG)
    plain = {"model": "gpt-4o", "messages": MSG}

    router = Router(provider=fake)
    _measure("plain", lambda: fake.complete(call), lambda: fake.acomplete(call), router, plain,
             rounds, batch, results)  # fmt: skip

    routed = Router(provider=fake, seed=1)
    _measure("routed (lb+fallback+retries)", lambda: fake.complete(call),
             lambda: fake.acomplete(call), routed, {"messages": MSG, **ROUTED}, rounds, batch,
             results)  # fmt: skip

    sdk = _sdk_provider()
    traced = Router(provider=fake, tracer_provider=sdk)
    spans = _same_spans(traced, plain)
    _measure("traced (SDK, batch processor)", _baseline_with_spans(fake, call, spans, sdk), None,
             traced, plain, rounds, batch, results)  # fmt: skip
    sdk.shutdown()
    return results
