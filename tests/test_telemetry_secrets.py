"""No credential ever reaches a span, an event, a metric or a request_breakdown."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from respan_router import AuthenticationError, Router
from respan_router.testing import Failure, FakeProvider, Reply
from tests.helpers import MSG, header


def _secret(label: str) -> str:
    return f"sk-{label}-{uuid.uuid4().hex}"


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [str(k), *_strings(v)]]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return [str(value)]


def test_no_secret_in_any_attribute_event_metric_or_breakdown() -> None:
    secrets = {
        name: _secret(name)
        for name in ("provider", "deployment", "passthrough", "customer", "header", "org", "aws")
    }
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    fake = FakeProvider(Reply("fine", usage=(3, 1)), prices={"openai/gpt-4o-mini": (1e-6, 1e-6)})
    fake.set_default("locked", Failure(401, "invalid credentials for this model"))
    router = Router(
        provider=fake,
        providers={"openai": {"api_key": secrets["provider"], "organization": secrets["org"]}},
        deployments={
            "fast": {
                "model": "openai/gpt-4o-mini",
                "api_key": secrets["deployment"],
                "api_base": "https://gateway.example/v1",
            },
            "locked": {"model": "bedrock/claude", "aws_secret_access_key": secrets["aws"]},
        },
        tracer_provider=tracer_provider,
        meter_provider=MeterProvider(metric_readers=[reader]),
    )
    respan_header = header({"customer_identifier": "cust", "metadata": {"source": "header"}})
    common: dict[str, Any] = {
        "messages": MSG,
        "request_breakdown": True,
        "metadata": {"team": "search"},
        "properties": {"plan": "pro"},
        "extra_headers": {
            "X-Trace": "t-1",
            "X-Data-Respan-Params": respan_header,
        },
        "credential_override": {"openai/gpt-4o-mini": {"api_key": secrets["passthrough"]}},
        "customer_credentials": {"bedrock": {"aws_secret_access_key": secrets["customer"]}},
    }
    out = router.complete(model="fast", **common)
    with pytest.raises(AuthenticationError):
        router.complete(model="locked", **common)

    seen: list[str] = []
    spans = exporter.get_finished_spans()
    assert len(spans) == 4
    for span in spans:
        seen.append(span.name)
        seen.extend(_strings(dict(span.attributes or {})))
        seen.append(span.status.description or "")
        for event in span.events:
            seen.append(event.name)
            seen.extend(_strings(dict(event.attributes or {})))
    data = reader.get_metrics_data()
    assert data is not None
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for point in metric.data.data_points:
                    seen.extend(_strings(dict(point.attributes)))
    assert out.request_breakdown is not None
    seen.append(json.dumps(out.request_breakdown))
    seen.append(json.dumps(out.to_dict()))

    text = "\n".join(seen)
    assert "invalid credentials for this model" in text  # the scan does see errors
    assert "search" in text and "pro" in text  # ... and metadata and properties
    for name, secret in secrets.items():
        assert secret not in text, f"the {name} secret was recorded"
        assert secret[3:] not in text
