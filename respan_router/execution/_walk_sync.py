# Generated from _walk_async.py by scripts/unasync.py: edit that file, not this one.
"""The walk's I/O: send each try and wait between retries (tenacity), around :class:`Walk`.

Written once, async (``_walk_async``); the sync form (``_walk_sync``) is generated from it
by ``scripts/unasync.py``. Every decision is the walk's (``_walk``, no I/O).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TypeVar

from respan_router.errors import ProviderError
from respan_router.execution._walk import Candidate, Walk, on_wait
from respan_router.providers import ProviderCall
from respan_router.resilience import RetryBudget
from respan_router.routing import Attempt

__all__ = ["run_plan"]

T = TypeVar("T")


def run_plan(
    walk: Walk,
    attempts: Sequence[Attempt],
    send: Callable[[ProviderCall], T],
    sleep: Callable[[float], None] | None,
    budget: RetryBudget | None,
    clock: Callable[[], float],
) -> T:
    """Try each candidate (with its retries) until one succeeds; raise the walk's error."""
    health = walk.health
    for candidate in walk.candidates(attempts):
        if candidate.claim and health is not None and not health.claim(candidate.key):
            walk.claim_refused(candidate)
            continue
        try:
            # The first try, as _try makes it (written out here: one frame fewer).
            call, started = walk.begin(candidate)
            try:
                result = send(call)
            except BaseException as first:
                walk.end(candidate, call, first, started)
                if not isinstance(first, ProviderError) or walk.single_try(candidate):
                    raise
                # Only a failed first try enters tenacity, which decides from that
                # failure on exactly as if it had made the try itself.
                retrying = walk.policy.retrying(
                    sleep=sleep,
                    before_sleep=on_wait(candidate.record),
                    deadline=walk.deadline,
                    budget=budget,
                    clock=clock,
                )
                result = retrying(_after(first, partial(_try, walk, candidate, send)))
            else:
                walk.end(candidate, call, None, started)
        except ProviderError as exc:
            walk.failed(candidate, exc)
            continue
        candidate.record.finish()
        return result
    raise walk.give_up()


def _try(
    walk: Walk, candidate: Candidate, send: Callable[[ProviderCall], T]
) -> T:
    """One try of a candidate: counted, sent, and its outcome reported (a retry; the
    first try is written out in :func:`run_plan`)."""
    call, started = walk.begin(candidate)
    try:
        result = send(call)
    except BaseException as exc:
        walk.end(candidate, call, exc, started)
        raise
    walk.end(candidate, call, None, started)
    return result


def _after(
    first: ProviderError, once: Callable[[], T]
) -> Callable[[], T]:
    """tenacity's function: its first try is the failed try already made (raised again,
    nothing sent), the next ones are real."""
    pending = [first]

    def again() -> T:
        if pending:
            raise pending.pop()
        return once()

    return again
