"""Request hygiene: credential headers, X-Respan-Beta, top-level weight, misspelled Respan
names, None as absent, credential shorthand, exclude_models by bare name, header base64."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from respan_router import FeatureNotAvailableError, InvalidRequestError, Router
from respan_router.errors import NoCandidateError
from respan_router.request._known import KNOWN_CHAT_PARAMS
from respan_router.request._request import build_request
from respan_router.testing import FakeProvider
from tests.helpers import MSG, header

SECRET = "sk-secret-header-value-0123456789"


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider("ok")


@pytest.fixture
def router(fake: FakeProvider) -> Router:
    return Router(provider=fake)


def _raises(router: Router, exc: type[Exception], **kwargs: Any) -> Exception:
    with pytest.raises(exc) as info:
        router.complete(model="gpt-4o", messages=MSG, **kwargs)
    return info.value


# --- credential-bearing headers ------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "authorization",
        "API-Key",
        "x-api-key",
        "X-Goog-Api-Key",
        "Ocp-Apim-Subscription-Key",
        "Proxy-Authorization",
    ],
)
@pytest.mark.parametrize("where", ["headers", "extra_headers", "extra_body"])
def test_credential_header_is_rejected_without_echo(
    router: Router, fake: FakeProvider, name: str, where: str
) -> None:
    value = f"Bearer {SECRET}"
    kwargs: dict[str, Any] = (
        {"extra_body": {"extra_headers": {name: value}}}
        if where == "extra_body"
        else {where: {name: value}}
    )
    error = _raises(router, InvalidRequestError, **kwargs)
    text = str(error)
    assert SECRET not in text and SECRET not in repr(error)
    assert "credential_override" in text and "customer_credentials" in text
    assert error.__context__ is None and error.__cause__ is None
    assert fake.calls == []


def test_other_headers_are_forwarded(router: Router, fake: FakeProvider) -> None:
    router.complete(
        model="gpt-4o", messages=MSG, extra_headers={"Idempotency-Key": "abc", "X-Trace": "t"}
    )
    assert fake.calls[0].params["extra_headers"] == {"Idempotency-Key": "abc", "X-Trace": "t"}


# --- X-Respan-Beta ---------------------------------------------------------------------------


def test_beta_flag_is_recorded_and_not_forwarded(router: Router, fake: FakeProvider) -> None:
    headers = {"X-Respan-Beta": " token-breakdown-2026-03-26 ", "X-Other": "1"}
    request = build_request({"model": "m", "messages": MSG, "extra_headers": headers})
    assert request.beta == frozenset({"token-breakdown-2026-03-26"})
    assert request.headers == {"X-Other": "1"}
    router.complete(
        model="gpt-4o", messages=MSG, headers={"x-respan-beta": "token-breakdown-2026-03-26"}
    )
    assert "extra_headers" not in fake.calls[0].params


def test_no_beta_header_means_no_flags() -> None:
    assert build_request({"model": "m", "messages": MSG}).beta == frozenset()


def test_env_scoped_integrations_is_not_available_in_process(router: Router) -> None:
    error = _raises(
        router,
        FeatureNotAvailableError,
        extra_headers={
            "X-Respan-Beta": "token-breakdown-2026-03-26,env-scoped-integrations-2026-03-28"
        },
    )
    assert "env-scoped-integrations-2026-03-28" in str(error)


def test_unknown_beta_flag_names_the_known_ones(router: Router, fake: FakeProvider) -> None:
    error = _raises(router, InvalidRequestError, headers={"X-Respan-Beta": "time-travel-2030"})
    assert "time-travel-2030" not in str(error)  # a header value is never echoed
    assert "token-breakdown-2026-03-26" in str(error)
    assert fake.calls == []


# --- weight and typos ------------------------------------------------------------------------


def test_top_level_weight_points_to_load_balance_models(router: Router) -> None:
    error = _raises(router, InvalidRequestError, weight=3)
    assert "load_balance_models" in str(error) and "weight" in str(error)
    assert error.field == "weight"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("fallback_model", "fallback_models"),
        ("cache_enable", "cache_enabled"),
        ("customer_identifer", "customer_identifier"),
        ("exclude_model", "exclude_models"),
        ("retry_param", "retry_params"),
    ],
)
@pytest.mark.parametrize("where", ["top", "extra_body"])
def test_misspelled_respan_name_suggests_the_right_one(
    router: Router, fake: FakeProvider, typo: str, meant: str, where: str
) -> None:
    value = ["x"]
    kwargs = {typo: value} if where == "top" else {"extra_body": {typo: value}}
    error = _raises(router, InvalidRequestError, **kwargs)
    assert f"did you mean '{meant}'" in str(error)
    assert fake.calls == []


@pytest.mark.parametrize(
    "name",
    [
        "top_k",
        "min_p",
        "repetition_penalty",
        "safety_settings",
        "mock_response",
        "store",
        "service_tier",
        "prompt_cache_key",
        "reasoning_effort",
        "metadata",
        "user",
    ],
)
def test_known_and_provider_parameters_pass(router: Router, fake: FakeProvider, name: str) -> None:
    value: Any = {"k": "v"} if name == "metadata" else "x"
    router.complete(model="gpt-4o", messages=MSG, **{name: value})
    assert len(fake.calls) == 1


def test_known_params_match_the_libraries() -> None:
    import inspect

    from openai.types.chat import completion_create_params as params

    from respan_router.providers import LiteLLMProvider

    litellm = LiteLLMProvider().litellm  # the local price table, no network fetch

    openai_names = set(params.CompletionCreateParamsNonStreaming.__annotations__) | set(
        params.CompletionCreateParamsStreaming.__annotations__
    )
    litellm_names = set(litellm.OPENAI_CHAT_COMPLETION_PARAMS) | {
        name
        for name, p in inspect.signature(litellm.completion).parameters.items()
        if p.kind is not p.VAR_KEYWORD
    }
    assert openai_names <= KNOWN_CHAT_PARAMS
    assert litellm_names <= KNOWN_CHAT_PARAMS


# --- None means absent -----------------------------------------------------------------------


def test_top_level_none_does_not_wipe_the_header_value() -> None:
    request = build_request(
        {
            "model": "m",
            "messages": MSG,
            "customer_identifier": None,
            "respan_params": {"span_name": None},
            "headers": {
                "X-Data-Respan-Params": header({"customer_identifier": "c-1", "span_name": "s"})
            },
        }
    )
    assert request.respan.customer_identifier == "c-1"
    assert request.respan.span_name == "s"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"disable_log": None},
        {"cache_enabled": None},
        {"request_breakdown": None},
        {"disable_fallback": None},
        {"retry_params": {"num_retries": None, "retry_after": None}},
        {"respan_params": {"disable_log": None, "cache_options": {"omit_log": None}}},
        {"temperature": None, "stream": None},
    ],
)
def test_none_is_absent(kwargs: dict[str, Any]) -> None:
    request = build_request({"model": "m", "messages": MSG, **kwargs})
    assert request.respan.disable_log is False
    assert request.respan.cache_enabled is None
    assert request.stream is False
    assert "temperature" not in request.params
    if request.respan.retry_params is not None:
        assert request.respan.retry_params.num_retries == 3


def test_none_model_is_still_missing() -> None:
    with pytest.raises(InvalidRequestError) as info:
        build_request({"model": None, "messages": MSG})
    assert info.value.field == "model"


# --- credential shorthand --------------------------------------------------------------------


def test_customer_credentials_string_shorthand(router: Router, fake: FakeProvider) -> None:
    router.complete(model="openai/gpt-4o", messages=MSG, customer_credentials={"openai": SECRET})
    call = fake.calls[0]
    assert call.credential_source == "customer_credentials"
    assert call.credential_keys == ("api_key",)


def test_credential_override_string_shorthand(router: Router, fake: FakeProvider) -> None:
    router.complete(
        model="openai/gpt-4o", messages=MSG, credential_override={"openai/gpt-4o": SECRET}
    )
    assert fake.calls[0].credential_source == "credential_override"
    assert fake.calls[0].credential_keys == ("api_key",)


def test_weighted_customer_credentials_shorthand() -> None:
    request = build_request(
        {
            "model": "m",
            "messages": MSG,
            "customer_credentials": [{"credentials": {"openai": SECRET}, "weight": 1}],
        }
    )
    creds = request.respan.customer_credentials
    assert isinstance(creds, list)
    assert creds[0].credentials == {"openai": {"api_key": SECRET}}
    assert SECRET not in repr(request)


def test_credential_shorthand_rejects_an_empty_key() -> None:
    with pytest.raises(InvalidRequestError) as info:
        build_request({"model": "m", "messages": MSG, "customer_credentials": {"openai": ""}})
    assert info.value.field.startswith("customer_credentials")


# --- exclude_models --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "excluded"),
    [
        ("openai/gpt-4o", "gpt-4o"),
        ("gpt-4o", "openai/gpt-4o"),
        ("openai/gpt-4o", "openai/gpt-4o"),
    ],
)
def test_exclude_models_with_or_without_provider_prefix(model: str, excluded: str) -> None:
    fake = FakeProvider("ok", provider_name="openai")
    router = Router(provider=fake)
    with pytest.raises(NoCandidateError):
        router.complete(model=model, messages=MSG, exclude_models=[excluded])
    out = router.complete(
        model=model, fallback_models=["anthropic/claude"], messages=MSG, exclude_models=[excluded]
    )
    assert out is not None
    assert [c.litellm_model for c in fake.calls] == ["anthropic/claude"]


def test_exclude_models_through_model_name_map() -> None:
    fake = FakeProvider("ok")
    router = Router(provider=fake)
    with pytest.raises(NoCandidateError):
        router.complete(
            model="azure/gpt-4o",
            messages=MSG,
            model_name_map={"gpt-4o": "prod-deploy"},
            exclude_models=["prod-deploy"],
        )


# --- the header's base64 ---------------------------------------------------------------------


def _encode(params: dict[str, Any], kind: str) -> str:
    raw = json.dumps(params).encode()
    if kind == "standard":
        return base64.b64encode(raw).decode()
    if kind == "urlsafe":
        return base64.urlsafe_b64encode(raw).decode()
    if kind == "unpadded":
        return base64.b64encode(raw).decode().rstrip("=")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("kind", ["standard", "urlsafe", "unpadded", "urlsafe-unpadded"])
def test_header_base64_variants(kind: str) -> None:
    # ">?>" encodes to characters that differ between the alphabets ('+/' vs '-_').
    params = {"customer_identifier": "a>?>b~~~", "metadata": {"k": "\u00ff\u00fe?>"}}
    value = _encode(params, kind)
    if kind.startswith("urlsafe"):
        assert "-" in value or "_" in value
    if "unpadded" in kind:
        assert not value.endswith("=")
    request = build_request(
        {"model": "m", "messages": MSG, "headers": {"X-Data-Respan-Params": value}}
    )
    assert request.respan.customer_identifier == "a>?>b~~~"


@pytest.mark.parametrize("value", ["abc=def", "a", "!!!!", "ab+_"])
def test_header_base64_still_rejects_garbage(value: str) -> None:
    with pytest.raises(InvalidRequestError):
        build_request({"model": "m", "messages": MSG, "headers": {"X-Data-Respan-Params": value}})
