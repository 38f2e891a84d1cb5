"""The lean provider: litellm's provider translations, without litellm's per-call machinery.

Per attempt, :class:`LeanProvider` decides whether the call is one the parity tests cover
(an allow-listed provider, parameters its config supports, credentials it reads, no
litellm-only option, a litellm release inside the tested range, no litellm global that
changes a call). If so it builds the request with the provider's litellm config and sends
it itself; otherwise it hands the call, unchanged, to :class:`LiteLLMProvider`. Which
path an attempt took is written to ``call.dispatch_path`` (``"lean"`` or ``"litellm"``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any

from respan_router._loops import after_fork
from respan_router.providers._base import ProviderCall
from respan_router.providers._lean import _async_calls, _sync_calls, _wrapped_async, _wrapped_sync
from respan_router.providers._lean._async_transport import AsyncTransport
from respan_router.providers._lean._deployment import DeploymentCache
from respan_router.providers._lean._dialects import Dialects
from respan_router.providers._lean._plain_template import PlainTemplates
from respan_router.providers._lean._request import LeanUnsupported
from respan_router.providers._lean._state import Attempt
from respan_router.providers._lean._support import (
    litellm_globals_set,
    litellm_version_supported,
    unsupported_reason,
)
from respan_router.providers._lean._sync_transport import SyncTransport
from respan_router.providers._litellm import LiteLLMProvider

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletion, ChatCompletionChunk

__all__ = ["LEAN", "LITELLM", "LeanProvider"]

LEAN = "lean"
LITELLM = "litellm"
_log = logging.getLogger("respan_router.providers.lean")


class LeanProvider:
    """Implements :class:`~respan_router.providers._base.Provider`; see the module docstring.

    Args:
        enabled: False sends every call through litellm.
        fallback: the litellm provider calls are handed to (made when not given).
    """

    def __init__(self, *, enabled: bool = True, fallback: LiteLLMProvider | None = None) -> None:
        self._fallback = fallback if fallback is not None else LiteLLMProvider()
        self._enabled = enabled
        self._ready: bool | None = None
        self._lock = threading.Lock()
        self._deployments: DeploymentCache | None = None
        self._dialects: Dialects | None = None
        self._finish: Callable[[str], str] | None = None
        self._templates = PlainTemplates()
        self._async = AsyncTransport()
        self._sync = SyncTransport()
        after_fork(self, LeanProvider._after_fork)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()  # a parent's thread may have held it

    @property
    def enabled(self) -> bool:
        """Whether the lean path is on and usable with the installed litellm."""
        return self._enabled and self._prepare()

    def _prepare(self) -> bool:
        if self._ready is None:
            with self._lock:
                if self._ready is None:
                    litellm = self._fallback.litellm
                    ok = litellm_version_supported()
                    if ok:
                        from litellm.litellm_core_utils.core_helpers import map_finish_reason

                        self._deployments = DeploymentCache(litellm)
                        self._dialects = Dialects(litellm)
                        self._finish = map_finish_reason
                    else:
                        _log.info("lean dispatch off: litellm outside the tested range")
                    self._ready = ok
        return self._ready

    # -- delegated, no I/O ------------------------------------------------------------------

    def provider_of(self, litellm_model: str) -> str:
        return self._fallback.provider_of(litellm_model)

    def price_per_token(self, litellm_model: str) -> tuple[float, float] | None:
        return self._fallback.price_per_token(litellm_model)

    def price_info(self, litellm_model: str) -> dict[str, Any] | None:
        """Per-kind prices and the output cap (for budgets): litellm's model table."""
        return self._fallback.price_info(litellm_model)

    def prices_by_kind(self, litellm_model: str) -> dict[str, float] | None:
        return self._fallback.prices_by_kind(litellm_model)

    def count_tokens(
        self, litellm_model: str, messages: list[dict[str, Any]], text: str
    ) -> tuple[int, int] | None:
        return self._fallback.count_tokens(litellm_model, messages, text)

    # -- the choice --------------------------------------------------------------------------

    def attempt_for(self, call: ProviderCall, *, stream: bool) -> Attempt | None:
        """The lean attempt for ``call``, or None when it must go through litellm."""
        if not self._enabled or not self._prepare():
            return None
        litellm = self._fallback.litellm
        if litellm_globals_set(litellm):
            return None
        deployments = self._deployments
        assert deployments is not None and self._finish is not None
        assert self._dialects is not None
        if self._dialects.get(call.provider) is not None:
            prepared = self._dialects.prepare(call.provider, call, stream=stream)
            if prepared is None:
                return None
            return Attempt(litellm, call, prepared[0], prepared[1], self._finish)
        deployment = deployments.get(call.litellm_model, call.provider, call.credentials)
        if deployment is None:
            return None
        reason = unsupported_reason(
            call.provider, call.params, call.credentials, deployment.supported
        )
        if reason is not None:
            return None
        try:
            request = self._templates.request(
                deployment, call.messages, call.params, stream=stream
            )
        except LeanUnsupported:
            return None
        except Exception as exc:  # the config rejects something: litellm reports it its own way
            _log.warning(
                "lean request for %s not built (%s): sent through litellm",
                call.litellm_model,
                type(exc).__name__,
            )
            _log.debug("lean request not built", exc_info=True)
            return None
        return Attempt(litellm, call, deployment, request, self._finish)

    def _authorizer(self, call: ProviderCall) -> Any | None:
        """The dialect that needs a token first (Vertex AI), when the call is its to send."""
        if not self._enabled or not self._prepare():
            return None
        assert self._dialects is not None
        found = self._dialects.authorizer(call)
        if found is None or litellm_globals_set(self._fallback.litellm):
            return None
        return found

    # -- sync --------------------------------------------------------------------------------

    def complete(self, call: ProviderCall) -> ChatCompletion:
        authorizer = self._authorizer(call)
        if authorizer is not None:  # the token: cached, or loaded once for all callers
            call.dispatch_path = LEAN
            authorizer.authorize(call)
        attempt = self.attempt_for(call, stream=False)
        if attempt is None:
            call.dispatch_path = LITELLM
            return self._fallback.complete(call)
        call.dispatch_path = LEAN
        return _sync_calls.complete(attempt, self._sync.route(attempt.request.url))

    def stream(self, call: ProviderCall) -> Iterator[ChatCompletionChunk]:
        """Chunks of one streamed attempt; nothing is sent until the first ``next()``."""
        authorizer = self._authorizer(call)
        if authorizer is not None and not authorizer.ready(call):
            call.dispatch_path = LEAN
            return self._stream_authorized(authorizer, call)
        attempt = self.attempt_for(call, stream=True)
        if attempt is None:
            call.dispatch_path = LITELLM
            return self._fallback.stream(call)
        call.dispatch_path = LEAN
        route = self._sync.route(attempt.request.url)
        if self._wrapped(call.provider):
            return _wrapped_sync.stream(attempt, route)
        return _sync_calls.stream(attempt, route)

    def _stream_authorized(
        self, authorizer: Any, call: ProviderCall
    ) -> Iterator[ChatCompletionChunk]:
        """A stream whose token is had at the first ``next()``, then sent as any other."""
        authorizer.authorize(call)
        yield from self.stream(call)

    # -- async -------------------------------------------------------------------------------

    def acomplete(self, call: ProviderCall) -> Coroutine[Any, Any, ChatCompletion]:
        """The attempt, awaited by the caller (a coroutine of the path taken: no coroutine
        of its own stays alive around the request)."""
        authorizer = self._authorizer(call)
        if authorizer is not None:
            return self._acomplete_authorized(authorizer, call)
        return self._acomplete(call)

    async def _acomplete_authorized(self, authorizer: Any, call: ProviderCall) -> ChatCompletion:
        call.dispatch_path = LEAN
        await authorizer.aauthorize(call)  # the token: cached, or loaded off the loop
        return await self._acomplete(call)

    def _acomplete(self, call: ProviderCall) -> Coroutine[Any, Any, ChatCompletion]:
        attempt = self.attempt_for(call, stream=False)
        if attempt is None:
            call.dispatch_path = LITELLM
            return self._fallback.acomplete(call)
        call.dispatch_path = LEAN
        transport = self._async
        proxy = transport.proxy(attempt.request.url)
        return _async_calls.acomplete(attempt, transport.session(), proxy)

    def astream(self, call: ProviderCall) -> AsyncIterator[ChatCompletionChunk]:
        """Chunks of one streamed attempt; nothing is sent until the first ``anext()``.

        The choice (and litellm's import) happens here, before the first ``anext()``; a
        stream whose token must be loaded first (Vertex AI) has it at the first ``anext()``.
        """
        authorizer = self._authorizer(call)
        if authorizer is not None and not authorizer.ready(call):
            call.dispatch_path = LEAN
            return self._astream_authorized(authorizer, call)
        attempt = self.attempt_for(call, stream=True)
        if attempt is None:
            call.dispatch_path = LITELLM
            return self._fallback.astream(call)
        call.dispatch_path = LEAN
        return self._astream(attempt)

    async def _astream_authorized(
        self, authorizer: Any, call: ProviderCall
    ) -> AsyncIterator[ChatCompletionChunk]:
        await authorizer.aauthorize(call)
        chunks = self.astream(call)
        try:
            async for chunk in chunks:
                yield chunk
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]

    async def _astream(self, attempt: Attempt) -> AsyncIterator[ChatCompletionChunk]:
        transport = self._async
        proxy = transport.proxy(attempt.request.url)
        calls = _wrapped_async if self._wrapped(attempt.call.provider) else _async_calls
        chunks = calls.astream(attempt, transport.session(), proxy)
        try:
            async for chunk in chunks:
                yield chunk
        finally:  # closing this stream waits until the connection is released
            await chunks.aclose()

    def _wrapped(self, provider: str) -> bool:
        """Whether litellm's stream wrapper shapes this provider's chunks."""
        dialect = self._dialects.get(provider) if self._dialects is not None else None
        return bool(getattr(dialect, "wrapped_streams", False))

    # -- lifecycle ---------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the running loop's HTTP sessions (and those of closed loops), then every
        other pooled connection (the litellm fallback's too)."""
        await self._async.aclose()
        await self._fallback.aclose()
        self.close()

    def close(self) -> None:
        """Close every pooled connection (a session in use by a running loop is closed
        without awaiting: prefer :meth:`aclose` on that loop)."""
        self._async.close()
        self._sync.close()
        self._fallback.close()
