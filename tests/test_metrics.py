"""The optional GenAI client histograms on a meter provider."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from respan_router import ProviderError, Router
from respan_router.config import build_config
from respan_router.execution._record import CallRecord
from respan_router.request._request import build_request
from respan_router.routing._pricing import Pricing
from respan_router.telemetry._sink import Telemetry
from respan_router.testing import Failure, FakeProvider, Reply
from tests.helpers import MSG, completion


def _points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    out: dict[str, list[Any]] = {}
    if data is None:
        return out
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            assert sm.scope.name == "respan_router"
            for metric in sm.metrics:
                out[metric.name] = list(metric.data.data_points)
    return out


def test_duration_and_token_usage_histograms() -> None:
    reader = InMemoryMetricReader()
    fake = FakeProvider(Reply("hi", usage=(12, 3)), provider_name="openai")
    fake.set_default("broken", Failure(500, "boom"))
    router = Router(provider=fake, meter_provider=MeterProvider(metric_readers=[reader]))
    router.complete(model="gpt-4o", messages=MSG)
    with pytest.raises(ProviderError):
        router.complete(model="broken", messages=MSG)

    points = _points(reader)
    assert points.keys() == {"gen_ai.client.operation.duration", "gen_ai.client.token.usage"}
    durations = {
        p.attributes.get("gen_ai.request.model"): p
        for p in points["gen_ai.client.operation.duration"]
    }
    ok, failed = durations["gpt-4o"], durations["broken"]
    assert dict(ok.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o",
    }
    assert dict(failed.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "broken",
        "error.type": "ProviderError",
    }
    assert ok.count == failed.count == 1
    assert ok.explicit_bounds[:3] == (0.01, 0.02, 0.04) and ok.explicit_bounds[-1] == 81.92

    tokens = {p.attributes["gen_ai.token.type"]: p for p in points["gen_ai.client.token.usage"]}
    assert tokens.keys() == {"input", "output"}
    assert (tokens["input"].sum, tokens["output"].sum) == (12, 3)
    assert tokens["input"].explicit_bounds[:3] == (1, 4, 16)
    assert tokens["input"].explicit_bounds[-1] == 67108864


def test_cache_hits_are_not_measured() -> None:
    reader = InMemoryMetricReader()
    cfg = build_config({"meter_provider": MeterProvider(metric_readers=[reader])})
    telemetry = Telemetry(cfg, Pricing(cfg, FakeProvider()))
    response = completion("x", usage=(1, 1))
    request = build_request({"model": "gpt-4o", "messages": MSG})
    telemetry.finish(CallRecord(cache_hit=True), request, response, None)
    assert _points(reader) == {}
