"""A provider's stream read by litellm's own stream iterator and wrapper, on the lean transports.

For providers whose streamed chunks litellm's stream wrapper shapes (Anthropic: which
events become chunks, where the role and the finish reason go, the usage chunk), the chunks
are litellm's own: the provider's stream iterator (``ModelResponseIterator``) parses the
server-sent-event lines and litellm's ``CustomStreamWrapper`` turns them into chunks, as on
the litellm path, then :func:`chunk_of` as there. What differs is below them: the lines come
from the router's pooled connection (released to the pool once the body is read to its
end), and the wrapper logs nothing (no logging callbacks run, the end-of-stream response is
rebuilt only when the caller asked for the usage chunk).

A read that fails reaches the wrapper as the httpx error litellm's own transport raises
(a cut body, a read timeout), so the wrapper maps it as it maps litellm's.
"""

from __future__ import annotations

import codecs
import functools
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from respan_router.providers._lean._state import Attempt
from respan_router.providers._litellm_response import RawEvents

__all__ = ["WrapperLogging", "atext_of", "cut_error", "new_wrapper", "text_of"]


class WrapperLogging:
    """The logging object litellm's stream wrapper is given: it records nothing.

    The wrapper reads the call's stream options and messages from it and hands it chunks
    to log; the router has its own telemetry. The one figure it asks for that reaches a
    chunk is the cost litellm writes into the usage chunk's ``usage.cost`` (only when the
    caller asked for that chunk): litellm's own price calculation, as its logging object
    runs it, for the model and provider.
    """

    def __init__(
        self,
        stream_options: Any,
        messages: list[dict[str, Any]],
        model: str = "",
        provider: str | None = None,
    ) -> None:
        self.model = model
        self.model_call_details: dict[str, Any] = {
            "litellm_params": {},
            "custom_llm_provider": provider,
        }
        self.completion_start_time: Any = None
        self.llm_caching_handler: Any = None
        self.stream_options = stream_options
        self.messages = messages
        self.optional_params: dict[str, Any] = {}
        self.stream_usage_injected = False

    def update_completion_start_time(self, completion_start_time: Any) -> None:
        self.completion_start_time = completion_start_time

    def _nothing(self, *args: Any, **kwargs: Any) -> None:
        return None

    success_handler = failure_handler = post_call = _nothing
    record_native_bedrock_guardrail = _nothing
    record_failure_after_earlier_rounds = _nothing

    async def async_success_handler(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def dispatch_success_handlers(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def dispatch_attempt_failure_handlers(self, *args: Any, **kwargs: Any) -> None:
        return None

    def response_cost_calculator(self, result: Any = None, **kwargs: Any) -> float | None:
        """litellm's price of the assembled response (None when it has none)."""
        import litellm

        try:
            cost = litellm.response_cost_calculator(
                response_object=result,
                model=self.model,
                custom_llm_provider=self.model_call_details["custom_llm_provider"],
                call_type="completion",
                optional_params=self.optional_params,
            )
        except Exception:  # litellm's logging object gives up the same way: no cost
            return None
        return float(cost) if isinstance(cost, int | float) else None

    @staticmethod
    def is_sync_litellm_request(litellm_params: Any) -> bool:
        return False


@functools.cache
def _quiet_wrapper_class() -> type:
    from litellm.litellm_core_utils.streaming_handler import CustomStreamWrapper

    class QuietStreamWrapper(CustomStreamWrapper):
        """litellm's wrapper without its logging and cache work (none of it reaches a chunk)."""

        def run_success_logging_and_cache_storage(
            self, processed_chunk: Any, cache_hit: bool
        ) -> None:
            return None

        def cache_streaming_response(self, processed_chunk: Any, cache_hit: bool) -> None:
            return None

        async def async_cache_streaming_response(
            self, processed_chunk: Any, cache_hit: bool
        ) -> None:
            return None

        def _build_complete_streaming_response(self) -> Any:
            if not self.send_stream_usage:
                return None  # only the usage chunk reads it
            return super()._build_complete_streaming_response()

        async def _async_build_complete_streaming_response(self) -> Any:
            if not self.send_stream_usage:
                return None
            return await super()._async_build_complete_streaming_response()  # in a thread

    return QuietStreamWrapper


def new_wrapper(attempt: Attempt, iterator: Any) -> tuple[Any, RawEvents]:
    """litellm's stream wrapper over ``iterator`` (the provider's stream iterator), and the
    raw events its parser reads (for :func:`chunk_of`)."""
    call = attempt.call
    deployment = attempt.deployment
    logging = WrapperLogging(
        call.params.get("stream_options"), call.messages, deployment.model, deployment.provider
    )
    wrapper = _quiet_wrapper_class()(
        completion_stream=iterator,
        model=attempt.deployment.model,
        # the provider litellm's handler gives its wrapper (Gemini's: ``vertex_ai_beta``)
        custom_llm_provider=getattr(
            attempt.deployment.config, "stream_provider", attempt.deployment.provider
        ),
        logging_obj=logging,
    )
    # The router's litellm path keeps the raw events' unknown fields only where litellm's
    # wrapper holds the provider's iterator from the start (not Gemini's: it opens lazily).
    keeps = getattr(attempt.deployment.config, "keeps_raw_fields", True)
    return wrapper, RawEvents(wrapper if keeps else None)


def text_of(pieces: Iterable[bytes]) -> Iterator[str]:
    """The body's bytes as text, decoded across piece boundaries (as httpx's ``iter_text``)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for piece in pieces:
        text = decoder.decode(piece)
        if text:
            yield text
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail


async def atext_of(pieces: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """:func:`text_of` for pieces read asynchronously."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    async for piece in pieces:
        text = decoder.decode(piece)
        if text:
            yield text
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail


def cut_error(exc: BaseException, *, timeout: bool) -> BaseException:
    """The httpx error litellm's transport raises where this read failed with ``exc``."""
    import httpx

    error: BaseException
    if timeout:
        error = httpx.ReadTimeout(str(exc) or "read timed out")
    else:
        error = httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body"
        )
    error.__cause__ = exc
    return error
