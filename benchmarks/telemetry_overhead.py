"""What recording a call costs: µs per call on FakeProvider, with and without tracing.

Run from the repository root: ``python -m benchmarks.telemetry_overhead``. Each mode runs
in its own process, so that "OpenTelemetry not imported" really is.
"""

from __future__ import annotations

import subprocess
import sys
import timeit
from collections.abc import Callable

from respan_router.record import AttemptRecord

MODES = ("none", "api-imported", "noop-provider", "sdk-sampled-out", "sdk")

_CALL = {
    "model": "gpt-4o",
    "messages": [{"role": "user", "content": "hello"}],
    "temperature": 0.2,
    "customer_identifier": "acme",
    "metadata": {"feature": "bench", "version": 3},
    "properties": {"premium": True, "tags": ["a", "b"], "org": {"region": "eu"}},
}


def _tracer_provider(mode: str) -> object | None:
    if mode == "api-imported":
        import opentelemetry.trace  # noqa: F401  (imported, no provider set)

        return None
    if mode == "noop-provider":
        from opentelemetry.trace import NoOpTracerProvider

        return NoOpTracerProvider()
    if mode.startswith("sdk"):
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            SimpleSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )
        from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

        class Discard(SpanExporter):
            def export(self, spans: object) -> SpanExportResult:
                return SpanExportResult.SUCCESS

        provider = TracerProvider(sampler=ALWAYS_OFF) if mode == "sdk-sampled-out" else None
        provider = provider or TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(Discard()))
        return provider
    return None


def run(mode: str, number: int = 5000, repeat: int = 7) -> tuple[float, float]:
    """Best µs per whole call, and per recording of a finished call (the telemetry
    stage alone), over ``repeat`` rounds."""
    from respan_router import Router
    from respan_router.config import build_config
    from respan_router.pricing import Pricing
    from respan_router.record import CallRecord
    from respan_router.request import build_request
    from respan_router.telemetry import Telemetry
    from respan_router.testing import FakeProvider, Reply

    fake = FakeProvider(Reply("hi", usage=(3, 2)), prices={"gpt-4o": (1e-6, 2e-6)})
    tracer_provider = _tracer_provider(mode)
    router = Router(provider=fake, tracer_provider=tracer_provider)

    def call() -> None:
        router.complete(**_CALL)
        fake.calls.clear()

    # The telemetry stage alone, on the record of a real call.
    config = build_config({"tracer_provider": tracer_provider})
    telemetry = Telemetry(config, Pricing(config, fake))
    request = build_request(_CALL)
    record = CallRecord()
    response = router.complete(**_CALL)
    record.attempts.append(_attempt())
    record.end_ns = record.start_ns + 1_000_000

    def finish() -> None:
        telemetry.finish(record, request, response, None)

    def best(fn: Callable[[], None], n: int) -> float:
        for _ in range(500):
            fn()
        return min(timeit.repeat(fn, number=n, repeat=repeat)) / n * 1e6

    return best(call, number), best(finish, number * 4)


def _attempt() -> AttemptRecord:
    attempt = AttemptRecord("gpt-4o", "openai", "gpt-4o", "provider", tries=1)
    attempt.finish()
    return attempt


def main() -> None:
    if len(sys.argv) == 2:
        whole, recording = run(sys.argv[1])
        print(f"{whole:8.1f} µs/call {recording:8.2f} µs/recording")
        return
    for mode in MODES:
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.telemetry_overhead", mode],
            capture_output=True,
            text=True,
            check=True,
        )
        print(f"{mode:16s} {out.stdout.strip()}")


if __name__ == "__main__":
    main()
