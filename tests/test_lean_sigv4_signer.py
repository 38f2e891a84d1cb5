"""The lean path's SigV4 signer gives, byte for byte, the headers litellm's Bedrock signing
gives (botocore's ``SigV4Auth`` through ``BaseAWSLLM.get_request_headers``) for the same
request at the same time: varied bodies, URLs (``:`` in model ids, ports, queries, dot
segments), session tokens, extra headers, a date change at midnight, credentials that
botocore refreshes. Requests it does not sign itself are signed by litellm's code; the
signing key is derived once per date and credentials, and refreshed credentials are used
as soon as botocore refreshes them.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from botocore import auth as botocore_auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, RefreshableCredentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from respan_router.providers._lean._sigv4 import Signer

REGION = "eu-west-3"
ACCESS_KEY = "AKIDSIGNEREXAMPLE"
SECRET_KEY = "signer/secret+key/0123456789abcdefghijkl"
MODEL_URL = "https://bedrock-runtime.eu-west-3.amazonaws.com/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
JSON = {"Content-Type": "application/json"}
NOON = datetime.datetime(2026, 3, 14, 12, 30, 45)

URLS = {
    "encoded-colon": MODEL_URL,
    "stream": MODEL_URL + "-stream",
    "raw-colon": "https://bedrock-runtime.eu-west-3.amazonaws.com/model/a.b-v1:0/converse",
    "local-port": "http://127.0.0.1:8123/model/anthropic.claude-v2%3A1/converse",
    "default-port": "https://Bedrock.Example.COM:443/model/m/converse",
    "http-default-port": "http://bedrock.example.com:80/model/m/converse",
    "ipv6": "http://[::1]:9000/model/m/converse",
    "userinfo": "https://user:pw@bedrock.example.com/model/m/converse",
    "base-path": "https://proxy.example.com/aws/bedrock/model/m%2Fx/converse",
    "dot-segments": "https://bedrock.example.com/a/./b/../model//m/converse",
    "spaces-and-tilde": "https://bedrock.example.com/model/m%20x~y!/converse",
    "query": "https://bedrock.example.com/model/m/converse?z=1&a=2&a=1&b",
}
BODIES = {
    "empty-object": b"{}",
    "text": b'{"messages":[{"role":"user","content":[{"text":"Hello there"}]}]}',
    "unicode": '{"text":"héllo — 日本語 \\u2028 🙂"}'.encode(),
    "whitespace": b'{\n  "a": "  spaced  out  ",\n\t"b": 1\n}\n',
    "large": b'{"text":"' + b"x" * 200_000 + b'"}',
}
TOKENS = {
    "no-token": None,
    "token": "session-token-0123456789/+=",
    "token-with-spaces": "  token   with\tspaces  ",
}
HEADERS: dict[str, dict[str, Any]] = {
    "content-type": JSON,
    "lowercase-content-type": {"content-type": "application/json"},
    "spaced-content-type": {"Content-Type": "  application/json ;   charset=utf-8 "},
    "extra-headers": {**JSON, "X-Custom": "1", "anthropic-beta": "a,b", "user-agent": "u"},
}
# Headers with which litellm's own code signs (more headers signed, or botocore's
# request preparation or litellm's add-back change the result).
LITELLM_SIGNED: dict[str, dict[str, Any]] = {
    "x-amz-header": {**JSON, "x-amz-foo": "  a   b "},
    "x-amzn-header": {**JSON, "X-Amzn-Bar": "1"},
    "date": {**JSON, "Date": "Sat, 14 Mar 2026 12:00:00 GMT"},
    "host": {**JSON, "Host": "other.example.com"},
    "content-length": {**JSON, "Content-Length": "2"},
    "transfer-encoding": {**JSON, "Transfer-Encoding": "chunked"},
    "authorization": {**JSON, "Authorization": "Bearer x"},
    "security-token": {**JSON, "X-Amz-Security-Token": "other"},
    "same-name-twice": {**JSON, "X-Custom": "1", "x-custom": "2"},
    "content-type-twice": {**JSON, "content-type": "text/plain"},
    "no-content-type": {"X-Custom": "1"},
    "none-value": {**JSON, "X-Custom": None},
}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[datetime.datetime]]:
    """botocore's clock (``botocore.auth.get_current_datetime``), set by the test: both
    the signer and the reference read it."""
    now = [NOON]

    def current(remove_tzinfo: bool = True) -> datetime.datetime:
        return now[0] if remove_tzinfo else now[0].replace(tzinfo=datetime.UTC)

    monkeypatch.setattr(botocore_auth, "get_current_datetime", current)
    yield now


def litellm_signed(
    credentials: Any, url: str, headers: Mapping[str, Any], body: bytes
) -> dict[str, str]:
    """The headers litellm's Bedrock handler signs a request with (the reference)."""
    from litellm.llms.bedrock.base_aws_llm import BaseAWSLLM

    prepared = BaseAWSLLM().get_request_headers(
        credentials=credentials.get_frozen_credentials(),
        aws_region_name=REGION,
        extra_headers=None,
        endpoint_url=url,
        data=body,
        headers=dict(headers),
        supports_bearer_token=False,
    )
    return dict(prepared.headers)


