"""Parity of the lean path with litellm for Bedrock calls signed with SigV4.

The call's AWS keys (access key, secret key, region, optionally a session token) are
signed on the lean path with litellm's own signing through botocore. Against the local
Converse upstream: the same request as litellm's but for the signature and its date
(``authorization``, ``x-amz-date``, ``x-amz-security-token`` are compared by presence),
a signature botocore verifies over the body as sent and the request's date (litellm's
passes the same check), the same replies, chunks and router errors, sync and async.
Static credentials are frozen once per deployment; refreshable ones are refreshed when
botocore says so. Credentials litellm would take from elsewhere keep the call on litellm.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import pytest

from respan_router._secrets import Credentials
from respan_router.providers import LeanProvider, LiteLLMProvider, ProviderCall
from tests import lean_parity_helpers as parity
from tests.lean_parity_helpers import TIMEOUT
from tests.test_lean_parity_bedrock import BEDROCK_FAULTS, MODEL, PARAMS, SYSTEM, TOOL
from tests.upstream import Behaviour, Reply
from tests.upstream_bedrock import BedrockUpstream, sigv4_valid

ACCESS_KEY = "AKIDPARITYEXAMPLE"
SECRET_KEY = "parity/secret+key/0123456789abcdefghijkl"
TOKEN = "parity-session-token-0123456789"
SIGNATURE_HEADERS = ("authorization", "x-amz-date", "x-amz-security-token")
KEYS: dict[str, dict[str, str]] = {
    "static-keys": {},
    "session-token": {"aws_session_token": TOKEN},
}
REPLIES: dict[str, Behaviour] = {
    "text": Reply("Hi there, how are you?", pieces=3),
    "tool-use": Reply("Let me look.", tool_calls=[TOOL], finish_reason="tool_calls"),
}
FAULTS = {k: BEDROCK_FAULTS[k] for k in ("400", "403", "429-retry-after", "dropped-connection")}


@pytest.fixture
def upstream() -> Iterator[BedrockUpstream]:
    with BedrockUpstream() as server:
        yield server


def aws_credentials(upstream: BedrockUpstream, **more: str) -> dict[str, str]:
    return {
        "aws_access_key_id": ACCESS_KEY,
        "aws_secret_access_key": SECRET_KEY,
        "aws_region_name": "eu-west-3",
        "api_base": upstream.root_url,
        **more,
    }


def signed_call(
    upstream: BedrockUpstream, keys: str = "static-keys", **params: Any
) -> ProviderCall:
    return ProviderCall(
        model="claude",
        litellm_model=MODEL,
        provider="bedrock",
        messages=SYSTEM,
        params=params,
        credentials=Credentials(aws_credentials(upstream, **KEYS[keys])),
        timeout=TIMEOUT,
    )


async def run_both(
    upstream: BedrockUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    behaviour: Behaviour,
    keys: str = "static-keys",
    **params: Any,
) -> None:
    def build() -> ProviderCall:
        return signed_call(upstream, keys, **params)

    for stream in (False, True):
        parity.run_both_sync(
            upstream, reference, lean, behaviour, build, stream=stream, ignore=SIGNATURE_HEADERS
        )
        await parity.run_both_async(
            upstream, reference, lean, behaviour, build, stream=stream, ignore=SIGNATURE_HEADERS
        )


@pytest.mark.parametrize("reply", REPLIES)
@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("keys", KEYS)
async def test_signed_reply_parity(
    upstream: BedrockUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    keys: str,
    params: str,
    reply: str,
) -> None:
    await run_both(upstream, reference, lean, REPLIES[reply], keys, **PARAMS[params])


@pytest.mark.parametrize("fault", FAULTS)
async def test_signed_fault_parity(
    upstream: BedrockUpstream, reference: LiteLLMProvider, lean: LeanProvider, fault: str
) -> None:
    await run_both(upstream, reference, lean, FAULTS[fault])


@pytest.mark.parametrize("keys", KEYS)
async def test_the_signature_is_valid_and_shaped_as_litellms(
    upstream: BedrockUpstream, reference: LiteLLMProvider, lean: LeanProvider, keys: str
) -> None:
    token = KEYS[keys].get("aws_session_token")
    upstream.set_default(Reply("hi"))
    for stream in (False, True):
        seen = []
        for which in (reference, lean):
            upstream.reset()
            call = signed_call(upstream, keys, extra_headers={"X-Custom": "1"})
            if stream:
                assert [c async for c in which.astream(call)]
                assert list(which.stream(signed_call(upstream, keys)))
            else:
                await which.acomplete(call)
                which.complete(signed_call(upstream, keys))
            for request in upstream.requests:
                assert sigv4_valid(request, SECRET_KEY, token)
                assert not sigv4_valid(request, SECRET_KEY + "x", token)
            seen.append(
                [sorted(h for h in r.headers if h in SIGNATURE_HEADERS) for r in upstream.requests]
            )
            signed = [r.headers["authorization"].split("Signature=")[0] for r in upstream.requests]
            seen.append([s.replace(s.split("/")[1], "DATE") for s in signed])
        assert seen[0] == seen[2]  # the same signature headers
        assert seen[1] == seen[3]  # the same credential scope and signed headers
    assert (
        "x-amz-security-token" in seen[0][0] if token else "x-amz-security-token" not in seen[0][0]
    )


def test_a_tampered_body_fails_the_check(upstream: BedrockUpstream, lean: LeanProvider) -> None:
    upstream.set_default(Reply("hi"))
    lean.complete(signed_call(upstream))
    (request,) = upstream.requests
    assert sigv4_valid(request, SECRET_KEY)
    tampered = type(request)(
        request.method, request.path, request.headers, None, raw=request.raw + b" "
    )
    assert not sigv4_valid(tampered, SECRET_KEY)


def test_static_keys_are_frozen_once_per_deployment(
    upstream: BedrockUpstream, lean: LeanProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.credentials import Credentials as AwsCredentials

    frozen = []
    original = AwsCredentials.get_frozen_credentials

    def counting(self: Any) -> Any:
        frozen.append(self.access_key)
        return original(self)

    monkeypatch.setattr(AwsCredentials, "get_frozen_credentials", counting)
    provider = LeanProvider()
    for _ in range(3):
        assert provider.attempt_for(signed_call(upstream), stream=False) is not None
    assert frozen == [ACCESS_KEY]
    provider.close()


def test_refreshable_credentials_are_refreshed_when_due(upstream: BedrockUpstream) -> None:
    from botocore.credentials import RefreshableCredentials

    from respan_router.providers._lean._sigv4 import Signer

    issued = []

    def fetch() -> dict[str, str]:
        issued.append(len(issued))
        # Already inside botocore's mandatory refresh window: refreshed on every use.
        expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=60)
        return {
            "access_key": f"AKIDREFRESH{len(issued)}",
            "secret_key": f"secret-{len(issued)}",
            "token": f"token-{len(issued)}",
            "expiry_time": expiry.isoformat(),
        }

    credentials = RefreshableCredentials.create_from_metadata(fetch(), fetch, "test")
    signer = Signer(credentials, "eu-west-3")
    url = f"{upstream.root_url}/model/m/converse"
    first = signer.sign(url, {"Content-Type": "application/json"}, b"{}")
    second = signer.sign(url, {"Content-Type": "application/json"}, b"{}")
    assert "AKIDREFRESH2" in first["Authorization"]
    assert "AKIDREFRESH3" in second["Authorization"]
    assert second["X-Amz-Security-Token"] == "token-3"
    assert SECRET_KEY not in repr(signer) and "secret" not in repr(signer)


def test_unproven_aws_credentials_go_through_litellm(
    upstream: BedrockUpstream, lean: LeanProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    def call(**credentials: Any) -> ProviderCall:
        return ProviderCall(
            model="claude",
            litellm_model=MODEL,
            provider="bedrock",
            messages=SYSTEM,
            credentials=Credentials(credentials),
        )

    base = aws_credentials(upstream)
    attempt = lean.attempt_for(call(**base), stream=False)
    assert attempt is not None
    assert SECRET_KEY not in repr(attempt.deployment)
    assert lean.attempt_for(call(**base), stream=True) is not None
    without_region = {k: v for k, v in base.items() if k != "aws_region_name"}
    assert lean.attempt_for(call(**without_region), stream=False) is None
    assert lean.attempt_for(call(**{**base, "aws_region_name": "EU_WEST"}), stream=False) is None
    assert lean.attempt_for(call(**{**base, "aws_role_name": "r"}), stream=False) is None
    assert lean.attempt_for(call(**{**base, "aws_profile_name": "p"}), stream=False) is None
    assert lean.attempt_for(call(**{**base, "api_key": "k"}), stream=False) is None
    headers = {"extra_headers": {"Authorization": "Bearer x"}}
    assert lean.attempt_for(signed_call(upstream, **headers), stream=False) is None
    for name in (
        "AWS_BEARER_TOKEN_BEDROCK",
        "AWS_SESSION_TOKEN",
        "AWS_ROLE_NAME",
        "AWS_PROFILE_NAME",
    ):
        monkeypatch.setenv(name, "x")
        assert lean.attempt_for(call(**base), stream=False) is None
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "x")  # ignored by litellm when the call gives one
    assert lean.attempt_for(call(**base, aws_session_token=TOKEN), stream=False) is not None


def test_without_botocore_signed_calls_and_streams_go_through_litellm(
    upstream: BedrockUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "botocore.credentials", None)
    monkeypatch.setitem(sys.modules, "botocore.eventstream", None)
    provider = LeanProvider()
    assert provider.attempt_for(signed_call(upstream), stream=False) is None
    bearer = ProviderCall(
        model="claude",
        litellm_model=MODEL,
        provider="bedrock",
        messages=SYSTEM,
        credentials=Credentials({"api_key": "k", "api_base": upstream.root_url}),
    )
    assert provider.attempt_for(bearer, stream=False) is not None
    assert provider.attempt_for(bearer, stream=True) is None  # the decoder needs botocore
    provider.close()
