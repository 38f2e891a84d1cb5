"""5. Telemetry: what recording a call costs in each tracing mode.

Whole calls on FakeProvider and the recording stage alone (spans, attributes, cost), the
modes interleaved in one process; plus, in a fresh process, the recording stage when
OpenTelemetry was never imported. ``python -m benchmarks telemetry``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import timeit
from collections.abc import Callable
from typing import Any

from benchmarks.common import run_sync, table
from respan_router import Router
from respan_router.config import build_config
from respan_router.execution._record import AttemptRecord, CallRecord
from respan_router.request._request import build_request
from respan_router.routing._pricing import Pricing
from respan_router.telemetry._sink import Telemetry
from respan_router.testing import FakeProvider, Reply

CALL: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [{"role": "user", "content": "Say hello."}],
    "temperature": 0.2,
    "customer_identifier": "acme",
    "metadata": {"feature": "bench", "version": 3},
    "properties": {"premium": True, "tags": ["a", "b"], "org": {"region": "eu"}},
}
PRICES = {"gpt-4o": (1e-6, 2e-6)}


def _tracer_providers() -> dict[str, Any]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
    from opentelemetry.trace import NoOpTracerProvider

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    recorded, sampled_out = TracerProvider(), TracerProvider(sampler=ALWAYS_OFF)
    for provider in (recorded, sampled_out):
        provider.add_span_processor(SimpleSpanProcessor(Discard()))
    return {
        "no provider set": None,
        "NoOpTracerProvider": NoOpTracerProvider(),
        "SDK, sampled out": sampled_out,
        "SDK, recorded": recorded,
    }


def _recording(tracer_provider: Any) -> Callable[[], None]:
    """The recording stage alone, on the record of a one-candidate call."""
    fake = FakeProvider(Reply("hi", usage=(3, 2)), prices=PRICES)
    config = build_config({"tracer_provider": tracer_provider})
    telemetry = Telemetry(config, Pricing(config, fake))
    request = build_request(CALL)
    response = Router(provider=fake).complete(**CALL)
    attempt = AttemptRecord("gpt-4o", "fake", "gpt-4o", "environment", tries=1)
    attempt.finish()
    record = CallRecord(attempts=[attempt])
    record.end_ns = record.start_ns + 1_000_000
    return lambda: telemetry.finish(record, request, response, None)


def _never_imported(runs: int) -> float:
    """Median µs of the recording stage in fresh processes without OpenTelemetry."""
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.telemetry", "--child"],
            capture_output=True,
            text=True,
            check=True,
        )
        times.append(float(out.stdout))
    return statistics.median(times)


def _child() -> None:
    finish = _recording(None)
    number = 20000
    best = min(timeit.repeat(finish, number=number, repeat=5)) / number * 1e6
    assert not any(m.startswith("opentelemetry") for m in sys.modules)
    print(best)


def run(quick: bool = False) -> dict[str, Any]:
    rounds, batch = (8, 300) if quick else (25, 1000)
    providers = _tracer_providers()
    fakes = {m: FakeProvider(Reply("hi", usage=(3, 2)), prices=PRICES) for m in providers}
    routers = {m: Router(provider=fakes[m], tracer_provider=tp) for m, tp in providers.items()}
    calls = run_sync(
        {m: (lambda r=r: r.complete(**CALL)) for m, r in routers.items()},
        rounds=rounds,
        batch=batch,
    )
    recordings = run_sync(
        {m: _recording(tp) for m, tp in providers.items()}, rounds=rounds, batch=batch
    )
    cold = _never_imported(2 if quick else 5)
    base = calls["no provider set"].median_us
    rows = [("OpenTelemetry never imported", "-", "-", "-", f"{cold:.2f}")]
    result: dict[str, Any] = {"never_imported_recording_us": round(cold, 2), "modes": {}}
    for mode in providers:
        call, rec = calls[mode], recordings[mode]
        rows.append(
            (
                mode,
                f"{call.median_us:.2f}",
                f"{call.p99_us:.2f}",
                "-" if mode == "no provider set" else f"{call.median_us - base:+.2f}",
                f"{rec.median_us:.2f}",
            )
        )
        result["modes"][mode] = {"call": call.summary(), "recording": rec.summary()}
    print(
        table(
            "telemetry (µs): whole call on FakeProvider, and the recording stage alone",
            rows,
            ("tracing", "call median", "call p99", "vs no provider", "recording median"),
        )
    )
    return result


if __name__ == "__main__":
    if sys.argv[1:] == ["--child"]:
        _child()
    else:
        print(json.dumps(run(quick="--quick" in sys.argv), indent=1))
