"""A try's ``send`` with the call's :class:`AttemptHooks` around it.

Written once, async (``_hooked_async``); the sync form (``_hooked_sync``) is generated
from it by ``scripts/unasync.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from respan_router.errors import RouterError
from respan_router.execution._hooks import AttemptHooks, pricing_model_of, refused
from respan_router.execution._record import CallRecord
from respan_router.providers import ProviderCall

__all__ = ["awith_hooks"]

T = TypeVar("T")
H = TypeVar("H")


def awith_hooks(
    hooks: AttemptHooks[H] | None,
    record: CallRecord,
    send: Callable[[ProviderCall], Awaitable[T]],
) -> Callable[[ProviderCall], Awaitable[T]]:
    """``send`` with ``hooks`` called around each try (``send`` itself without hooks)."""
    if hooks is None:
        return send
    stream = record.stream

    async def hooked(call: ProviderCall) -> T:
        try:
            hold = await hooks.abefore(call, pricing_model_of(record, call))
        except RouterError as exc:
            refused(record, exc)
            raise
        try:
            result = await send(call)
        except BaseException:
            await hooks.arelease(hold)
            raise
        if not stream:  # a stream opens to a tuple: its holds settle when it ends
            await hooks.aafter(hold, getattr(result, "usage", None))
        return result

    return hooked
