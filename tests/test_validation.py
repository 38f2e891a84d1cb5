"""Stage 1b: bad input gets a clear, typed error naming the field, before any call."""

from __future__ import annotations

import pytest

from respan_router import FeatureNotAvailableError, InvalidRequestError, Router
from respan_router.testing import FakeProvider
from tests.helpers import MSG


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider("ok")


@pytest.fixture
def router(fake: FakeProvider) -> Router:
    return Router(provider=fake)


CASES = [
    # (kwargs overriding a valid call, expected field)
    ({"messages": []}, "messages"),
    ({"messages": "hi"}, "messages"),
    ({"messages": None}, "messages"),
    ({"messages": ["hi"]}, "messages[0]"),
    ({"messages": [{"content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "user"}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": [{"text": "no type"}]}]}, "messages[0].content[0]"),
    ({"messages": [{"role": "tool", "content": "r"}]}, "messages[0].tool_call_id"),
    ({"model": ""}, "model"),
    ({"model": 5}, "model"),
    ({"model": None}, "model"),
    ({"temperature": 2.5}, "temperature"),
    ({"temperature": -0.1}, "temperature"),
    ({"temperature": "0.5"}, "temperature"),
    ({"temperature": float("nan")}, "temperature"),
    ({"temperature": float("inf")}, "temperature"),
    ({"top_p": 1.5}, "top_p"),
    ({"frequency_penalty": 2.1}, "frequency_penalty"),
    ({"presence_penalty": -2.1}, "presence_penalty"),
    ({"n": 0}, "n"),
    ({"n": True}, "n"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"stream": "yes"}, "stream"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"timeout": 0}, "timeout"),
    ({"load_balance_models": [{"model": "a", "weight": 0}]}, "load_balance_models[0].weight"),
    ({"load_balance_models": [{"model": "a", "weight": -1}]}, "load_balance_models[0].weight"),
    ({"load_balance_models": []}, "load_balance_models"),
    ({"retry_params": {"num_retries": -1}}, "retry_params.num_retries"),
    ({"retry_params": {"retry_after": 0}}, "retry_params.retry_after"),
    ({"retry_params": {"bogus": 1}}, "retry_params.bogus"),
    ({"retries": -1}, "retries"),
    ({"customer_identifier": "x" * 255}, "customer_identifier"),
    ({"customer_identifier": 1.5}, "customer_identifier"),
    ({"disable_log": "no"}, "disable_log"),
    ({"metadata": ["a"]}, "metadata"),
    ({"cache_ttl": -5}, "cache_ttl"),
]


@pytest.mark.parametrize(("override", "field"), CASES)
def test_invalid_input_names_the_field_and_calls_nothing(
    router: Router, fake: FakeProvider, override: dict, field: str
) -> None:
    kwargs = {"model": "gpt-4o", "messages": MSG, **override}
    with pytest.raises(InvalidRequestError) as info:
        router.complete(**kwargs)
    assert info.value.field == field
    assert field.split("[")[0].split(".")[0] in str(info.value)
    assert info.value.status_code == 400
    assert fake.calls == []


@pytest.mark.parametrize(("override", "field"), CASES[:12])
async def test_invalid_input_async_too(
    router: Router, fake: FakeProvider, override: dict, field: str
) -> None:
    with pytest.raises(InvalidRequestError):
        await router.acomplete(**{"model": "gpt-4o", "messages": MSG, **override})
    assert fake.calls == []


def test_customer_identifier_at_254_characters_is_fine(router: Router) -> None:
    router.complete(model="gpt-4o", messages=MSG, customer_identifier="x" * 254)


@pytest.mark.parametrize("where", ["top", "respan_params"])
def test_unbuilt_features_are_rejected_not_ignored(
    router: Router, fake: FakeProvider, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every parameter is built today; the rejection path stays for the next one.
    from respan_router.request import _request

    monkeypatch.setattr(_request, "UNIMPLEMENTED", {"positive_feedback": "not built yet"})
    kwargs: dict[str, object] = {"model": "gpt-4o", "messages": MSG}
    if where == "top":
        kwargs["positive_feedback"] = True
    else:
        kwargs["respan_params"] = {"positive_feedback": True}
    with pytest.raises(FeatureNotAvailableError) as info:
        router.complete(**kwargs)
    assert "not built yet" in str(info.value)
    assert info.value.field == "positive_feedback" and fake.calls == []
    assert fake.calls == []


def test_valid_assistant_tool_call_message_without_content(router: Router) -> None:
    messages = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "user", "content": [{"type": "text", "text": "thanks"}]},
    ]
    assert router.complete(model="gpt-4o", messages=messages).choices[0].message.content == "ok"


def test_error_message_never_echoes_the_bad_value(router: Router) -> None:
    with pytest.raises(InvalidRequestError) as info:
        router.complete(
            model="gpt-4o", messages=MSG, credential_override={"m": ["sk-super-secret-value"]}
        )
    assert "sk-super-secret-value" not in str(info.value)
    assert "sk-super-secret-value" not in repr(info.value)


@pytest.mark.parametrize(
    ("name", "pointer"),
    [
        ("num_retries", "retry_params"),
        ("max_retries", "retry_params"),
        ("fallbacks", "fallback_models"),
        ("context_window_fallback_dict", "fallback_models"),
        ("api_key", "credential_override"),
        ("api_base", "credential_override"),
        ("base_url", "credential_override"),
        ("api_version", "credential_override"),
        ("aws_secret_access_key", "credential_override"),
    ],
)
@pytest.mark.parametrize("where", ["top", "extra_body"])
def test_keywords_the_router_owns_are_rejected_with_a_pointer(
    router: Router, fake: FakeProvider, name: str, pointer: str, where: str
) -> None:
    value = "sk-reserved-value-123456"
    kw = {name: value} if where == "top" else {"extra_body": {name: value}}
    with pytest.raises(InvalidRequestError) as info:
        router.complete(model="m", messages=MSG, **kw)
    assert info.value.field == name
    assert pointer in str(info.value)
    assert value not in str(info.value) and value not in repr(info.value)
    assert fake.calls == []
