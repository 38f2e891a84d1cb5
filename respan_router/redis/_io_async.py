"""A shared Redis connection's I/O: guarded commands, scripts by SHA, a call's batch.

Written once, async (``_io_async``, the running event loop's client); the sync form
(``_io_sync``, the sync client) is generated from it by ``scripts/unasync.py``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from respan_router.redis._batch import BATCH, Write, failed, no_script, pipe
from respan_router.redis._clients import is_cluster
from respan_router.redis._connection import Connection
from respan_router.redis._outage import is_redis_error, is_rejection

__all__ = ["AsyncIO"]

T = TypeVar("T")


class AsyncIO(Connection):
    """The commands of one client kind: each guarded by the outage policy."""

    async def aeval(self, client: Any, source: str, keys: list[str], args: list[Any]) -> Any:
        """Run a script by SHA (one round trip); loads it once if the server lacks it."""
        from redis.exceptions import NoScriptError

        sha = self.script_sha(source)
        try:
            return await client.evalsha(sha, len(keys), *keys, *args)
        except NoScriptError:
            return await client.eval(source, len(keys), *keys, *args)

    @contextlib.asynccontextmanager
    async def abatch(self) -> AsyncIterator[None]:
        """Defer the writes of the block to its end: one round trip for all of them.

        Inside an open batch of the same connection it joins that one."""
        opened = self._open_batch()
        if opened is None:
            yield
            return
        batch, token = opened
        try:
            yield
        finally:
            BATCH.reset(token)
            if batch.writes:  # sent whole even when the call is cancelled meanwhile
                await self.shielded(self._aflush(batch.writes))

    async def _aflush(self, writes: list[Write]) -> None:
        async def send(client: Any) -> bool:
            if is_cluster(client):  # redis-py runs no scripts in a Cluster pipeline
                for w in writes:
                    await self.aeval(client, w.source, w.keys, w.args)
                return True
            results = await pipe(self.script_sha, client, writes, by_sha=True).execute(
                raise_on_error=False
            )
            missing = [w for w, r in zip(writes, results, strict=True) if no_script(r)]
            if missing:  # the server lost its scripts (a restart): send them whole once
                await pipe(self.script_sha, client, missing, by_sha=False).execute()
            return True

        if not await self.arun(send, False):
            failed(writes)

    async def arun(self, op: Callable[[Any], Awaitable[T]], default: T, rejected: Any = None) -> T:
        """``op(client)``, or ``default`` when Redis is down or fails (counted);
        ``rejected`` (if given) when Redis answered with an error of the command itself."""
        outage = self.outage
        if not outage.usable():
            return default
        try:
            result = await op(self.aclient())  # unasync: result = op(self.client)
        except Exception as exc:
            if not is_redis_error(exc):
                raise
            if is_rejection(exc):  # Redis is up: no outage, and no point sending it again
                outage.rejected(exc)
                return default if rejected is None else rejected
            outage.failed(exc)
            return default
        outage.succeeded()
        return result
