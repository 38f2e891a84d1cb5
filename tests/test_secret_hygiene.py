"""No credential appears anywhere, whatever happens to the call.

Distinct keys sit in every credential source (providers, deployments, load-balance
entries, customer_credentials, credential_override, an ``Authorization`` header; a
per-call ``api_key=`` is rejected). A broad set of scenarios runs (answers, failures,
fallbacks, streams, cache hits, plan(), rejected input holding a key, the litellm path over real
HTTP); then spans, events, breakdowns, log records, exceptions (messages, reprs, chains,
tracebacks), reprs of the Router, its config and requests, plan() output and cache keys
are scanned for every key.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from respan_router import InvalidRequestError, RouterError
from respan_router.providers import ProviderCall
from respan_router.request._request import build_request
from respan_router.router import Router
from respan_router.testing import Failure, FakeProvider, Reply
from tests import figures
from tests.helpers import MSG, header
from tests.test_redaction import everything_about
from tests.upstream import Error, FakeUpstream
from tests.upstream import Reply as HttpReply

SOURCES = ("provider", "deployment", "lb", "customer", "override", "call", "bearer", "http")
KEYS = {name: f"sk-{name}-{uuid.uuid4().hex}" for name in SOURCES}


ECHO = "ECHO"


def _echo(*names: str) -> str:
    """A provider error message quoting keys, as some providers do."""
    return "rejected: " + ", ".join(KEYS[n] for n in names)


class EchoingProvider(FakeProvider):
    """A fake whose ``Failure(message=ECHO)`` quotes every key the call sent, as a
    provider answering "Incorrect API key provided: sk-..." does."""

    def _error(self, outcome: Any, call: ProviderCall) -> BaseException:
        if isinstance(outcome, Failure) and outcome.message == ECHO:
            sent = [*call.credentials.as_kwargs().values(), *call.params.values()]
            quoted = ", ".join(str(v) for v in sent)
            outcome = dataclasses.replace(outcome, message=f"rejected: {quoted}")
        return super()._error(outcome, call)


class Scan:
    """Collects every text the library produced."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def add(self, *values: Any) -> None:
        self.texts.extend(v if isinstance(v, str) else repr(v) for v in values)

    def error(self, exc: BaseException) -> None:
        self.add(everything_about(exc))

    def run(self, fn: Any, **kwargs: Any) -> Any:
        try:
            out = fn(**kwargs)
            if kwargs.get("stream"):
                out = list(out)
            self.add(out)
            return out
        except RouterError as exc:
            self.error(exc)
            return None


def _router(fake: FakeProvider, tracer: TracerProvider) -> Router:
    return Router(
        provider=fake,
        providers={"openai": {"api_key": KEYS["provider"]}},
        deployments={
            "fast": {"model": "openai/fast", "api_key": KEYS["deployment"]},
            "down": {"model": "openai/down", "api_key": KEYS["deployment"]},
        },
        load_balance_groups={"g": [{"model": "fast"}, {"model": "down"}]},
        tracer_provider=tracer,
        cache_enabled=True,
        circuit_breaker={"consecutive_failures": 3},
    )


def _fake_scenarios(scan: Scan, router: Router, fake: FakeProvider) -> None:
    customer = {"openai": {"api_key": KEYS["customer"]}}
    override = {"openai/fast": {"api_key": KEYS["override"]}}
    lb = [{"model": "openai/fast", "credentials": {"api_key": KEYS["lb"]}}]
    per_call = {
        "extra_headers": {
            "X-Data-Respan-Params": header({"customer_identifier": "c1", "metadata": {"m": 1}}),
        },
    }
    # A credential header is refused before any call; the refusal must not quote it.
    bearer = {"Authorization": f"Bearer {KEYS['bearer']}"}
    scan.run(router.complete, model="fast", messages=MSG, extra_headers=bearer)
    base = {"messages": MSG, "request_breakdown": True, **per_call}
    fake.set_default("down", Failure(503, ECHO))
    fake.set_default("openai/down", Failure(401, ECHO))
    variants: list[dict[str, Any]] = [
        {"model": "fast"},
        {"model": "fast"},  # a cache hit
        {"model": "fast", "stream": True},
        {"model": "fast", "stream": True},  # a replayed stream
        {"model": "down", "fallback_models": ["fast"], "cache_enabled": False},
        {"model": "down", "cache_enabled": False},
        {"model": "down", "fallback_models": ["openai/down"], "cache_enabled": False},
        {"load_balance_group": {"group_id": "g"}, "cache_enabled": False},
        {"model": "openai/fast", "customer_credentials": customer},
        {"model": "openai/fast", "credential_override": override},
        {"load_balance_models": lb, "fallback_models": ["down"]},
        {"model": "openai/down", "customer_credentials": customer, "cache_enabled": False},
    ]
    for variant in variants:
        scan.run(router.complete, **{**base, **variant})
        scan.add(router.plan(**{**base, **variant}), build_request({**base, **variant}))
    fake.script("fast", Failure(500, ECHO, after_chunks=2))
    scan.run(router.complete, **base, model="fast", stream=True, cache_enabled=False)
    # Rejected input holding a key, in every spot a key could be misplaced.
    for bad in (
        {"model": "fast", "api_key": KEYS["call"]},  # credentials never ride as keywords
        {"model": "fast", "temperature": KEYS["call"]},
        {"model": "fast", "customer_credentials": KEYS["customer"]},
        {"model": "fast", "credential_override": {"openai": [KEYS["override"]]}},
        {"model": "fast", "extra_headers": {"X-Data-Respan-Params": KEYS["bearer"]}},
        {"model": "fast", "headers": {"x-api-key": KEYS["bearer"]}},
        {"model": "fast", "headers": {"X-Data-Keywordsai-Params": header([KEYS["lb"]])}},
        {"load_balance_models": [{"model": "fast", "credentials": KEYS["lb"]}]},
    ):
        with pytest.raises(InvalidRequestError) as info:
            router.complete(**{"messages": MSG, **per_call, **bad})
        scan.error(info.value)
    key = router._cache.key(build_request({**base, "model": "fast"}))
    scan.add(key, router, router.config, str(router.config), router.cache.stats)


