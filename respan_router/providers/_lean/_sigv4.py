"""AWS Signature Version 4 for Bedrock calls on the lean path, signed as litellm signs them.

A deployment's credentials are resolved once, when the deployment is built: the call's
``aws_access_key_id``, ``aws_secret_access_key`` and optional ``aws_session_token`` as
botocore ``Credentials`` (what litellm resolves them to), for the call's
``aws_region_name``. Static keys are frozen once; credentials botocore can refresh
(``RefreshableCredentials``) are frozen again for each request, so botocore refreshes them
when they say they need it. Each request gets the headers litellm's own Bedrock signing
gives (``BaseAWSLLM.get_request_headers``: the headers SigV4 covers, botocore's
``SigV4Auth`` for the ``bedrock`` service, the other headers added back, then
``Content-Length``), over the exact body sent, at botocore's clock. For the requests the
lean path sends (only ``Content-Type`` signed among the given headers) the per-deployment
parts are worked out once by botocore (see ``Signer``) and only the canonical request, its
hash and the last HMAC are per call; any other request is signed by litellm's code.

botocore is imported lazily and only here; without it (or with a region litellm rejects)
no signer is made and the call goes through litellm.
"""

from __future__ import annotations

import dataclasses
import hmac
import os
from collections.abc import Mapping
from hashlib import sha256
from typing import Any

from respan_router.providers._lean._deployment import Deployment

__all__ = ["AWS_KEYS", "SignedDeployment", "Signer", "signed", "unsigned_reason"]

# The call credentials a signer is made of.
AWS_KEYS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_region_name")
_REQUIRED = ("aws_access_key_id", "aws_secret_access_key", "aws_region_name")
# What litellm reads from the environment for a call with these keys: a bearer token
# (then no SigV4), a session token when the call gives none, or another way to get
# credentials (a profile, a role, web identity).
_ENVIRONMENT = (
    "AWS_BEARER_TOKEN_BEDROCK",
    "AWS_SESSION_NAME",
    "AWS_PROFILE_NAME",
    "AWS_ROLE_NAME",
    "AWS_WEB_IDENTITY_TOKEN",
    "AWS_STS_ENDPOINT",
    "AWS_EXTERNAL_ID",
)
_SERVICE = "bedrock"
_SIGNED = "content-type;host;x-amz-date"
_SIGNED_WITH_TOKEN = "content-type;host;x-amz-date;x-amz-security-token"
# Headers botocore's request preparation keeps as given: requests with them are signed
# by litellm, as are those with a header litellm's signing replaces.
_PREPARED = frozenset({"content-length", "transfer-encoding"})
_TARGET_LIMIT = 64  # URLs remembered per signer (a deployment signs two)


def unsigned_reason(credentials: Mapping[str, Any]) -> str | None:
    """Why a call without an API key is not signed here (it goes through litellm), or None.

    Signed here: the access key, secret key and region given as strings (a session token
    optional), and nothing in the environment that changes how litellm resolves them."""
    for key in _REQUIRED:
        value = credentials.get(key)
        if not isinstance(value, str) or not value:
            return f"no {key} (litellm resolves AWS credentials from elsewhere)"
    token = credentials.get("aws_session_token")
    if token is not None and (not isinstance(token, str) or not token):
        return "aws_session_token is not a string"
    environ = os.environ
    if any(name in environ for name in _ENVIRONMENT) or (
        token is None and "AWS_SESSION_TOKEN" in environ
    ):
        return "AWS credentials in the environment"
    return None


