"""Vertex AI's settings for the provider benchmark: a service account whose token comes
from a local Google token endpoint (started once, in this process: the token is fetched
once and cached, by the lean path and by litellm alike)."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["vertex_settings", "vertex_url"]

PROJECT = "bench-project"
LOCATION = "us-central1"
_ACCOUNT: dict[str, str] = {}


def _account() -> dict[str, str]:
    if not _ACCOUNT:
        from tests.upstream_google_token import GoogleTokenServer

        _ACCOUNT.update(GoogleTokenServer().start().service_account(PROJECT))
    return _ACCOUNT


def vertex_settings(root: str) -> dict[str, Any]:
    """The router's (and litellm's) Vertex settings against the upstream at ``root``."""
    return {
        "vertex_credentials": json.dumps(_account()),
        "vertex_location": LOCATION,
        "api_base": root,
    }


def vertex_url(root: str, stream: bool) -> str:
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return (
        f"{root}/v1/projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/"
        f"gemini-2.0-flash:{method}"
    )