def _http_scenarios(scan: Scan, tracer: TracerProvider) -> None:
    with FakeUpstream(HttpReply("over http")) as up:
        router = Router(
            deployments={
                "real": {"model": "openai/m", "api_key": KEYS["http"], "api_base": up.base_url}
            },
            tracer_provider=tracer,
            timeout=5,
        )
        # Each error quotes the key its request really carried, as OpenAI's 401 does.
        up.enqueue(
            Error(401, _echo("http")),
            Error(429, _echo("call"), headers={"retry-after-ms": "1"}),
            HttpReply("partial", pieces=3, break_after=1),
            HttpReply("over http"),
            Error(401, _echo("call")),
        )
        auth = {"extra_headers": {"Authorization": f"Bearer {KEYS['bearer']}"}}
        per_call = {"credential_override": {"openai/m": {"api_key": KEYS["call"]}}}
        for kwargs in ({}, per_call, {"stream": True}, {"stream": True}, auth):
            scan.run(router.complete, model="real", messages=MSG, **kwargs)  # auth: refused
        # No deployment: the per-call credentials are what goes upstream (and comes back).
        override = {"openai/m": {"api_key": KEYS["call"], "api_base": up.base_url}}
        scan.run(router.complete, model="openai/m", messages=MSG, credential_override=override)
        sent = [r.headers.get("authorization") for r in up.requests]
        assert sent[0] == f"Bearer {KEYS['http']}" and sent[-1] == f"Bearer {KEYS['call']}"


def test_no_key_appears_in_any_output(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    exporter = InMemorySpanExporter()
    tracer = TracerProvider()
    tracer.add_span_processor(SimpleSpanProcessor(exporter))
    scan = Scan()
    fake = EchoingProvider(Reply("fine answer", usage=(3, 2)))
    router = _router(fake, tracer)
    _fake_scenarios(scan, router, fake)
    _http_scenarios(scan, tracer)

    spans = exporter.get_finished_spans()
    for span in spans:
        scan.add(span.name, span.status.description or "", json.dumps(dict(span.attributes or {})))
        scan.add(span.to_json())
        for event in span.events:
            scan.add(event.name, json.dumps(dict(event.attributes or {})))
    for record in caplog.records:
        scan.add(record.getMessage(), repr(record.args), record.exc_text or "")
        if record.exc_info and record.exc_info[1] is not None:
            scan.error(record.exc_info[1])
    text = "\n".join(scan.texts)
    # The scan does see what it should: answers, failures, breakdowns, spans of every kind.
    assert "fine answer" in text and "over http" in text and "rejected: " in text
    assert "request_breakdown" in text and len(spans) > 30
    for error in ("StreamInterruptedError", "AllAttemptsFailedError", "AuthenticationError"):
        assert error in text
    for name, key in KEYS.items():
        assert key not in text, f"the {name} key leaked"
        assert key[3:] not in text, f"the {name} key leaked without its prefix"
    figures.report("secret hygiene", f"{len(KEYS)} keys, {len(scan.texts)} texts "
                   f"({len(text):,} characters) from {len(spans)} spans and "
                   f"{len(caplog.records)} log records scanned: no key found")  # fmt: skip