class _Keys:
    """One set of frozen credentials and what is derived from them: botocore's ``SigV4Auth``
    for the ``bedrock`` service in the region, the session token's header, and the signing
    key of the latest date (botocore's four-step derivation, done once per date)."""

    __slots__ = ("auth", "frozen", "signing", "token", "token_line")

    def __init__(self, frozen: Any, region: str) -> None:
        from botocore.auth import SigV4Auth

        self.frozen = frozen
        self.auth = SigV4Auth(frozen, _SERVICE, region)
        self.token: str | None = frozen.token or None
        # Signed as botocore signs a header value: whitespace trimmed and collapsed.
        trimmed = "" if self.token is None else self.auth._header_value(self.token)
        self.token_line = "" if self.token is None else f"x-amz-security-token:{trimmed}\n"
        self.signing: tuple[str, bytes] = ("", b"")

    def signing_key(self, date: str) -> bytes:
        """The key for ``date`` (``YYYYMMDD``): derived by botocore's ``_sign`` as its
        ``SigV4Auth.signature`` derives it, remembered until the date changes."""
        day, key = self.signing
        if day != date:
            auth = self.auth
            key = auth._sign(f"AWS4{self.frozen.secret_key}".encode(), date)
            for part in (auth._region_name, auth._service_name, "aws4_request"):
                key = auth._sign(key, part)
            self.signing = (date, key)
        return key


class _Target:
    """What botocore signs of a URL, worked out once by botocore: the canonical request's
    method, path and query lines, and the ``host`` header's value."""

    __slots__ = ("host", "prefix")

    def __init__(self, auth: Any, url: str) -> None:
        from urllib.parse import urlsplit

        from botocore.auth import _host_from_url
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method="POST", url=url)
        path = auth._normalize_url_path(urlsplit(url).path)
        self.prefix = f"POST\n{path}\n{auth.canonical_query_string(request)}\n"
        self.host = _host_from_url(url)


