"""Genuine ``openai.OpenAI`` / ``openai.AsyncOpenAI`` clients over the Router's transport."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from respan_router.wire._transport import http_module, transport_classes

if TYPE_CHECKING:
    import openai

__all__ = ["BASE_URL", "async_openai_client", "async_transport", "openai_client", "transport"]

#: The client's base URL: a reserved name (``.invalid``) that no resolver answers, so
#: the client can never reach the network even if handed another transport.
BASE_URL = "http://respan-router.invalid/v1"


def transport(router: Any, http: Any = None) -> Any:
    """A sync transport serving ``router`` (for ``http.Client(transport=...)``).

    Args:
        http: the HTTP package to build it for (``httpx`` or ``httpx2``); default: the one
            the installed OpenAI SDK uses.
    """
    return transport_classes(http or http_module())[0](router)


def async_transport(router: Any, http: Any = None) -> Any:
    """An async transport serving ``router`` (for ``http.AsyncClient(transport=...)``)."""
    return transport_classes(http or http_module())[1](router)


def _options(options: dict[str, Any]) -> dict[str, Any]:
    if "http_client" in options:
        raise TypeError("http_client is the Router's own; use router.transport() to build one")
    options.setdefault("api_key", "respan-router-in-process")  # sent nowhere
    options.setdefault("base_url", BASE_URL)
    options.setdefault("max_retries", 0)  # the Router retries
    options.setdefault("timeout", None)  # per attempt, the Router's unless given
    return options


def openai_client(router: Any, **options: Any) -> openai.OpenAI:
    """``openai.OpenAI(**options)`` whose every request is served by ``router``."""
    import openai

    http = http_module()
    client = http.Client(transport=transport(router, http), timeout=None)
    return openai.OpenAI(http_client=client, **_options(options))


def async_openai_client(router: Any, **options: Any) -> openai.AsyncOpenAI:
    """``openai.AsyncOpenAI(**options)`` whose every request is served by ``router``."""
    import openai

    http = http_module()
    client = http.AsyncClient(transport=async_transport(router, http), timeout=None)
    return openai.AsyncOpenAI(http_client=client, **_options(options))
