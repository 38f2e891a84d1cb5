"""Two Routers in one process never affect each other, and litellm's globals stay untouched.

Each Router owns its configuration, provider, cache, breakers, retry budget, random
source and tracer; nothing is shared through module state or ``litellm.*``.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from respan_router import ProviderError, Router
from respan_router.testing import Failure, FakeProvider, Reply
from tests import figures
from tests.helpers import MSG
from tests.upstream import FakeUpstream
from tests.upstream import Reply as HttpReply

# litellm module globals a careless router would set (callbacks, keys, retries, cache...).
# The one the router sets, documented in its litellm adapter, is suppress_debug_info: the
# only switch for litellm's error banner on stdout (tests/test_litellm_quiet.py).
LITELLM_GLOBALS = (
    "callbacks", "success_callback", "failure_callback", "input_callback",
    "_async_success_callback", "_async_failure_callback", "service_callback",
    "api_key", "openai_key", "api_base", "api_version", "organization", "headers",
    "num_retries", "max_retries", "request_timeout", "drop_params", "modify_params",
    "cache", "enable_caching_on_provider_specific_optional_params", "model_alias_map",
    "set_verbose", "telemetry", "default_fallbacks",
    "context_window_fallbacks", "content_policy_fallbacks", "model_fallbacks",
    "allowed_fails", "retry_policy", "max_budget", "budget_duration", "logging",
    "turn_off_message_logging", "redact_messages_in_exceptions", "return_response_headers",
)  # fmt: skip


def _traced() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _router(fake: FakeProvider, tracer: TracerProvider, backend: str, **kw: Any) -> Router:
    return Router(
        provider=fake,
        tracer_provider=tracer,
        deployments={"fast": {"model": backend, "api_key": f"sk-{backend}"}},
        load_balance_groups={"g": [{"model": "fast"}]},
        circuit_breaker={"consecutive_failures": 2, "cooldown": 600},
        **kw,
    )


def test_two_routers_with_different_configuration_do_not_interfere() -> None:
    fake_a, fake_b = FakeProvider(Reply("from a")), FakeProvider(Reply("from b"))
    fake_a.set_default("flaky", Failure(503, "down"))
    (tp_a, spans_a), (tp_b, spans_b) = _traced(), _traced()
    a = _router(fake_a, tp_a, "openai/a-model", cache_enabled=True, seed=1)
    b = _router(fake_b, tp_b, "anthropic/b-model", seed=1, timeout=9)

    # Same model name, different deployments and providers.
    assert a.complete(model="fast", messages=MSG).choices[0].message.content == "from a"
    assert b.complete(model="fast", messages=MSG).choices[0].message.content == "from b"
    assert [c.litellm_model for c in fake_a.calls] == ["openai/a-model"]
    assert [c.litellm_model for c in fake_b.calls] == ["anthropic/b-model"]
    assert fake_b.calls[0].timeout == 9 and fake_a.calls[0].timeout is None

    # A's cache serves A only; B (cache off) calls its provider every time.
    a.complete(model="fast", messages=MSG)
    b.complete(model="fast", messages=MSG)
    assert len(fake_a.calls) == 1 and len(fake_b.calls) == 2
    assert a.cache.stats.hits == 1 and b.cache.stats.hits == b.cache.stats.misses == 0

    # A's breaker for "flaky" opens; B's for the same name never saw a failure.
    for _ in range(3):
        with pytest.raises(ProviderError):
            a.complete(model="flaky", messages=MSG)
    assert b.complete(model="flaky", messages=MSG).choices[0].message.content == "from b"
    assert a.health is not None and b.health is not None
    assert {k: s.state for k, s in a.health.snapshot().items() if "flaky" in k} == {
        "flaky|environment": "open"
    }
    assert all(s.state == "closed" for s in b.health.snapshot().values())

    # Each tracer saw its own Router's calls only.
    assert len([s for s in spans_a.get_finished_spans() if s.parent is None]) == 5
    assert len([s for s in spans_b.get_finished_spans() if s.parent is None]) == 3
    models_b = {s.attributes.get("gen_ai.request.model") for s in spans_b.get_finished_spans()}
    assert "openai/a-model" not in str(models_b)


def test_seeded_routers_draw_independently() -> None:
    """A Router's load balancing draws from its own random source."""

    def picks(router: Router, fake: FakeProvider, n: int) -> list[str]:
        lb = [{"model": "x", "weight": 1}, {"model": "y", "weight": 1}]
        for _ in range(n):
            router.complete(messages=MSG, load_balance_models=lb)
        return [c.model for c in fake.calls]

    fake_solo = FakeProvider()
    solo = picks(Router(provider=fake_solo, seed=11), fake_solo, 40)
    fake_a, fake_b = FakeProvider(), FakeProvider()
    a, b = Router(provider=fake_a, seed=11), Router(provider=fake_b, seed=99)
    for _ in range(40):  # interleaved with another Router's draws
        picks(b, fake_b, 1)
        picks(a, fake_a, 1)
    assert [c.model for c in fake_a.calls] == solo


def _litellm_globals() -> dict[str, str]:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    present = [name for name in LITELLM_GLOBALS if hasattr(litellm, name)]
    return {name: repr(getattr(litellm, name)) for name in present}


async def test_litellm_globals_are_untouched_and_keys_stay_per_router() -> None:
    before = _litellm_globals()
    assert len(before) > 20  # the names exist in this litellm version
    with FakeUpstream(HttpReply("one")) as up_a, FakeUpstream(HttpReply("two")) as up_b:
        a = Router(
            providers={"openai": {"api_key": "sk-router-a", "api_base": up_a.base_url}},
            retry_params={"num_retries": 2},
            cache_enabled=True,
            timeout=5,
        )
        b = Router(providers={"openai": {"api_key": "sk-router-b", "api_base": up_b.base_url}})
        for router in (a, b, a, b):
            router.complete(model="openai/gpt-4o-mini", messages=MSG)
            await router.acomplete(model="openai/gpt-4o-mini", messages=MSG, drop_params=True)
            stream = await router.acomplete(model="openai/gpt-4o-mini", messages=MSG, stream=True)
            async for _ in stream:
                pass
        keys_a = {r.headers["authorization"] for r in up_a.requests}
        keys_b = {r.headers["authorization"] for r in up_b.requests}
    assert keys_a == {"Bearer sk-router-a"} and keys_b == {"Bearer sk-router-b"}
    assert len(up_b.requests) == 6
    # a's cache served the rest: a completion, one with drop_params (a parameter sent to
    # litellm, so in the key), a stream
    assert len(up_a.requests) == 3
    assert _litellm_globals() == before
    import litellm

    assert litellm.suppress_debug_info is True
    got = f"upstream a got {len(up_a.requests)} requests, b {len(up_b.requests)}"
    figures.report("isolation", f"{len(before)} litellm globals unchanged; {got}, each its own key")