class Signer:
    """Signs one deployment's requests with its credentials (never shown in its repr).

    The signature is botocore's ``SigV4Auth.add_auth`` over litellm's request (the headers
    litellm signs, the exact body, botocore's clock), byte for byte. What is fixed is
    worked out once: the frozen credentials (static keys; refreshable ones are frozen
    again per request and the rest redone when they change), the ``SigV4Auth``, each URL's
    canonical path, query and host, and the signing key per date. A request whose headers
    litellm would sign other than ``Content-Type`` (``Date``, ``Host``, ``x-amz-*``), or
    whose preparation botocore would change (``Content-Length``, ``Transfer-Encoding``,
    names repeated in another case, a non-string value, an empty body), is signed by
    litellm's own ``get_request_headers``.

    Args:
        credentials: botocore ``Credentials`` (static or refreshable).
        region: the AWS region signed for.
    """

    __slots__ = (
        "_aws",
        "_clock",
        "_computed",
        "_credentials",
        "_keys",
        "_refreshable",
        "_targets",
        "region",
    )

    def __init__(self, credentials: Any, region: str) -> None:
        from botocore import auth
        from botocore.credentials import RefreshableCredentials
        from litellm.llms.bedrock.base_aws_llm import SIGV4_COMPUTED_HEADERS, BaseAWSLLM

        self._aws = BaseAWSLLM()
        self._clock = auth
        self._computed: frozenset[str] = SIGV4_COMPUTED_HEADERS
        self._credentials = credentials
        self.region = region
        # Static keys: frozen once. Refreshable ones: frozen per request (botocore refreshes).
        self._refreshable = isinstance(credentials, RefreshableCredentials)
        self._keys: _Keys | None = None
        self._targets: dict[str, _Target] = {}
        if not self._refreshable:
            self._current()

    def __repr__(self) -> str:
        return f"Signer(region={self.region!r})"

    def sign(self, url: str, headers: Mapping[str, str], body: bytes) -> dict[str, str]:
        """``headers`` with the signature's (``Authorization``, ``X-Amz-Date``, and
        ``X-Amz-Security-Token`` with a session token) for a POST of ``body`` to ``url``,
        then ``Content-Length``: what litellm's ``get_request_headers`` gives."""
        keys = self._current()
        content_type = self._content_type(headers, body)
        if content_type is None:
            return self._litellm_sign(keys.frozen, url, headers, body)
        target = self._targets.get(url)
        if target is None:
            target = _Target(keys.auth, url)
            if len(self._targets) < _TARGET_LIMIT:
                self._targets[url] = target
        clock = self._clock  # botocore.auth: its clock and timestamp format
        timestamp = clock.get_current_datetime().strftime(clock.SIGV4_TIMESTAMP)
        date = timestamp[:8]
        signed_names = _SIGNED_WITH_TOKEN if keys.token else _SIGNED
        # botocore's canonical request: method, path, query, the signed headers sorted by
        # name with their values trimmed, a blank line, their names, the body's hash.
        value = keys.auth._header_value(headers[content_type])
        canonical = (
            f"{target.prefix}content-type:{value}\nhost:{target.host}\n"
            f"x-amz-date:{timestamp}\n{keys.token_line}\n{signed_names}\n"
            f"{sha256(body).hexdigest()}"
        )
        scope = f"{date}/{self.region}/{_SERVICE}/aws4_request"
        digest = sha256(canonical.encode()).hexdigest()
        to_sign = f"AWS4-HMAC-SHA256\n{timestamp}\n{scope}\n{digest}"
        signature = hmac.digest(keys.signing_key(date), to_sign.encode(), "sha256").hex()
        signed = {content_type: headers[content_type], "X-Amz-Date": timestamp}
        if keys.token:
            signed["X-Amz-Security-Token"] = keys.token
        signed["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={keys.frozen.access_key}/{scope}, "
            f"SignedHeaders={signed_names}, Signature={signature}"
        )
        for name, value in headers.items():
            if name != content_type:
                signed[name] = value
        signed["Content-Length"] = str(len(body))
        return signed

    def _current(self) -> _Keys:
        """The credentials to sign with: static ones as frozen once; refreshable ones
        frozen again (botocore refreshes them when due), what derives from them redone
        when they changed."""
        keys = self._keys
        if keys is None or self._refreshable:
            frozen = self._credentials.get_frozen_credentials()
            if keys is None or frozen != keys.frozen:
                keys = self._keys = _Keys(frozen, self.region)
        return keys

    def _content_type(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """The name of the one header litellm signs here (``Content-Type``), or None when
        the request is signed by litellm's own code (see the class)."""
        if not body or not isinstance(body, bytes):
            return None
        to_sign = self._aws._filter_headers_for_aws_signature(dict(headers))
        if len(to_sign) != 1:
            return None
        name: str = next(iter(to_sign))
        if name.lower() != "content-type":
            return None
        seen = set()
        for key, value in headers.items():
            lowered = key.lower() if isinstance(key, str) else None
            if lowered is None or not isinstance(value, str) or lowered in seen:
                return None
            if lowered in _PREPARED or lowered in self._computed:
                return None
            seen.add(lowered)
        return name

    def _litellm_sign(
        self, frozen: Any, url: str, headers: Mapping[str, str], body: bytes
    ) -> dict[str, str]:
        prepared = self._aws.get_request_headers(
            credentials=frozen,
            aws_region_name=self.region,
            extra_headers=None,
            endpoint_url=url,
            data=body,
            headers=dict(headers),
            supports_bearer_token=False,
        )
        return dict(prepared.headers)


@dataclasses.dataclass(frozen=True, slots=True, repr=False)
class SignedDeployment(Deployment):
    """A Bedrock deployment whose requests are signed with SigV4 (no API key); its repr
    is the deployment's (no credentials)."""

    signer: Signer | None = None


def signed(deployment: Deployment, credentials: Mapping[str, Any]) -> SignedDeployment | None:
    """``deployment`` with a signer for the call's AWS keys; None when botocore is missing
    or litellm would reject the region."""
    try:
        from botocore.credentials import Credentials
        from litellm.llms.bedrock.base_aws_llm import BaseAWSLLM
    except ImportError:
        return None
    region = credentials["aws_region_name"]
    try:
        BaseAWSLLM._validate_aws_region_name(region)
    except ValueError:
        return None
    keys = Credentials(
        access_key=credentials["aws_access_key_id"],
        secret_key=credentials["aws_secret_access_key"],
        token=credentials.get("aws_session_token"),
    )
    fields = {f.name: getattr(deployment, f.name) for f in dataclasses.fields(deployment)}
    fields["api_key"] = None
    return SignedDeployment(**fields, signer=Signer(keys, region))
