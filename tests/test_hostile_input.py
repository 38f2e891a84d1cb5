"""Hostile input refused at validation: unencodable text (lone surrogates) and headers
that are malformed or padded credential names. Nothing reaches a provider, nothing is
echoed, nothing counts against a deployment."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from respan_router import InvalidRequestError, Router
from respan_router.errors import RouterError
from respan_router.request._request import build_request
from respan_router.testing import FakeProvider, Reply
from tests.helpers import MSG

LONE = json.loads('"a\\ud800b"')
SECRET = "sk-padded-0123456789abcdef"


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider("ok")


@pytest.fixture
def router(fake: FakeProvider) -> Router:
    return Router(provider=fake)


def _call(router: Router, mode: str, **kwargs: Any) -> Any:
    kwargs.setdefault("model", "gpt-4o")
    kwargs.setdefault("messages", MSG)
    if mode == "sync":
        return router.complete(**kwargs)
    return asyncio.run(router.acomplete(**kwargs))


# --- text that cannot be encoded ---------------------------------------------------------

SURROGATE_CASES: list[tuple[dict[str, Any], str]] = [
    ({"messages": [{"role": "user", "content": LONE}]}, "messages[0].content"),
    (
        {"messages": [{"role": "user", "content": [{"type": "text", "text": LONE}]}]},
        "messages[0].content[0].text",
    ),
    ({"messages": [{"role": "user", "content": "hi", "name": LONE}]}, "messages[0].name"),
    ({"user": LONE}, "user"),
    (
        {"tools": [{"type": "function", "function": {"name": "f", "description": LONE}}]},
        "tools[0].function.description",
    ),
    ({"metadata": {LONE: "x"}}, "metadata"),
    (
        {"prompt": {"prompt_id": "p", "variables": {"name": LONE}}},
        "prompt.variables.name",
    ),
]


@pytest.mark.parametrize(("kwargs", "field"), SURROGATE_CASES)
def test_lone_surrogate_is_refused_naming_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        build_request({"model": "m", "messages": MSG, **kwargs})
    assert info.value.field == field
    assert LONE not in str(info.value) and "a\\ud800b" not in str(info.value)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_lone_surrogate_never_reaches_a_provider_nor_opens_a_breaker(mode: str) -> None:
    fake = FakeProvider().set_default("gpt-4o", Reply("primary"))
    fake.set_default("backup", Reply("fallback"))
    router = Router(provider=fake)
    for _ in range(8):
        with pytest.raises(InvalidRequestError):
            _call(
                router,
                mode,
                messages=[{"role": "user", "content": LONE}],
                fallback_models=["backup"],
            )
    assert fake.calls == []
    # The deployment is still healthy: the next good call goes to the primary.
    answer = _call(router, mode, fallback_models=["backup"])
    assert answer.choices[0].message.content == "primary"


def test_plain_non_ascii_text_passes(router: Router, fake: FakeProvider) -> None:
    router.complete(model="gpt-4o", messages=[{"role": "user", "content": "héllo 😀 中文"}])
    assert fake.calls[0].messages[0]["content"] == "héllo 😀 中文"


# --- headers ----------------------------------------------------------------------------

PADDED = [
    "Authorization ",
    "Authorization\t",
    " Authorization",
    "Authorization:",
    "Authorization\x00",
]


@pytest.mark.parametrize("name", PADDED)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_padded_credential_header_is_refused(
    router: Router, fake: FakeProvider, name: str, mode: str
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        _call(router, mode, extra_headers={name: f"Bearer {SECRET}"})
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    assert fake.calls == []


BAD_HEADERS: list[tuple[Any, Any]] = [
    ("X-Trace", f"a\r\nX-Injected: {SECRET}"),
    ("X-Trace", f"{SECRET}\n"),
    ("X-Trace", f"{SECRET}\x00"),
    ("X-Trace", {"nested": SECRET}),
    ("X-Trace", 12),
    ("", SECRET),
    ("X Trace", SECRET),
    ("X-Trace", f"{SECRET}\u2603"),
    ("X-Trace", f"{SECRET}{LONE}"),
]


@pytest.mark.parametrize(("name", "value"), BAD_HEADERS)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_malformed_header_is_a_typed_error_without_the_value(
    router: Router, fake: FakeProvider, name: Any, value: Any, mode: str
) -> None:
    with pytest.raises(RouterError) as info:
        _call(router, mode, headers={name: value})
    assert isinstance(info.value, InvalidRequestError)
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    assert info.value.__context__ is None and info.value.__cause__ is None
    assert fake.calls == []


def test_latin1_and_tab_header_values_pass(router: Router, fake: FakeProvider) -> None:
    router.complete(model="gpt-4o", messages=MSG, extra_headers={"X-Name": "caf\u00e9\tok"})
    assert fake.calls[0].params["extra_headers"] == {"X-Name": "caf\u00e9\tok"}


def test_unknown_beta_flag_is_not_echoed(router: Router, fake: FakeProvider) -> None:
    with pytest.raises(InvalidRequestError) as info:
        router.complete(model="gpt-4o", messages=MSG, headers={"X-Respan-Beta": SECRET})
    assert SECRET not in str(info.value)
    assert "token-breakdown-2026-03-26" in str(info.value)
    assert fake.calls == []
