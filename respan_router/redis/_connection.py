"""A shared Redis connection's state, with no I/O: the clients (one sync, one asyncio
client per event loop, made on first use), the key layout (Cluster hash tags), the
scripts' SHAs, the outage detector and the current call's batch of deferred writes. See
``_shared`` for the whole; its commands are ``_io_async`` / ``_io_sync``.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from respan_router._loops import PerLoop, after_fork, shielded
from respan_router.redis._batch import BATCH, Batch, Write
from respan_router.redis._clients import is_async_client, make_client
from respan_router.redis._outage import DEFAULT_RETRY_INTERVAL, Outage

__all__ = ["DEFAULT_PREFIX", "DEFAULT_TIMEOUT", "Connection", "hash_tag"]

T = TypeVar("T")

DEFAULT_PREFIX = "respan:"
#: Seconds a Redis command (and a connect) may take before the call goes on without it.
DEFAULT_TIMEOUT = 0.05


def hash_tag(value: str) -> str:
    """A Cluster hash tag for ``value``: ``{value}``, hashed when it could break the tag.

    Customer and deployment names are free text; one holding a brace, or a long one,
    becomes a short digest, so the tag is always well formed. One starting with ``#``
    is hashed too: a plain tag never starts with ``#`` and a digest's always does, so
    no id can name another's keys (the layout is injective, up to the digest).
    """
    if value and len(value) <= 64 and value[0] != "#" and "{" not in value and "}" not in value:
        return "{" + value + "}"
    return "{#" + hashlib.blake2b(value.encode(), digest_size=12).hexdigest() + "}"


class Connection:
    """What a :class:`~respan_router.redis.SharedRedis` holds without I/O: the clients
    (made on first use), the key layout, the scripts' SHAs, the outage state and the
    current call's batch of deferred writes (its I/O: ``_io_async`` / ``_io_sync``).

    Args:
        source: a URL (``redis://host:6379/0``, ``rediss://``, ``unix://``), a redis-py
            client (``redis.Redis``, ``redis.RedisCluster``, a Sentinel's
            ``master_for(...)``, or their ``redis.asyncio`` twins), or a pair
            ``(sync_client, async_client)``. A plain client of one kind is cloned (same
            connection settings) for the other API; a Cluster or Sentinel client of one
            kind serves only that API: give the pair to use both.
        prefix: the start of every key.
        timeout: seconds a command or a connect may take (clients made here).
        retry_interval: seconds Redis is left alone after a failure.
        meter_provider: an OpenTelemetry meter provider for the error counter.
        max_connections: connections per client made here (one sync client, one
            asyncio client per event loop).
    """

    def __init__(
        self,
        source: Any,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = DEFAULT_TIMEOUT,
        retry_interval: float = DEFAULT_RETRY_INTERVAL,
        meter_provider: Any = None,
        max_connections: int = 100,
    ) -> None:
        if "{" in prefix or "}" in prefix:
            raise ValueError("redis_prefix must not contain '{' or '}' (Cluster hash tags)")
        self.prefix = prefix
        self.timeout = timeout
        self.max_connections = max_connections
        self._url: str | None = None
        self._sync: Any = None
        self._async_given: Any = None
        self._async_home = False  # whether the given asyncio client serves a loop already
        self._lock = threading.Lock()
        # One asyncio client per loop, closed when its loop shuts down (never kept by it).
        self._aclients: PerLoop[Any] = PerLoop(self._make_async, self._aclose_client, _drop)
        self._scripts: dict[str, str] = {}
        if isinstance(source, str):
            self._url = source
        elif isinstance(source, tuple) and len(source) == 2:
            self._sync, self._async_given = source
        elif is_async_client(source):
            self._async_given = source
        elif hasattr(source, "execute_command"):
            self._sync = source
        else:
            raise TypeError("redis must be a URL, a redis-py client or (sync, async) clients")
        if self._url is not None:
            # redis-py is imported here, on the constructing thread and under no lock: a
            # background thread importing it could be forked mid-import (a child that
            # hangs on the import lock forever).
            import redis
            import redis.backoff
            import redis.retry  # noqa: F401
        after_fork(self, Connection._after_fork)
        counter = _error_counter(meter_provider)
        self.outage = Outage(
            retry_interval, on_error=(lambda: counter.add(1)) if counter is not None else None
        )

    # -- keys ---------------------------------------------------------------------------
    def key(self, kind: str, tag: str, *rest: str) -> str:
        """``<prefix><kind>:{tag}[:rest...]``: the keys of one ``tag`` share a slot."""
        tail = "".join(":" + part for part in rest)
        return f"{self.prefix}{kind}:{hash_tag(tag)}{tail}"

    @property
    def degraded(self) -> bool:
        """Whether Redis is in an outage now (stages are on their failure policies)."""
        return self.outage.down

    # -- clients ------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The sync client (made on first use)."""
        client = self._sync
        if client is None:
            with self._lock:
                client = self._sync
                if client is None:
                    client = self._sync = self._make(sync=True)
        return client

    def aclient(self) -> Any:
        """The asyncio client of the running event loop (made on first use per loop,
        closed when the loop shuts down)."""
        return self._aclients.get()

    @property
    def async_clients(self) -> int:
        """How many event loops have an asyncio client now."""
        return len(self._aclients)

    def _make_async(self) -> Any:
        if self._async_given is not None and not self._async_home:
            self._async_home = True  # the given client serves the first loop only
            return self._async_given
        return self._make(sync=False)

    async def _aclose_client(self, client: Any) -> None:
        if client is not self._async_given:  # a given client is the caller's
            await client.aclose(close_connection_pool=True)

    def _make(self, *, sync: bool) -> Any:
        model = self._async_given if sync or self._sync is None else self._sync
        return make_client(
            sync=sync,
            url=self._url,
            model=model,
            timeout=self.timeout,
            max_connections=self.max_connections,
        )

    # -- scripts ------------------------------------------------------------------------
    def script_sha(self, source: str) -> str:
        """The SHA1 a script is called by (``EVALSHA``)."""
        sha = self._scripts.get(source)
        if sha is None:
            sha = self._scripts[source] = hashlib.sha1(source.encode()).hexdigest()
        return sha

    # -- a call's deferred writes ---------------------------------------------------------
    def write_later(
        self,
        source: str,
        keys: list[str],
        args: list[Any],
        on_fail: Callable[[], None] | None = None,
    ) -> bool:
        """Queue a script whose answer nobody waits for (a settle, a cache fill) to the
        current call's batch; False when no batch is open (then run it now)."""
        batch = BATCH.get()
        if batch is None or batch.owner is not self:
            return False
        batch.writes.append(Write(source, keys, args, on_fail))
        return True

    def _open_batch(self) -> tuple[Batch, contextvars.Token[Batch | None]] | None:
        """A new batch made current, or None inside an open batch of this connection
        (the block joins that one)."""
        current = BATCH.get()
        if current is not None and current.owner is self:
            return None
        batch = Batch(self)
        return batch, BATCH.set(batch)

    #: Run a cleanup to its end even when the caller is cancelled meanwhile.
    shielded = staticmethod(shielded)

    def close(self) -> None:
        """Close the clients made here (given clients are the caller's to close): the
        sync one, and the asyncio ones without awaiting (see :meth:`aclose`)."""
        with self._lock:
            client, self._sync = self._sync, (None if self._url is not None else self._sync)
        if self._url is not None and client is not None:
            client.close()
            client.connection_pool.disconnect()  # the pool made here: its sockets too
        self._aclients.close()

    async def aclose(self) -> None:
        """Close the running loop's asyncio client (awaited), then the others."""
        await self._aclients.aclose()
        self.close()

    def _after_fork(self) -> None:
        """In a forked child: the parent's locks, clients and sockets are not ours."""
        self._lock = threading.Lock()
        self.outage._lock = threading.Lock()  # its lock may have been held by a thread
        if self._url is not None:
            self._sync = None  # made again on first use (the parent keeps its sockets)

    def __repr__(self) -> str:
        state = "degraded" if self.degraded else "up"
        return f"SharedRedis(prefix={self.prefix!r}, timeout={self.timeout}, {state})"




def _drop(client: Any) -> None:
    """An asyncio client whose loop is gone: its sockets close with it (nothing to await)."""
    pool = getattr(client, "connection_pool", None)
    for name in ("_available_connections", "_in_use_connections"):
        for connection in list(getattr(pool, name, None) or ()):
            writer = getattr(connection, "_writer", None)
            transport = getattr(writer, "transport", None)
            sock = getattr(transport, "_sock", None)  # asyncio's transport: its loop is gone
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()


def _error_counter(meter_provider: Any) -> Any:
    if meter_provider is None:
        return None
    meter = meter_provider.get_meter("respan_router")
    return meter.create_counter(
        "respan_router.redis.errors",
        unit="{error}",
        description="Redis operations that failed or timed out (the stage applied its policy).",
    )