def keys(token: str | None = None, access: str = ACCESS_KEY, secret: str = SECRET_KEY) -> Any:
    return Credentials(access_key=access, secret_key=secret, token=token)


def same(
    signer: Signer, credentials: Any, url: str, headers: Mapping[str, Any], body: bytes
) -> None:
    """The signer's headers equal litellm's, in the same order."""
    ours = signer.sign(url, headers, body)
    assert list(ours.items()) == list(litellm_signed(credentials, url, headers, body).items())


@pytest.fixture
def litellm_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The URLs signed by litellm's code rather than the signer's own."""
    from litellm.llms.bedrock.base_aws_llm import BaseAWSLLM

    calls: list[str] = []
    original = BaseAWSLLM.get_request_headers

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["endpoint_url"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(BaseAWSLLM, "get_request_headers", counting)
    return calls


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("token", TOKENS)
def test_the_signature_is_litellms_byte_for_byte(
    clock: list[datetime.datetime], url: str, body: str, token: str
) -> None:
    credentials = keys(TOKENS[token])
    signer = Signer(credentials, REGION)
    for _ in range(2):  # the second signs with what the first remembered
        same(signer, credentials, URLS[url], JSON, BODIES[body])


@pytest.mark.parametrize("headers", HEADERS)
@pytest.mark.parametrize("token", TOKENS)
def test_headers_are_signed_and_added_back_as_litellm_does(
    clock: list[datetime.datetime], litellm_calls: list[str], headers: str, token: str
) -> None:
    credentials = keys(TOKENS[token])
    signer = Signer(credentials, REGION)
    signed = signer.sign(MODEL_URL, HEADERS[headers], BODIES["text"])
    assert litellm_calls == []  # signed by the signer itself
    reference = litellm_signed(credentials, MODEL_URL, HEADERS[headers], BODIES["text"])
    assert list(signed.items()) == list(reference.items())


@pytest.mark.parametrize("headers", LITELLM_SIGNED)
def test_other_requests_are_signed_by_litellm(
    clock: list[datetime.datetime], litellm_calls: list[str], headers: str
) -> None:
    credentials = keys("tok")
    signer = Signer(credentials, REGION)
    signed = signer.sign(MODEL_URL, LITELLM_SIGNED[headers], b"{}")
    assert litellm_calls == [MODEL_URL]
    reference = litellm_signed(credentials, MODEL_URL, LITELLM_SIGNED[headers], b"{}")
    assert list(signed.items()) == list(reference.items())


def test_an_empty_body_is_signed_by_litellm(
    clock: list[datetime.datetime], litellm_calls: list[str]
) -> None:
    credentials = keys()
    signed = Signer(credentials, REGION).sign(MODEL_URL, JSON, b"")
    assert litellm_calls == [MODEL_URL]
    assert signed == litellm_signed(credentials, MODEL_URL, JSON, b"")


def test_the_signature_is_botocores_sigv4(clock: list[datetime.datetime]) -> None:
    """Against botocore's ``SigV4Auth.add_auth`` directly (not through litellm)."""
    credentials = keys("tok")
    body = BODIES["unicode"]
    request = AWSRequest(method="POST", url=MODEL_URL, data=body, headers=dict(JSON))
    SigV4Auth(credentials, "bedrock", REGION).add_auth(request)
    signed = Signer(credentials, REGION).sign(MODEL_URL, JSON, body)
    for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
        assert signed[name] == request.headers[name]
    assert signed["Authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20260314/{REGION}/bedrock/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="
    )


