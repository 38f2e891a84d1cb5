"""``python -m respan_router demo``: a tour of the router on the built-in fake provider.
``python -m respan_router serve --config FILE``: the gateway's HTTP contract (see
:mod:`respan_router.asgi`).

The demo routes a few calls through FakeProvider and prints what happened,
including the span tree the calls produced.

Needs no API key and no network. The OpenTelemetry SDK is imported here only, to
collect the demo's spans in memory; the library itself never imports it.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import Any

from respan_router.errors import RouterError
from respan_router.responses import extra_field
from respan_router.router import Router
from respan_router.testing import Failure, FakeProvider, Reply

USER = [{"role": "user", "content": "Say hello to the router."}]

# Attributes shown in the span tree, with a short label.
_SHOWN = (
    ("gen_ai.provider.name", "provider"),
    ("gen_ai.response.model", "model"),
    ("respan.attempt.outcome", "outcome"),
    ("respan.attempt.tries", "tries"),
    ("error.type", "error"),
    ("respan.customer_params.customer_identifier", "customer"),
    ("respan.threads.thread_identifier", "thread"),
    ("respan.cache.hit", "cache_hit"),
    ("respan.retries", "retries"),
    ("respan.fallback.attempts", "fallbacks"),
)


def _router(tracer_provider: Any = None) -> tuple[Router, FakeProvider]:
    fake = FakeProvider(
        Reply("Hello from the fake provider!", usage=(6, 5)),
        prices={"openai/gpt-4o-mini": (0.15e-6, 0.6e-6)},
    )
    fake.set_default("flaky", Failure(503, "upstream overloaded"))
    router = Router(
        provider=fake,
        providers={"openai": {"api_key": "sk-demo-not-a-real-key"}},
        deployments={"fast": {"model": "openai/gpt-4o-mini"}},
        seed=7,
        tracer_provider=tracer_provider,
    )
    return router, fake


def _describe(span: Any) -> str:
    attrs = span.attributes or {}
    duration_ms = (span.end_time - span.start_time) / 1e6
    parts = [f"{span.name}  {duration_ms:.3f} ms  [{span.kind.name}]"]
    if span.status.status_code.name == "ERROR":
        parts.append("ERROR")
    # False and 0 (no cache hit, no retry, ...) are left out to keep lines short.
    parts += [f"{label}={attrs[key]}" for key, label in _SHOWN if attrs.get(key) not in (None, 0)]
    if "gen_ai.usage.input_tokens" in attrs:
        tokens_in, tokens_out = (
            attrs["gen_ai.usage.input_tokens"],
            attrs["gen_ai.usage.output_tokens"],
        )
        parts.append(f"tokens={tokens_in}+{tokens_out}")
    if "respan.cost" in attrs:
        parts.append(f"cost=${attrs['respan.cost']:.8f}")
    parts += [f"event={event.name}" for event in span.events]
    return "  ".join(parts)


def span_tree(spans: Sequence[Any]) -> list[str]:
    """Finished spans as indented lines: each call span, then its attempts."""
    ids = {span.context.span_id for span in spans}
    children: dict[int | None, list[Any]] = {}
    for span in spans:
        parent = span.parent.span_id if span.parent and span.parent.span_id in ids else None
        children.setdefault(parent, []).append(span)
    lines: list[str] = []

    def walk(parent: int | None, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: s.start_time):
            prefix = "  " * depth + ("└─ " if depth else "")
            lines.append(prefix + _describe(span))
            walk(span.context.span_id, depth + 1)

    walk(None, 0)
    return lines


def main(argv: Sequence[str] = ()) -> int:
    if list(argv[:1]) == ["serve"]:
        from respan_router._serve import main as serve

        return serve(list(argv[1:]))
    if list(argv) not in ([], ["demo"]):
        print("usage: python -m respan_router demo | serve --config FILE")
        return 2
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    router, fake = _router(tracer_provider)
    print("plan for model='fast':")
    for attempt in router.plan(model="fast", messages=USER):
        print("  ", attempt)

    out = router.complete(
        model="fast",
        messages=USER,
        customer_identifier="demo-customer",
        thread_identifier="demo-thread",
        metadata={"feature": "demo"},
        request_breakdown=True,
    )
    print(f"sync  -> {out.model}: {out.choices[0].message.content!r} usage={out.usage}")
    breakdown = extra_field(out, "request_breakdown") or {}
    print(
        "        request_breakdown: "
        + ", ".join(f"{k}={breakdown[k]}" for k in ("prompt_tokens", "completion_tokens", "cost"))
    )

    out = asyncio.run(router.acomplete(model="fast", messages=USER))
    print(f"async -> {out.model}: {out.choices[0].message.content!r}")

    out = router.complete(
        model="flaky",
        fallback_models=["fast"],
        retry_params={"num_retries": 1, "retry_after": 0.01},
        messages=USER,
    )
    print(f"fallback -> {out.model}: 'flaky' failed twice (one retry), then 'fast' answered")

    try:
        router.complete(model="flaky", messages=USER)
    except RouterError as exc:
        print(f"error -> {type(exc).__name__} (status {exc.status_code}): {exc.message}")

    print(f"provider calls recorded: {len(fake.calls)}")
    print("spans (one per call, a child per attempt):")
    for line in span_tree(exporter.get_finished_spans()):
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
