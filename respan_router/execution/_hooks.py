"""The per-attempt hooks: what execution calls around each try of a call.

A stage that must act around every try implements :class:`AttemptHooks` (a customer's
budget: hold the try's worst case before it is sent, settle it after, release it when the
try fails); the Router hands the call's hooks to the executor, which calls them around
each ``send``. No stage wraps another's ``send`` or reads another's record.

``before`` may refuse the try by raising a :class:`~respan_router.errors.RouterError`:
the try never reaches the provider and its attempt record says why. A stream's try
returns at its first chunk: ``after`` is not called for it (its hold stays open and is
settled when the stream ends). The async twins return what the caller awaits: a
coroutine function, or a plain method handing on another's coroutine.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Protocol, TypeVar

from respan_router.errors import RouterError
from respan_router.execution._record import CallRecord
from respan_router.providers import ProviderCall

if TYPE_CHECKING:
    from respan_router.responses import CompletionUsage

__all__ = ["AttemptHooks", "pricing_model_of", "refused"]

H = TypeVar("H")


class AttemptHooks(Protocol[H]):
    """Called around each try of one call; ``H`` is what ``before`` holds for the try."""

    def before(self, call: ProviderCall, pricing_model: str) -> H:
        """Before the try is sent (``pricing_model``: the model string it is priced as)."""
        ...

    def abefore(self, call: ProviderCall, pricing_model: str) -> Awaitable[H]: ...

    def after(self, hold: H, usage: CompletionUsage | None) -> None:
        """After a whole completion returned, with its reported usage."""
        ...

    def aafter(self, hold: H, usage: CompletionUsage | None) -> Awaitable[object]: ...

    def release(self, hold: H) -> None:
        """After the try failed (or was cancelled): nothing was delivered."""
        ...

    def arelease(self, hold: H) -> Awaitable[object]: ...


def pricing_model_of(record: CallRecord, call: ProviderCall) -> str:
    """The standard model string of the try in progress (what prices are looked up by)."""
    if record.attempts:
        current = record.attempts[-1]
        if current.model == call.model and current.pricing_model:
            return current.pricing_model
    return call.litellm_model


def refused(record: CallRecord, error: RouterError) -> None:
    """The try in progress never reached the provider: its record says why."""
    if record.attempts:
        record.attempts[-1].finish(error)
