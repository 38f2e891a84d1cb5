"""Stage 6: the fallback loop and streams; owns every per-try bookkeeping.

The :class:`Executor` walks a plan's attempts with retries (tenacity), breakers, the
retry budget and a deadline; one try is a ``send(call)`` supplied by the caller. The
:class:`StreamStage` opens streams through it up to their first chunk. :class:`CallEnd`
ends each call on the main path (``request_breakdown``) before telemetry records it.
:class:`Fetch` plans and runs a non-streamed call.
"""

from respan_router.execution._chat_stream import AsyncChatStream, ChatStream, StreamState
from respan_router.execution._executor import AsyncSend, Executor, Send
from respan_router.execution._fetch import Fetch
from respan_router.execution._hooks import AttemptHooks
from respan_router.execution._outcome import (
    TOKEN_BREAKDOWN,
    CallEnd,
    CallRecorder,
    build_breakdown,
    call_cost,
    token_breakdown,
    wants_token_breakdown,
)
from respan_router.execution._record import AttemptRecord, CallRecord, RetryWait
from respan_router.execution._streams import StreamStage

__all__ = [
    "TOKEN_BREAKDOWN",
    "AsyncChatStream",
    "AsyncSend",
    "AttemptHooks",
    "AttemptRecord",
    "CallEnd",
    "CallRecord",
    "CallRecorder",
    "ChatStream",
    "Executor",
    "Fetch",
    "RetryWait",
    "Send",
    "StreamStage",
    "StreamState",
    "build_breakdown",
    "call_cost",
    "token_breakdown",
    "wants_token_breakdown",
]
