# Generated from _hooked_async.py by scripts/unasync.py: edit that file, not this one.
"""A try's ``send`` with the call's :class:`AttemptHooks` around it.

Written once, async (``_hooked_async``); the sync form (``_hooked_sync``) is generated
from it by ``scripts/unasync.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from respan_router.errors import RouterError
from respan_router.execution._hooks import AttemptHooks, pricing_model_of, refused
from respan_router.execution._record import CallRecord
from respan_router.providers import ProviderCall

__all__ = ["with_hooks"]

T = TypeVar("T")
H = TypeVar("H")


def with_hooks(
    hooks: AttemptHooks[H] | None,
    record: CallRecord,
    send: Callable[[ProviderCall], T],
) -> Callable[[ProviderCall], T]:
    """``send`` with ``hooks`` called around each try (``send`` itself without hooks)."""
    if hooks is None:
        return send
    stream = record.stream

    def hooked(call: ProviderCall) -> T:
        try:
            hold = hooks.before(call, pricing_model_of(record, call))
        except RouterError as exc:
            refused(record, exc)
            raise
        try:
            result = send(call)
        except BaseException:
            hooks.release(hold)
            raise
        if not stream:  # a stream opens to a tuple: its holds settle when it ends
            hooks.after(hold, getattr(result, "usage", None))
        return result

    return hooked
