"""Vertex AI's settings for the provider benchmark: a service account whose token comes
from a local Google token endpoint (started once, in this process: the token is fetched
once and cached, by the lean path and by litellm alike; :func:`close_account` stops it,
so a benchmark leaves no server thread behind)."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["close_account", "vertex_settings", "vertex_url"]

PROJECT = "bench-project"
LOCATION = "us-central1"
_ACCOUNT: dict[str, str] = {}
_SERVERS: list[Any] = []  # the token endpoint, while it runs


def _account() -> dict[str, str]:
    if not _ACCOUNT:
        from tests.upstream_google_token import GoogleTokenServer

        server = GoogleTokenServer().start()
        _SERVERS.append(server)
        _ACCOUNT.update(server.service_account(PROJECT))
    return _ACCOUNT


def close_account() -> None:
    """Stop the token endpoint (a later :func:`vertex_settings` starts another)."""
    while _SERVERS:
        _SERVERS.pop().close()
    _ACCOUNT.clear()


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
