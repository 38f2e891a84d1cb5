"""The walk's I/O: send each try and wait between retries (tenacity), around :class:`Walk`.

Written once, async (``_walk_async``); the sync form (``_walk_sync``) is generated from it
by ``scripts/unasync.py``. Every decision is the walk's (``_walk``, no I/O).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import TypeVar

from respan_router.errors import ProviderError
from respan_router.execution._walk import Candidate, Walk, on_wait
from respan_router.providers import ProviderCall
from respan_router.resilience import RetryBudget
from respan_router.routing import Attempt

__all__ = ["arun_plan"]

T = TypeVar("T")


async def arun_plan(
    walk: Walk,
    attempts: Sequence[Attempt],
    send: Callable[[ProviderCall], Awaitable[T]],
    async_sleep: Callable[[float], Awaitable[None]] | None,
    budget: RetryBudget | None,
    clock: Callable[[], float],
) -> T:
    """Try each candidate (with its retries) until one succeeds; raise the walk's error."""
    health = walk.health
    for candidate in walk.candidates(attempts):
        if candidate.claim and health is not None and not await health.aclaim(candidate.key):
            walk.claim_refused(candidate)
            continue
        try:
            # The first try, as _atry makes it (written out here: one frame fewer).
            call, started = walk.begin(candidate)
            try:
                result = await send(call)
            except BaseException as first:
                walk.end(candidate, call, first, started)
                if not isinstance(first, ProviderError) or walk.single_try(candidate):
                    raise
                # Only a failed first try enters tenacity, which decides from that
                # failure on exactly as if it had made the try itself.
                retrying = walk.policy.async_retrying(
                    sleep=async_sleep,
                    before_sleep=on_wait(candidate.record),
                    deadline=walk.deadline,
                    budget=budget,
                    clock=clock,
                )
                result = await retrying(_after(first, partial(_atry, walk, candidate, send)))
            else:
                walk.end(candidate, call, None, started)
        except ProviderError as exc:
            walk.failed(candidate, exc)
            continue
        candidate.record.finish()
        return result
    raise walk.give_up()


async def _atry(
    walk: Walk, candidate: Candidate, send: Callable[[ProviderCall], Awaitable[T]]
) -> T:
    """One try of a candidate: counted, sent, and its outcome reported (a retry; the
    first try is written out in :func:`arun_plan`)."""
    call, started = walk.begin(candidate)
    try:
        result = await send(call)
    except BaseException as exc:
        walk.end(candidate, call, exc, started)
        raise
    walk.end(candidate, call, None, started)
    return result


def _after(
    first: ProviderError, once: Callable[[], Awaitable[T]]
) -> Callable[[], Awaitable[T]]:
    """tenacity's function: its first try is the failed try already made (raised again,
    nothing sent), the next ones are real."""
    pending = [first]

    async def again() -> T:
        if pending:
            raise pending.pop()
        return await once()

    return again
