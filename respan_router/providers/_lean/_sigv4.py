"""AWS Signature Version 4 for Bedrock calls on the lean path, signed as litellm signs them.

A deployment's credentials are resolved once, when the deployment is built: the call's
``aws_access_key_id``, ``aws_secret_access_key`` and optional ``aws_session_token`` as
botocore ``Credentials`` (what litellm resolves them to), for the call's
``aws_region_name``. Static keys are frozen once; credentials botocore can refresh
(``RefreshableCredentials``) are frozen again for each request, so botocore refreshes them
when they say they need it. Each request is signed by litellm's own Bedrock signing
(``BaseAWSLLM.get_request_headers``: the headers SigV4 covers, botocore's ``SigV4Auth``
for the ``bedrock`` service, the other headers added back), over the exact body sent.

botocore is imported lazily and only here; without it (or with a region litellm rejects)
no signer is made and the call goes through litellm.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
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


class Signer:
    """Signs one deployment's requests with its credentials (never shown in its repr).

    Args:
        credentials: botocore ``Credentials`` (static or refreshable).
        region: the AWS region signed for.
    """

    __slots__ = ("_aws", "_credentials", "_frozen", "region")

    def __init__(self, credentials: Any, region: str) -> None:
        from botocore.credentials import RefreshableCredentials
        from litellm.llms.bedrock.base_aws_llm import BaseAWSLLM

        self._aws = BaseAWSLLM()
        self._credentials = credentials
        self.region = region
        # Static keys: frozen once. Refreshable ones: frozen per request (botocore refreshes).
        refreshable = isinstance(credentials, RefreshableCredentials)
        self._frozen = None if refreshable else credentials.get_frozen_credentials()

    def __repr__(self) -> str:
        return f"Signer(region={self.region!r})"

    def sign(self, url: str, headers: Mapping[str, str], body: bytes) -> dict[str, str]:
        """``headers`` with the signature's (``Authorization``, ``X-Amz-Date``, and
        ``X-Amz-Security-Token`` with a session token) for a POST of ``body`` to ``url``."""
        frozen = self._frozen
        if frozen is None:
            frozen = self._credentials.get_frozen_credentials()
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
