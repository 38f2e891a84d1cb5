"""Rejected input and per-call secrets never travel with an error, a repr or a traceback.

Each test here pins a leak found once: a pydantic ValidationError (which quotes the
rejected input) kept as the typed error's ``__context__``; a header decoder's exception
chained as ``__cause__``; a deeply nested header raising RecursionError; a per-call
``api_key=`` or ``Authorization`` header echoed by a provider's error or shown in a repr.
"""

from __future__ import annotations

import math
import traceback
import uuid
from typing import Any

import pytest

from respan_router import AuthenticationError, InvalidRequestError, Router
from respan_router.providers import ProviderCall
from respan_router.request._request import build_request
from respan_router.testing import Failure, FakeProvider
from tests.helpers import MSG, header
from tests.upstream import Error, FakeUpstream


def _secret() -> str:
    return f"sk-leak-{uuid.uuid4().hex}"


def chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception reachable from it (cause, context, originals)."""
    out: list[BaseException] = []
    todo = [exc]
    while todo:
        item = todo.pop()
        if any(item is seen for seen in out):
            continue
        out.append(item)
        for nxt in (item.__cause__, item.__context__, getattr(item, "original_exception", None)):
            if isinstance(nxt, BaseException):
                todo.append(nxt)
    return out


def everything_about(exc: BaseException) -> str:
    """Every text an exception shows: messages, reprs and the full formatted chain."""
    parts = ["".join(traceback.format_exception(exc))]
    for item in chain(exc):
        parts += [str(item), repr(item), repr(item.args)]
    return "\n".join(parts)


def _rejected(router: Router, **kwargs: Any) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as info:
        router.complete(**kwargs)
    return info.value


def test_a_validation_error_carries_no_context_quoting_the_input() -> None:
    fake = FakeProvider("ok")
    router = Router(provider=fake)
    secret = _secret()
    for bad in (
        {"model": "m", "temperature": secret},
        {"model": "m", "stop": [secret] * 9},
        {"model": "m", "customer_credentials": {"openai": [secret]}},
        {"model": "m", "extra_headers": {"Authorization": f"Bearer {secret}"}},
        {"model": "m", "credential_override": [secret]},
        {"load_balance_models": [{"model": "a", "credentials": secret}]},
        {"model": "m", "respan_params": {"retry_params": {"api_key": secret}}},
        {"model": "m", "cache_enabled": True, "response_format": {"a": [secret, math.nan]}},
    ):
        exc = _rejected(router, messages=MSG, **bad)
        assert exc.__context__ is None and exc.__cause__ is None, bad
        assert secret not in everything_about(exc), bad
    assert fake.calls == []


def test_a_configuration_error_carries_no_context_quoting_the_keys() -> None:
    secret = _secret()
    for bad in ({"load_balance_groups": {"g": []}}, {"timeout": "soon"}):
        with pytest.raises(InvalidRequestError) as info:
            Router(providers={"openai": {"api_key": secret}}, **bad)
        assert info.value.__context__ is None
        assert secret not in everything_about(info.value)


@pytest.mark.parametrize("name", ["X-Data-Respan-Params", "X-Data-Keywordsai-Params"])
def test_a_header_decode_error_chains_nothing(name: str) -> None:
    fake = FakeProvider("ok")
    router = Router(provider=fake)
    secret = _secret()
    not_base64 = f"{secret}!!"
    not_json = header({"a": 1})[:-4] + header({"k": secret})  # decodes, but not to JSON
    not_utf8 = "//79" + header({"k": secret})[4:]
    for value in (not_base64, not_json, not_utf8):
        exc = _rejected(router, model="m", messages=MSG, headers={name: value})
        assert exc.field == name
        assert exc.__cause__ is None and exc.__context__ is None
        assert secret not in everything_about(exc)
    assert fake.calls == []


def test_a_deeply_nested_header_is_an_invalid_request_not_a_recursion_error() -> None:
    import base64

    fake = FakeProvider("ok")
    router = Router(provider=fake)
    for depth in (100, 100_000):
        deep = base64.b64encode(('{"metadata":' + "[" * depth + "]" * depth + "}").encode())
        exc = _rejected(router, model="m", messages=MSG, extra_headers={
            "X-Data-Respan-Params": deep.decode()})  # fmt: skip
        assert exc.field in ("X-Data-Respan-Params", "metadata")
    assert fake.calls == []


def test_a_per_call_api_key_and_authorization_header_are_masked_in_reprs() -> None:
    key, token = _secret(), _secret()
    kwargs = {
        "model": "m",
        "messages": MSG,
        "headers": {"X-Trace": "t-1"},
        "customer_credentials": {"openai": {"api_key": _secret()}},
        "load_balance_models": [{"model": "m", "credentials": {"api_key": _secret()}}],
    }
    request = build_request(kwargs)
    # The Router rejects api_key= and an Authorization header; a custom provider may still
    # be handed them.
    headers = {**(request.headers or {}), "Authorization": f"Bearer {token}"}
    params = {**request.params, "api_key": key, "extra_headers": headers}
    call = ProviderCall("m", "m", "fake", MSG, params)
    shown = "\n".join([repr(request), str(request), repr(request.respan), str(request.respan),
                       repr(call), str(call)])  # fmt: skip
    assert "t-1" in shown  # the scan sees the headers
    for secret in (key, token, *_all_keys(kwargs)):
        assert secret not in shown
    assert set(call.secret_values()) >= {key, token, f"Bearer {token}"}


def _all_keys(kwargs: dict[str, Any]) -> list[str]:
    out = [kwargs["customer_credentials"]["openai"]["api_key"]]
    return out + [m["credentials"]["api_key"] for m in kwargs["load_balance_models"]]


def test_a_provider_echoing_a_per_call_key_is_redacted() -> None:
    key = _secret()
    fake = FakeProvider(Failure(401, f"Incorrect API key provided: {key} (auth {key})"))
    router = Router(provider=fake)
    with pytest.raises(AuthenticationError) as info:
        router.complete(model="m", messages=MSG, credential_override={"m": key})
    text = everything_about(info.value)
    assert "Incorrect API key provided" in text
    assert key not in text


def test_a_per_call_key_echoed_over_http_is_redacted(upstream: FakeUpstream) -> None:
    key = _secret()
    upstream.set_default(Error(401, f"Incorrect API key provided: {key}", type="auth"))
    router = Router()
    with pytest.raises(AuthenticationError) as info:
        override = {"openai/gpt-4o-mini": {"api_key": key, "api_base": upstream.base_url}}
        router.complete(model="openai/gpt-4o-mini", messages=MSG, credential_override=override,
                        timeout=5)  # fmt: skip
    assert upstream.requests[0].headers["authorization"] == f"Bearer {key}"  # it was sent
    text = everything_about(info.value)
    assert "Incorrect API key provided" in text
    assert key not in text


def test_secrets_inside_a_credential_given_as_a_mapping_are_redacted() -> None:
    """A Vertex service account arrives as a dict: its private key is redacted too."""
    from respan_router._secrets import Credentials, redact

    private_key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq\n-----END PRIVATE KEY-----\n"
    account = {"type": "service_account", "private_key": private_key, "ids": ["kid-0123"]}
    credentials = Credentials({"vertex_credentials": account, "vertex_location": "us-central1"})
    message = f"could not sign with {private_key} (key kid-0123) in us-central1"
    shown = redact(message, credentials.secret_values())
    assert private_key not in shown
    assert "kid-0123" not in shown
    assert "us-central1" in shown  # not under a secret-looking name
