"""The OpenAI SDK's shape over a Router: ``client.chat.completions.create(...)``.

``router.as_openai()`` / ``router.as_async_openai()`` return objects that take exactly
what ``OpenAI().chat.completions.create(...)`` takes, so a service switches over by
replacing the client. The request options of the SDK map as follows:

- ``extra_body``: merged into the request, as the SDK merges it into the JSON body (so
  Respan parameters passed there, as for the gateway, apply).
- ``extra_headers``: passed as ``extra_headers`` (``X-Data-Respan-Params`` is read from it).
- ``timeout``: seconds per attempt; an ``httpx.Timeout`` counts by its read timeout.
- ``extra_query``: there is no URL in-process, so a query parameter has no meaning: a
  non-empty one is rejected with :class:`~respan_router.errors.FeatureNotAvailableError`
  rather than silently dropped.
- The SDK's "not given" markers (``NOT_GIVEN``, ``omit``) mean absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from respan_router.errors import FeatureNotAvailableError, InvalidRequestError

if TYPE_CHECKING:
    from respan_router.execution import AsyncChatStream, ChatStream
    from respan_router.responses import ChatCompletion


class Router(Protocol):
    """What the SDK shape calls: the Router's two entry points (no import of the Router
    itself, which builds these objects)."""

    def complete(self, **params: Any) -> ChatCompletion | ChatStream: ...

    async def acomplete(self, **params: Any) -> ChatCompletion | AsyncChatStream: ...


__all__ = ["AsyncOpenAICompat", "OpenAICompat"]

_NOT_GIVEN = frozenset({"NotGiven", "Omit"})


def _params(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The router's parameters for one SDK-shaped call."""
    params = {k: v for k, v in kwargs.items() if type(v).__name__ not in _NOT_GIVEN}
    query = params.pop("extra_query", None)
    if query:
        raise FeatureNotAvailableError(
            "extra_query has no meaning in-process (there is no URL to add it to); pass "
            "parameters as keywords or in extra_body",
            field="extra_query",
        )
    body = params.pop("extra_body", None)
    if body is not None:
        if not isinstance(body, Mapping):
            raise InvalidRequestError("extra_body must be an object", field="extra_body")
        params.update(body)
    timeout = params.get("timeout")
    if timeout is not None and not isinstance(timeout, int | float):
        read = getattr(timeout, "read", None)
        params["timeout"] = read if isinstance(read, int | float) else None
    return params


class _Completions:
    def __init__(self, router: Router) -> None:
        self._router = router

    def create(self, **kwargs: Any) -> ChatCompletion | ChatStream:
        """As ``OpenAI().chat.completions.create``; routed through the Router."""
        out: ChatCompletion | ChatStream = self._router.complete(**_params(kwargs))
        return out


class _AsyncCompletions:
    def __init__(self, router: Router) -> None:
        self._router = router

    async def create(self, **kwargs: Any) -> ChatCompletion | AsyncChatStream:
        """As ``AsyncOpenAI().chat.completions.create``; routed through the Router."""
        out: ChatCompletion | AsyncChatStream = await self._router.acomplete(**_params(kwargs))
        return out


class _Chat:
    def __init__(self, router: Router) -> None:
        self.completions = _Completions(router)


class _AsyncChat:
    def __init__(self, router: Router) -> None:
        self.completions = _AsyncCompletions(router)


class OpenAICompat:
    """``.chat.completions.create(...)`` over a Router (see the module docs)."""

    def __init__(self, router: Router) -> None:
        self.chat = _Chat(router)


class AsyncOpenAICompat:
    """``await .chat.completions.create(...)`` over a Router (see the module docs)."""

    def __init__(self, router: Router) -> None:
        self.chat = _AsyncChat(router)
