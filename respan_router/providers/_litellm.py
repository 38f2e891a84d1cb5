"""The default provider: one attempt through ``litellm.completion`` / ``acompletion``.

litellm is imported on first use, not when this module is imported (it takes seconds and
loads thousands of modules). Everything a call needs is passed as arguments, with one
exception: litellm prints a "Give Feedback / Get Help" banner to stdout on every error
(and a provider list when it cannot place a model) unless ``litellm.suppress_debug_info``
is true, and it offers no per-call switch (litellm 1.110: the flag is read as a module
global in ``exception_type`` and ``get_llm_provider``). So the import here sets that one
flag, once; it only silences those prints. No other ``litellm.*`` global is assigned.
Retries are the router's job, so litellm's are disabled (``num_retries=0,
max_retries=0`` gives exactly one upstream request).
"""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

from respan_router.errors import RouterError, StreamInterruptedError
from respan_router.providers._base import ProviderCall
from respan_router.providers._litellm_errors import map_litellm_error
from respan_router.providers._litellm_response import (
    RawEvents,
    aclose_stream,
    chunk_of,
    close_stream,
    completion_of,
    sdk_stream_of,
)
from respan_router.providers._sessions import litellm_sessions

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletion, ChatCompletionChunk

__all__ = ["LiteLLMProvider"]

_UNKNOWN_PROVIDER = "unknown"
_PROVIDER_MEMO_LIMIT = 4096
_PRICE_KEYS = (
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "max_output_tokens",
)


