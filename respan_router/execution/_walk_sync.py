# Generated from _walk_async.py by scripts/unasync.py: edit that file, not this one.
"""The walk's I/O: send each try and wait between retries (tenacity), around :class:`Walk`.

Written once, async (``_walk_async``); the sync form (``_walk_sync``) is generated from it
by ``scripts/unasync.py``. Every decision is the walk's (``_walk``, no I/O).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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

        def once(candidate: Candidate = candidate) -> T:
            call, started = walk.begin(candidate)
            try:
                result = send(call)
            except BaseException as exc:
                walk.end(candidate, call, exc, started)
                raise
            walk.end(candidate, call, None, started)
            return result

        try:
            if walk.single_try(candidate):
                result = once()
            else:
                retrying = walk.policy.retrying(
                    sleep=sleep,
                    before_sleep=on_wait(candidate.record),
                    deadline=walk.deadline,
                    budget=budget,
                    clock=clock,
                )
                result = retrying(once)
        except ProviderError as exc:
            walk.failed(candidate, exc)
            continue
        candidate.record.finish()
        return result
    raise walk.give_up()
