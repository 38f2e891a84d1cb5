"""A call's deferred writes: scripts nobody waits for, sent in one pipeline at its end."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BATCH", "Batch", "Write", "failed", "no_script", "pipe"]


@dataclass(slots=True)
class Write:
    source: str
    keys: list[str]
    args: list[Any]
    on_fail: Callable[[], None] | None


@dataclass(slots=True)
class Batch:
    owner: object  # the SharedRedis whose writes these are (compared by identity)
    writes: list[Write] = field(default_factory=list)


# The writes a call defers to its end (one pipeline): per thread, per task.
BATCH: contextvars.ContextVar[Batch | None] = contextvars.ContextVar(
    "respan_router_redis_batch", default=None
)


def pipe(sha_of: Callable[[str], str], client: Any, writes: list[Write], *, by_sha: bool) -> Any:
    """A pipeline of ``writes``, by SHA or with each script whole."""
    pipe = client.pipeline(transaction=False)
    for w in writes:
        if by_sha:
            pipe.evalsha(sha_of(w.source), len(w.keys), *w.keys, *w.args)
        else:
            pipe.eval(w.source, len(w.keys), *w.keys, *w.args)
    return pipe


def no_script(result: Any) -> bool:
    from redis.exceptions import NoScriptError

    return isinstance(result, NoScriptError)


def failed(writes: list[Write]) -> None:
    for w in writes:
        if w.on_fail is not None:
            w.on_fail()
