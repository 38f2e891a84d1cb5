"""The scriptable fake provider (see the package docs)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from respan_router._secrets import redact
from respan_router.errors import (
    ProviderConnectionError,
    ProviderTimeoutError,
    RouterError,
    StreamInterruptedError,
    error_for_status,
)
from respan_router.providers import ProviderCall
from respan_router.testing._script import (
    Failure,
    Reply,
    chunks_of,
    completion_of,
    partial_chunks,
)

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletion, ChatCompletionChunk

__all__ = ["FakeProvider", "RecordedCall"]


Outcome = Reply | Failure | BaseException


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """One call the fake received. ``credential_source`` names where credentials came from."""

    model: str
    litellm_model: str
    provider: str
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    credential_source: str
    credential_keys: tuple[str, ...]
    timeout: float | None
    stream: bool
    at: float = field(default_factory=time.monotonic)
    first_chunk_timeout: float | None = None  # a sync stream's first_token_timeout


class FakeProvider:
    """A scriptable, recording provider. Thread- and task-safe."""

    def __init__(
        self,
        default: Outcome | str = "ok",
        *,
        provider_name: str = "fake",
        prices: dict[str, tuple[float, float]] | None = None,
        kind_prices: dict[str, dict[str, float]] | None = None,
    ) -> None:
        """Args:
        default: the outcome of any call nothing else was scripted for.
        provider_name: the provider of model strings without a ``provider/`` prefix.
        prices: USD per (input, output) token, by model string, for cost and the
            ``cheapest`` routing strategy.
        kind_prices: USD per token by litellm's price names (``input_cost_per_token``,
            ``cache_read_input_token_cost``, ...), by model string, for the token
            breakdown's cost by kind.
        """
        self._default: Outcome = Reply(default) if isinstance(default, str) else default
        self._provider_name = provider_name
        self._prices = dict(prices or {})
        self._kind_prices = dict(kind_prices or {})
        self._queues: dict[str, deque[Outcome]] = {}
        self._defaults: dict[str, Outcome] = {}
        self._lock = threading.Lock()
        self.calls: list[RecordedCall] = []
        self.open_streams = 0  # streams started and not yet finished or closed
        self.closes = 0  # close() / aclose() calls (a Router closes the provider it owns)

    # -- scripting -------------------------------------------------------------------
    def script(self, model: str, *outcomes: Outcome | str) -> FakeProvider:
        """Queue outcomes for ``model``, consumed one per call in order."""
        with self._lock:
            queue = self._queues.setdefault(model, deque())
            queue.extend(Reply(o) if isinstance(o, str) else o for o in outcomes)
        return self

    def set_default(self, model: str, outcome: Outcome | str) -> FakeProvider:
        """The outcome for ``model`` once its queue is empty."""
        with self._lock:
            self._defaults[model] = Reply(outcome) if isinstance(outcome, str) else outcome
        return self

    def reset(self) -> None:
        with self._lock:
            self._queues.clear()
            self._defaults.clear()
            self.calls.clear()

    def calls_for(self, model: str) -> list[RecordedCall]:
        return [c for c in self.calls if model in (c.model, c.litellm_model)]

    # -- the Provider protocol -------------------------------------------------------
    def provider_of(self, litellm_model: str) -> str:
        prefix, sep, _ = litellm_model.partition("/")
        return prefix if sep else self._provider_name

    def price_per_token(self, litellm_model: str) -> tuple[float, float] | None:
        return self._prices.get(litellm_model)

    def prices_by_kind(self, litellm_model: str) -> dict[str, float] | None:
        """USD per token by litellm's price names, as scripted (``kind_prices``)."""
        return self._kind_prices.get(litellm_model)

    def count_tokens(
        self, litellm_model: str, messages: list[dict[str, Any]], text: str
    ) -> tuple[int, int] | None:
        """Words stand in for tokens."""
        prompt = sum(
            len(m["content"].split()) for m in messages if isinstance(m.get("content"), str)
        )
        return prompt, len(text.split())

    def complete(self, call: ProviderCall) -> ChatCompletion:
        outcome = self._next(call, stream=False)
        delay = outcome.latency if isinstance(outcome, Reply | Failure) else 0.0
        if delay:
            time.sleep(self._bounded(delay, call))
        return self._finish(outcome, call)

    async def acomplete(self, call: ProviderCall) -> ChatCompletion:
        outcome = self._next(call, stream=False)
        delay = outcome.latency if isinstance(outcome, Reply | Failure) else 0.0
        if delay:
            await _asleep(self._bounded(delay, call))
        return self._finish(outcome, call)

    def stream(self, call: ProviderCall) -> Iterator[ChatCompletionChunk]:
        outcome = self._next(call, stream=True)
        delay = outcome.latency if isinstance(outcome, Reply | Failure) else 0.0
        if delay:
            time.sleep(self._bounded(delay, _first(call)))
        self._stream_opened()
        try:
            for step in self._chunk_plan(outcome, call):
                if isinstance(step, float):
                    time.sleep(step)
                else:
                    yield step
        finally:
            self._stream_closed()

    async def astream(self, call: ProviderCall) -> AsyncIterator[ChatCompletionChunk]:
        outcome = self._next(call, stream=True)
        delay = outcome.latency if isinstance(outcome, Reply | Failure) else 0.0
        if delay:
            await _asleep(self._bounded(delay, call))
        self._stream_opened()
        try:
            for step in self._chunk_plan(outcome, call):
                if isinstance(step, float):
                    await _asleep(step)
                else:
                    yield step
        finally:
            self._stream_closed()

    # -- lifecycle --------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """Whether :meth:`close` or :meth:`aclose` was called (it holds nothing to free)."""
        return self.closes > 0

    def close(self) -> None:
        with self._lock:
            self.closes += 1

    async def aclose(self) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------
    def _stream_opened(self) -> None:
        with self._lock:
            self.open_streams += 1

    def _stream_closed(self) -> None:
        with self._lock:
            self.open_streams -= 1

    def _next(self, call: ProviderCall, *, stream: bool) -> Outcome:
        with self._lock:
            self.calls.append(
                RecordedCall(
                    model=call.model,
                    litellm_model=call.litellm_model,
                    provider=call.provider,
                    messages=call.messages,
                    params=dict(call.params),
                    credential_source=call.credential_source,
                    credential_keys=tuple(sorted(call.credentials)),
                    timeout=call.timeout,
                    stream=stream,
                    first_chunk_timeout=call.first_chunk_timeout,
                )
            )
            for name in (call.model, call.litellm_model):
                queue = self._queues.get(name)
                if queue:
                    return queue.popleft()
            for name in (call.model, call.litellm_model):
                if name in self._defaults:
                    return self._defaults[name]
            return self._default

    @staticmethod
    def _bounded(delay: float, call: ProviderCall) -> float:
        if call.timeout is not None and delay > call.timeout:
            return call.timeout
        return delay

    def _error(self, outcome: Failure | BaseException, call: ProviderCall) -> BaseException:
        if isinstance(outcome, BaseException):
            return outcome
        model, provider = call.model, call.provider
        # Like a real adapter, never echo the call's secrets in an error message.
        message = redact(outcome.message, call.secret_values())
        if outcome.timeout:
            return ProviderTimeoutError("fake provider timed out", model=model, provider=provider)
        if outcome.dropped:
            return ProviderConnectionError(
                "fake provider dropped the connection", model=model, provider=provider
            )
        return error_for_status(
            outcome.status, message, retry_after=outcome.retry_after, model=model, provider=provider
        )

    def _finish(self, outcome: Outcome, call: ProviderCall) -> ChatCompletion:
        if not isinstance(outcome, Reply):
            raise self._error(outcome, call)
        if call.timeout is not None and outcome.latency > call.timeout:
            raise ProviderTimeoutError(
                "fake provider timed out", model=call.model, provider=call.provider
            )
        return completion_of(outcome, call)

    def _chunk_plan(
        self, outcome: Outcome, call: ProviderCall
    ) -> Iterator[ChatCompletionChunk | float]:
        """The chunks of a stream, with float entries meaning 'wait this long'."""
        if not isinstance(outcome, Reply):
            after = outcome.after_chunks if isinstance(outcome, Failure) else 0
            yield from partial_chunks(call, after)
            error = self._error(outcome, call)
            if after and isinstance(error, RouterError):
                raise StreamInterruptedError(
                    f"stream interrupted after {after} chunks: {error.message}",
                    model=call.model,
                    provider=call.provider,
                ) from error
            raise error
        first = _first(call).timeout
        if first is not None and outcome.latency > first:
            raise ProviderTimeoutError(
                "fake provider timed out", model=call.model, provider=call.provider
            )
        yield from chunks_of(outcome, call)


def _first(call: ProviderCall) -> ProviderCall:
    """The call as its first chunk's wait sees it (bounded by ``first_chunk_timeout``)."""
    first = call.first_chunk_timeout
    if first is None or (call.timeout is not None and call.timeout <= first):
        return call
    return replace(call, timeout=first)


async def _asleep(seconds: float) -> None:
    import asyncio  # on first use: a sync-only test never loads asyncio

    await asyncio.sleep(seconds)