def test_a_different_body_secret_time_or_region_changes_the_signature(
    clock: list[datetime.datetime],
) -> None:
    def signature(signer: Signer, body: bytes = b"{}") -> str:
        return signer.sign(MODEL_URL, JSON, body)["Authorization"].rsplit("=", 1)[1]

    base = signature(Signer(keys(), REGION))
    assert signature(Signer(keys(), REGION), b"{ }") != base
    assert signature(Signer(keys(secret=SECRET_KEY + "x"), REGION)) != base
    assert signature(Signer(keys(), "us-east-1")) != base
    clock[0] = NOON + datetime.timedelta(seconds=1)
    assert signature(Signer(keys(), REGION)) != base


def test_the_date_changes_at_midnight(
    clock: list[datetime.datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    derivations: list[bytes] = []
    original = SigV4Auth._sign

    def counting(self: Any, key: bytes, msg: str, hex: bool = False) -> Any:
        derivations.append(key)
        return original(self, key, msg, hex)

    monkeypatch.setattr(SigV4Auth, "_sign", counting)
    credentials = keys("tok")
    signer = Signer(credentials, REGION)
    seen = []
    for moment in (
        datetime.datetime(2026, 12, 31, 23, 59, 58),
        datetime.datetime(2026, 12, 31, 23, 59, 59),
        datetime.datetime(2027, 1, 1, 0, 0, 0),
        datetime.datetime(2027, 1, 1, 0, 0, 1),
    ):
        clock[0] = moment
        derivations.clear()
        signed = signer.sign(MODEL_URL, JSON, b"{}")
        seen.append((signed["X-Amz-Date"], len(derivations)))
        derivations.clear()
        assert list(signed.items()) == list(
            litellm_signed(credentials, MODEL_URL, JSON, b"{}").items()
        )
    # The signing key is derived (four HMACs) once per date, then reused.
    assert seen == [
        ("20261231T235958Z", 4),
        ("20261231T235959Z", 0),
        ("20270101T000000Z", 4),
        ("20270101T000001Z", 0),
    ]


class FakeTime:
    """The clock botocore's refreshable credentials read (timezone-aware, UTC)."""

    def __init__(self) -> None:
        self.now = datetime.datetime(2026, 3, 14, 12, 0, tzinfo=datetime.UTC)

    def __call__(self) -> datetime.datetime:
        return self.now


def refreshable(time: FakeTime, issued: list[dict[str, str]]) -> RefreshableCredentials:
    """Credentials valid for an hour, each refresh issuing new keys."""

    def fetch() -> dict[str, str]:
        n = len(issued) + 1
        issued.append(
            {
                "access_key": f"AKIDREFRESH{n}",
                "secret_key": f"refreshed-secret-{n}",
                "token": f"refreshed-token-{n}",
                "expiry_time": (time.now + datetime.timedelta(hours=1)).isoformat(),
            }
        )
        return issued[-1]

    metadata = fetch()
    return RefreshableCredentials(
        access_key=metadata["access_key"],
        secret_key=metadata["secret_key"],
        token=metadata["token"],
        expiry_time=datetime.datetime.fromisoformat(metadata["expiry_time"]),
        refresh_using=fetch,
        method="test",
        time_fetcher=time,
    )


def test_refreshable_credentials_are_used_until_botocore_refreshes_them(
    clock: list[datetime.datetime],
) -> None:
    time = FakeTime()
    issued: list[dict[str, str]] = []
    credentials = refreshable(time, issued)
    signer = Signer(credentials, REGION)

    def signed_with(n: int) -> None:
        signed = signer.sign(MODEL_URL, JSON, b"{}")  # may refresh
        current = issued[n - 1]
        static = keys(current["token"], current["access_key"], current["secret_key"])
        assert list(signed.items()) == list(litellm_signed(static, MODEL_URL, JSON, b"{}").items())
        assert len(issued) == n

    signed_with(1)
    time.now += datetime.timedelta(minutes=30)  # still valid: no refresh
    signed_with(1)
    time.now += datetime.timedelta(minutes=29)  # inside botocore's refresh window
    signed_with(2)
    signed_with(2)  # the refreshed keys are kept until they are due again
    time.now += datetime.timedelta(minutes=59)
    signed_with(3)
    assert "refreshed" not in repr(signer)


def test_static_credentials_are_frozen_once(
    clock: list[datetime.datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    frozen = []
    original = Credentials.get_frozen_credentials

    def counting(self: Any) -> Any:
        frozen.append(1)
        return original(self)

    monkeypatch.setattr(Credentials, "get_frozen_credentials", counting)
    signer = Signer(keys("tok"), REGION)
    for url in URLS.values():
        signer.sign(url, JSON, b"{}")
    assert len(frozen) == 1


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.binary(min_size=1, max_size=512),
    content_type=st.text(
        st.characters(codec="latin-1", exclude_characters="\r\n\x00"), max_size=40
    ),
    token=st.none()
    | st.text(
        st.characters(codec="latin-1", exclude_characters="\r\n\x00"), min_size=1, max_size=40
    ),
    model=st.text(
        st.characters(codec="ascii", categories=("L", "N", "P", "S")), min_size=1, max_size=30
    ),
    seconds=st.integers(min_value=0, max_value=10 * 365 * 86400),
)
def test_random_requests_are_signed_as_litellm_signs_them(
    clock: list[datetime.datetime],
    body: bytes,
    content_type: str,
    token: str | None,
    model: str,
    seconds: int,
) -> None:
    from urllib.parse import quote

    clock[0] = datetime.datetime(2020, 1, 1) + datetime.timedelta(seconds=seconds)
    credentials = keys(token)
    url = f"https://bedrock.example.com/model/{quote(model, safe='')}/converse"
    same(Signer(credentials, REGION), credentials, url, {"Content-Type": content_type}, body)


async def test_lean_calls_and_streams_are_signed_by_the_signer_and_verify(
    litellm_calls: list[str],
) -> None:
    """Through the lean provider, non-streamed and streamed, sync and async: one signing
    path, no call to litellm's signing, and a signature the upstream's botocore accepts."""
    from respan_router._secrets import Credentials as CallCredentials
    from respan_router.providers import LeanProvider, ProviderCall
    from tests.test_lean_parity_bedrock import MODEL, SYSTEM
    from tests.upstream import Reply
    from tests.upstream_bedrock import BedrockUpstream, sigv4_valid

    with BedrockUpstream() as upstream:
        upstream.set_default(Reply("hi"))
        credentials = {
            "aws_access_key_id": ACCESS_KEY,
            "aws_secret_access_key": SECRET_KEY,
            "aws_session_token": "tok",
            "aws_region_name": REGION,
            "api_base": upstream.root_url,
        }

        def call() -> ProviderCall:
            return ProviderCall(
                model="claude",
                litellm_model=MODEL,
                provider="bedrock",
                messages=SYSTEM,
                params={"extra_headers": {"X-Custom": "1"}},
                credentials=CallCredentials(credentials),
            )

        provider = LeanProvider()
        try:
            provider.complete(call())
            await provider.acomplete(call())
            assert list(provider.stream(call()))
            assert [chunk async for chunk in provider.astream(call())]
        finally:
            provider.close()
        paths = [request.path.rsplit("/", 1)[1] for request in upstream.requests]
        assert paths == ["converse", "converse", "converse-stream", "converse-stream"]
        for request in upstream.requests:
            assert sigv4_valid(request, SECRET_KEY, "tok")
            assert request.headers["x-custom"] == "1"
    assert litellm_calls == []