class LiteLLMProvider:
    """Calls models through litellm; implements :class:`~respan_router.providers._base.Provider`.

    Every litellm exception is mapped onto :mod:`respan_router.errors` (messages redacted
    of the call's secrets) and raised ``from`` the original. A stream that fails after
    its first chunk raises :class:`~respan_router.errors.StreamInterruptedError`.
    """

    def __init__(self) -> None:
        self._module: ModuleType | None = None
        self._import_lock = threading.Lock()
        self._providers: dict[str, str] = {}
        self._prices: dict[str, tuple[float, float] | None] = {}
        self._info: dict[str, dict[str, Any] | None] = {}
        self._kind_prices: dict[str, dict[str, float] | None] = {}
        self._sessions = litellm_sessions(lambda: self.litellm)  # per loop, closed with it

    # -- no I/O ------------------------------------------------------------------------------

    @property
    def litellm(self) -> ModuleType:
        """The litellm module, imported on first access."""
        if self._module is None:
            with self._import_lock:
                if self._module is None:
                    # Use the price table shipped with litellm instead of fetching it.
                    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
                    import litellm

                    # The only switch for litellm's error banner on stdout (see above).
                    litellm.suppress_debug_info = True
                    self._module = litellm
        return self._module

    def provider_of(self, litellm_model: str) -> str:
        """The provider of a model string: its prefix, else litellm's inference.

        ``"openai/gpt-4o"`` -> ``"openai"``; ``"gpt-4o"`` -> ``"openai"``; a name litellm
        cannot place -> ``"unknown"``. Memoised.
        """
        provider = self._providers.get(litellm_model)
        if provider is not None:
            return provider
        prefix, slash, _ = litellm_model.partition("/")
        if slash and prefix:
            provider = prefix
        else:
            try:
                provider = self.litellm.get_llm_provider(litellm_model)[1] or _UNKNOWN_PROVIDER
            except Exception:
                provider = _UNKNOWN_PROVIDER
        if len(self._providers) < _PROVIDER_MEMO_LIMIT:
            self._providers[litellm_model] = provider
        return provider

    def price_per_token(self, litellm_model: str) -> tuple[float, float] | None:
        """USD per (input, output) token from litellm's local price table; None if unknown."""
        if litellm_model in self._prices:
            return self._prices[litellm_model]
        try:
            cost_in, cost_out = self.litellm.cost_per_token(
                model=litellm_model, prompt_tokens=1_000_000, completion_tokens=1_000_000
            )
            price: tuple[float, float] | None = (cost_in / 1e6, cost_out / 1e6)
        except Exception:
            price = None
        if len(self._prices) < _PROVIDER_MEMO_LIMIT:
            self._prices[litellm_model] = price
        return price

    def price_info(self, litellm_model: str) -> dict[str, Any] | None:
        """Per-kind prices and the output cap from litellm's model table, or None.

        Keys: ``input_cost_per_token``, ``output_cost_per_token``,
        ``cache_read_input_token_cost`` and ``max_output_tokens`` (each may be None).
        """
        if litellm_model in self._info:
            return self._info[litellm_model]
        info: dict[str, Any] | None
        try:
            raw = self.litellm.get_model_info(litellm_model)
            info = {key: raw.get(key) for key in _PRICE_KEYS}
        except Exception:
            info = None
        if len(self._info) < _PROVIDER_MEMO_LIMIT:
            self._info[litellm_model] = info
        return info

    def prices_by_kind(self, litellm_model: str) -> dict[str, float] | None:
        """USD per token by kind from litellm's model info: ``input_cost_per_token``,
        ``cache_read_input_token_cost``, ``cache_creation_input_token_cost``,
        ``output_cost_per_reasoning_token``, audio prices...; None if unknown."""
        if litellm_model in self._kind_prices:
            return self._kind_prices[litellm_model]
        try:
            info = self.litellm.get_model_info(litellm_model)
            table: dict[str, float] | None = {
                k: float(v)
                for k, v in info.items()
                if (k.endswith("_cost") or "_cost_per_" in k)
                and isinstance(v, int | float)
                and not k.endswith(("_priority", "_batches", "_flex"))
            }
        except Exception:
            table = None
        if len(self._kind_prices) < _PROVIDER_MEMO_LIMIT:
            self._kind_prices[litellm_model] = table
        return table

    def count_tokens(
        self, litellm_model: str, messages: list[dict[str, Any]], text: str
    ) -> tuple[int, int] | None:
        """(prompt, completion) tokens by litellm's tokenizer for the model."""
        try:
            counter = self.litellm.token_counter
            return counter(model=litellm_model, messages=messages), counter(
                model=litellm_model, text=text
            )
        except Exception:
            return None

    # -- sync --------------------------------------------------------------------------------

    def complete(self, call: ProviderCall) -> ChatCompletion:
        litellm = self.litellm
        try:
            response = litellm.completion(**_request_kwargs(call))
        except Exception as exc:
            raise _mapped(exc, call) from exc
        return completion_of(response)

    def stream(self, call: ProviderCall) -> Iterator[ChatCompletionChunk]:
        """Chunks of one streamed attempt; nothing is sent until the first ``next()``.

        Closing the generator closes litellm's stream and its HTTP response.
        """
        litellm = self.litellm
        try:
            raw = litellm.completion(**_request_kwargs(call, stream=True))
        except Exception as exc:
            raise _mapped(exc, call) from exc
        sdk = sdk_stream_of(raw)
        chunks = iter(raw if sdk is None else sdk)
        events = RawEvents(raw) if sdk is None else None
        delivered = 0
        try:
            while True:
                try:
                    chunk = next(chunks)
                except StopIteration:
                    return
                except Exception as exc:
                    raise _mapped(exc, call, delivered=delivered) from exc
                yield chunk_of(chunk, events.take() if events is not None else None)
                delivered += 1
        finally:
            if sdk is not None:
                close_stream(sdk)
            close_stream(raw)

    # -- async -------------------------------------------------------------------------------

    async def acomplete(self, call: ProviderCall) -> ChatCompletion:
        litellm = self.litellm
        try:
            response = await litellm.acompletion(**_request_kwargs(call, self._sessions.get()))
        except Exception as exc:
            raise _mapped(exc, call) from exc
        return completion_of(response)

    def astream(self, call: ProviderCall) -> AsyncIterator[ChatCompletionChunk]:
        """Chunks of one streamed attempt; nothing is sent until the first ``anext()``.

        ``aclose()`` closes litellm's stream and its HTTP response. litellm is imported
        here, before the first ``anext()``: a first-token timeout must not count it.
        """
        return self._astream(self.litellm, call)

    async def _astream(
        self, litellm: ModuleType, call: ProviderCall
    ) -> AsyncIterator[ChatCompletionChunk]:
        try:
            session = self._sessions.get()
            raw = await litellm.acompletion(**_request_kwargs(call, session, stream=True))
        except Exception as exc:
            raise _mapped(exc, call) from exc
        sdk = sdk_stream_of(raw)
        chunks = (raw if sdk is None else sdk).__aiter__()
        events = RawEvents(raw) if sdk is None else None
        delivered = 0
        try:
            while True:
                try:
                    chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    return
                except Exception as exc:
                    raise _mapped(exc, call, delivered=delivered) from exc
                yield chunk_of(chunk, events.take() if events is not None else None)
                delivered += 1
        finally:
            if sdk is not None:
                await sdk.close()  # the SDK's AsyncStream closes with an async close()
            await aclose_stream(raw)

    async def aclose(self) -> None:  # this loop's HTTP session; those of closed loops
        await self._sessions.aclose()

    def close(self) -> None:  # every HTTP session, now, without awaiting
        self._sessions.close()


def _request_kwargs(
    call: ProviderCall, session: Any = None, *, stream: bool = False
) -> dict[str, Any]:
    """litellm's arguments for one attempt (``session``: the async calls' aiohttp session).
    Later keys win: credentials over params, then the call's own model, messages, stream
    flag, timeout and disabled retries over both."""
    return {
        **({} if session is None else {"shared_session": session}),
        **call.params,
        **call.credentials.as_kwargs(),
        "model": call.litellm_model,
        "messages": call.messages,
        "stream": stream,
        # litellm takes one read timeout: a stream's first-chunk bound, if smaller, too
        "timeout": min(filter(None, (call.timeout, call.first_chunk_timeout)), default=None),
        "num_retries": 0,
        "max_retries": 0,
    }


def _mapped(exc: Exception, call: ProviderCall, *, delivered: int = 0) -> RouterError:
    """The router error for ``exc``; a stream that already delivered chunks is interrupted."""
    error = map_litellm_error(
        exc,
        model=call.model,
        provider=call.provider,
        secrets=call.secret_values(),
    )
    if delivered and not isinstance(error, StreamInterruptedError):
        error = StreamInterruptedError(
            f"stream interrupted after {delivered} chunk(s): {error.message}",
            model=call.model,
            provider=call.provider,
        )
    return error
