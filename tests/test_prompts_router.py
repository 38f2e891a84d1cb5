"""A prompt through the Router: the merge schemas, the three sources, echo, streams, cache,
telemetry, validation before and after rendering."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from respan_router import InvalidRequestError, Router
from respan_router.testing import Failure, FakeProvider, Reply
from tests.helpers import header

SUPPORT = {
    "versions": [
        {
            "version": 1,
            "model": "prompt-model",
            "temperature": 0.1,
            "max_tokens": 100,
            "fallback_models": ["prompt-fallback"],
            "messages": [{"role": "system", "content": "Support for {{ product }}."}],
        }
    ]
}
RENDERED = {"role": "system", "content": "Support for Acme."}
ASK = {"role": "user", "content": "my order?"}


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider(Reply("answer"))


@pytest.fixture
def router(fake: FakeProvider, provider: TracerProvider) -> Router:
    return Router(provider=fake, prompts={"support": SUPPORT}, tracer_provider=provider)


def _call(router: Router, prompt: dict[str, Any] | None = None, **kw: Any) -> Any:
    param = {"prompt_id": "support", "variables": {"product": "Acme"}, **(prompt or {})}
    return router.complete(prompt=param, **kw)


def _sent(fake: FakeProvider) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    call = fake.calls[-1]
    return call.model, call.params, call.messages


# -- schema 1 ----------------------------------------------------------------------------------
def test_v1_default_the_request_wins_on_conflicts(router: Router, fake: FakeProvider) -> None:
    _call(router, messages=[ASK], model="caller-model", temperature=0.9)
    model, params, messages = _sent(fake)
    assert model == "caller-model"
    assert params["temperature"] == 0.9 and params["max_tokens"] == 100  # the rest: the prompt's
    assert messages == [RENDERED, ASK]  # append: the prompt's, then the request's


def test_v1_override_true_the_prompt_wins(router: Router, fake: FakeProvider) -> None:
    _call(router, {"override": True}, messages=[ASK], model="caller-model", temperature=0.9,
          seed=3)  # fmt: skip
    model, params, _ = _sent(fake)
    assert model == "prompt-model" and params["temperature"] == 0.1
    assert params["seed"] == 3  # no conflict: the request's parameter stays


@pytest.mark.parametrize("override", [False, True])
def test_v1_override_params_apply_on_top(
    router: Router, fake: FakeProvider, override: bool
) -> None:
    prompt = {"override": override, "override_params": {"temperature": 0.5, "model": "op-model"}}
    _call(router, prompt, temperature=0.9, model="caller-model")
    model, params, _ = _sent(fake)
    assert model == "op-model" and params["temperature"] == 0.5


def test_v1_messages_override_mode(router: Router, fake: FakeProvider) -> None:
    mode = {"override_config": {"messages_override_mode": "override"}}
    _call(router, mode, messages=[ASK])
    assert _sent(fake)[2] == [ASK]  # the request's messages replace the prompt's
    with pytest.raises(InvalidRequestError, match="the request has no messages") as info:
        _call(router, mode)
    assert info.value.field == "prompt.override_config.messages_override_mode"


def test_the_prompt_model_routes_with_its_fallbacks(router: Router, fake: FakeProvider) -> None:
    fake.script("prompt-model", Failure(503))
    out = _call(router)
    assert out.model == "prompt-fallback"
    assert [c.model for c in fake.calls] == ["prompt-model", "prompt-fallback"]
    plan = router.plan(prompt={"prompt_id": "support", "variables": {"product": "A"}})
    assert [a.model for a in plan] == ["prompt-model", "prompt-fallback"]


def test_v1_request_fallback_models_win_by_default(router: Router, fake: FakeProvider) -> None:
    plan = router.plan(prompt={"prompt_id": "support", "variables": {"product": "A"}},
                       fallback_models=["mine"])  # fmt: skip
    assert [a.model for a in plan] == ["prompt-model", "mine"]


# -- schema 2 ----------------------------------------------------------------------------------
def test_v2_the_prompt_always_wins_and_messages_follow(router: Router, fake: FakeProvider) -> None:
    _call(router, {"schema_version": 2}, messages=[ASK], model="caller-model", temperature=0.9,
          seed=3)  # fmt: skip
    model, params, messages = _sent(fake)
    assert model == "prompt-model" and params["temperature"] == 0.1 and params["seed"] == 3
    assert messages == [RENDERED, ASK]


def test_v2_patch_applies_on_top(router: Router, fake: FakeProvider) -> None:
    _call(router, {"schema_version": 2, "patch": {"temperature": 0.7, "model": "patched"}},
          temperature=0.9)  # fmt: skip
    model, params, _ = _sent(fake)
    assert model == "patched" and params["temperature"] == 0.7


PROMPT_ERRORS = [
    ({"schema_version": 2, "patch": {"messages": []}}, "prompt.patch", "not contain 'messages'"),
    ({"schema_version": 2, "patch": {"input": "x"}}, "prompt.patch", "may not contain 'input'"),
    ({"patch": {"temperature": 1}}, "prompt", "patch needs schema_version 2"),
    ({"schema_version": 2, "override": True}, "prompt", "schema_version 1 settings"),
    ({"override_params": {"stream": True}}, "prompt.override_params", "may not contain 'stream'"),
    ({"override_params": {"messages": []}}, "prompt.override_params", "'messages'"),
    ({"schema_version": 3}, "prompt.schema_version", "1 or 2"),
    ({"version": "newest"}, "prompt.version", "latest"),
    ({"version": 0}, "prompt.version", "greater than or equal to 1"),
    ({"echo": "yes"}, "prompt.echo", "boolean"),
    ({"prompt_idd": "x"}, "prompt.prompt_idd", "Extra inputs"),
    ({"override_config": {"messages_override_mode": "replace"}},
     "prompt.override_config.messages_override_mode", "'append' or 'override'"),
]  # fmt: skip


@pytest.mark.parametrize(("prompt", "field", "message"), PROMPT_ERRORS)
def test_the_prompt_parameter_is_validated_in_stage_one(
    router: Router, fake: FakeProvider, prompt: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(InvalidRequestError, match=message) as info:
        _call(router, prompt)
    assert info.value.field == field
    assert fake.calls == []


def test_the_rendered_request_is_validated_again(router: Router, fake: FakeProvider) -> None:
    with pytest.raises(InvalidRequestError) as info:
        _call(router, {"override_params": {"temperature": 5}})
    assert info.value.field == "temperature"
    with pytest.raises(InvalidRequestError, match="api_key is a credential"):
        _call(router, {"override_params": {"api_key": "sk-nope"}})
    router.prompts.add(id="nomodel", messages=[RENDERED])
    with pytest.raises(InvalidRequestError, match="model is required") as info:
        router.complete(prompt={"prompt_id": "nomodel"})
    assert fake.calls == []


def test_without_a_prompt_messages_are_still_required(router: Router) -> None:
    with pytest.raises(InvalidRequestError, match="messages is required"):
        router.complete(model="m")


# -- the three sources -------------------------------------------------------------------------
PARAM = {"prompt_id": "support", "variables": {"product": "Acme"}}


@pytest.mark.parametrize(
    "where",
    [
        {"prompt": PARAM},
        {"respan_params": {"prompt": PARAM}},
        {"extra_body": {"prompt": PARAM}},
        {"extra_headers": {"X-Data-Respan-Params": header({"prompt": PARAM})}},
        {"keywordsai_params": {"prompt": PARAM}},
    ],
    ids=["top", "respan_params", "extra_body", "header", "legacy"],
)
def test_prompt_from_any_source(router: Router, fake: FakeProvider, where: dict[str, Any]) -> None:
    router.complete(**where)
    assert _sent(fake)[2] == [RENDERED]


# -- echo --------------------------------------------------------------------------------------
def test_echo_on_by_default_and_off(router: Router) -> None:
    out = _call(router, messages=[ASK])
    assert out.prompt_message == [RENDERED, ASK]
    assert out.to_dict()["prompt_message"] == [RENDERED, ASK]
    off = _call(router, {"echo": False})
    assert "prompt_message" not in off.model_dump()  # an extra field, only when echoed
    plain = router.complete(model="m", messages=[ASK])
    assert "prompt_message" not in plain.model_dump()


async def test_echo_async(router: Router) -> None:
    out = await router.acomplete(prompt=PARAM)
    assert out.prompt_message == [RENDERED]


# -- streams -----------------------------------------------------------------------------------
def test_a_prompt_streams(router: Router, fake: FakeProvider) -> None:
    fake.set_default("prompt-model", Reply("one two three"))
    with _call(router, stream=True) as stream:
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text.split() == ["one", "two", "three"]
    assert stream.prompt_message == [RENDERED]
    assert fake.calls[-1].stream and fake.calls[-1].messages == [RENDERED]


async def test_a_prompt_streams_async_without_echo(router: Router, fake: FakeProvider) -> None:
    stream = await router.acomplete(prompt={**PARAM, "echo": False}, stream=True)
    chunks = [c async for c in stream]
    assert chunks and stream.prompt_message is None
    assert fake.calls[-1].messages == [RENDERED]


# -- cache -------------------------------------------------------------------------------------
def test_the_cache_key_is_the_rendered_request(router: Router, fake: FakeProvider) -> None:
    router.prompts.add(id="hello", model="m", messages=[{"role": "user", "content":
                       "Hello {{ name }}{% if title %}, {{ title }}{% endif %}"}])  # fmt: skip
    ask = {"prompt_id": "hello"}
    first = router.complete(prompt={**ask, "variables": {"name": "Ann", "title": ""}},
                            cache_enabled=True)  # fmt: skip
    # other variables, same rendered text: the same entry
    second = router.complete(prompt={**ask, "variables": {"name": "Ann", "title": None}},
                             cache_enabled=True)  # fmt: skip
    assert len(fake.calls) == 1 and router.cache.stats.hits == 1
    assert second.prompt_message == first.prompt_message  # echo on a hit too
    router.complete(prompt={**ask, "variables": {"name": "Bo", "title": ""}}, cache_enabled=True)
    assert len(fake.calls) == 2
    # the same text sent without the prompt: the same request, the same entry
    router.complete(model="m", messages=[{"role": "user", "content": "Hello Bo"}],
                    cache_enabled=True)  # fmt: skip
    assert len(fake.calls) == 2


# -- telemetry ---------------------------------------------------------------------------------
def test_span_attributes(router: Router, exporter: InMemorySpanExporter) -> None:
    router.prompts.add(id="part", messages=[{"role": "system", "content": "part"}])
    variables = {"product": {"_type": "prompt", "prompt_id": "part"}}
    _call(router, {"variables": variables})
    attrs = dict(exporter.get_finished_spans()[-1].attributes or {})
    assert attrs["respan.prompt.id"] == "support" and attrs["respan.prompt.version"] == 1
    assert attrs["respan.prompt.child_ids"] == ("part",)
    assert json.loads(attrs["respan.prompt.variables"]) == variables
    assert attrs["gen_ai.request.model"] == "prompt-model"
    assert json.loads(attrs["gen_ai.input.messages"])[0]["parts"][0]["content"] == (
        "Support for part."
    )


def test_disable_log_keeps_variables_out_of_spans(
    router: Router, exporter: InMemorySpanExporter
) -> None:
    _call(router, {"variables": {"product": "secret-customer-data"}}, disable_log=True)
    attrs = dict(exporter.get_finished_spans()[-1].attributes or {})
    assert attrs["respan.prompt.id"] == "support"
    assert "respan.prompt.variables" not in attrs
    assert all("secret-customer-data" not in str(v) for v in attrs.values())


def test_two_routers_share_no_prompts(fake: FakeProvider) -> None:
    one, two = Router(provider=fake), Router(provider=fake)
    one.prompts.add(id="p", model="m", messages=[RENDERED])
    assert "p" in one.prompts and "p" not in two.prompts
    with pytest.raises(InvalidRequestError, match="unknown prompt 'p'"):
        two.complete(prompt={"prompt_id": "p"})
