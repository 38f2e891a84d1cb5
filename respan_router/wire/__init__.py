"""The wire edge: the Respan gateway's HTTP contract, spoken by the Router in-process.

- :func:`openai_client` / :func:`async_openai_client` (``router.as_openai()`` /
  ``router.as_async_openai()``): genuine ``openai.OpenAI`` / ``openai.AsyncOpenAI``
  whose HTTP client has the Router's transport.
- :func:`transport` / :func:`async_transport` (``router.transport()`` /
  ``router.async_transport()``): the transports, for a client built by hand.
- :func:`router_error`: the Router's own error behind an exception the SDK raised.

The edge adds no routing rule: it reads a request into the same ``complete`` /
``acomplete`` call and renders the answer, stream or error as the gateway does.
"""

from __future__ import annotations

from respan_router.errors import RouterError
from respan_router.wire._asgi import RouterApp
from respan_router.wire._client import (
    BASE_URL,
    async_openai_client,
    async_transport,
    openai_client,
    transport,
)
from respan_router.wire._errors import ERROR_KEY

__all__ = [
    "BASE_URL",
    "ERROR_KEY",
    "RouterApp",
    "async_openai_client",
    "async_transport",
    "openai_client",
    "router_error",
    "transport",
]


def router_error(exc: BaseException) -> RouterError | None:
    """The Router's error behind an OpenAI SDK exception (``openai.RateLimitError``,
    ``openai.APIError`` from a stream, ...), or None when the Router raised none."""
    for holder in (getattr(exc, "response", None), getattr(exc, "request", None)):
        extensions = getattr(holder, "extensions", None)
        if isinstance(extensions, dict):
            found = extensions.get(ERROR_KEY)
            if isinstance(found, RouterError):
                return found
    return None
