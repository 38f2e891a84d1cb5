"""The redis-py clients made for a Router: from a URL, or cloned from a given client."""

from __future__ import annotations

from typing import Any

__all__ = ["is_async_client", "is_cluster", "make_client"]


def make_client(
    *,
    sync: bool,
    url: str | None,
    model: Any,
    timeout: float,
    max_connections: int,
) -> Any:
    """A client made here: from ``url``, or cloned from ``model`` (a client of the other kind)."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # No retries inside redis-py: a failed command falls to the stage's policy at once.
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
    }
    if url is not None:
        # A bounded pool: past max_connections, a call waits for a free connection
        # at most `timeout`, then goes on without Redis like any other failure.
        if sync:
            import redis

            pool: Any = redis.BlockingConnectionPool.from_url(
                url, max_connections=max_connections, timeout=timeout,
                retry=Retry(NoBackoff(), 0), **options,
            )  # fmt: skip
            return redis.Redis(connection_pool=pool)
        import redis.asyncio as aredis
        from redis.asyncio.retry import Retry as ARetry

        apool: Any = aredis.BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=timeout,
            retry=ARetry(NoBackoff(), 0), **options,
        )  # fmt: skip
        apool.connection_class = _checked_on_checkout(apool.connection_class)
        return aredis.Redis(connection_pool=apool)
    pool = getattr(model, "connection_pool", None)
    kwargs = dict(getattr(pool, "connection_kwargs", None) or {})
    if not kwargs or ("host" not in kwargs and "path" not in kwargs) or is_cluster(model):
        kind = "sync" if sync else "asyncio"
        raise TypeError(
            f"the {kind} API needs a {kind} Redis client: give redis=(sync_client, "
            "async_client) for Cluster or Sentinel clients"
        )
    keep = ("host", "port", "path", "db", "username", "password", "ssl")
    settings = {k: kwargs[k] for k in keep if k in kwargs}
    settings.setdefault("socket_timeout", kwargs.get("socket_timeout"))
    settings.setdefault("socket_connect_timeout", kwargs.get("socket_connect_timeout"))
    if "path" in settings:
        settings.pop("host", None)
        settings.pop("port", None)
        if sync:
            import redis

            return redis.Redis(unix_socket_path=settings.pop("path"), **settings)
        import redis.asyncio as aredis

        return aredis.Redis(unix_socket_path=settings.pop("path"), **settings)
    if sync:
        import redis

        return redis.Redis(**settings)
    import redis.asyncio as aredis

    return aredis.Redis(**settings)


_CHECKED: dict[type, type] = {}


def _checked_on_checkout(cls: type) -> type:
    """``cls`` whose pooled connections ask the socket itself whether the server closed
    them. asyncio learns of a peer's close only when the loop runs the socket's reader:
    a loop busy while Redis restarted would send its next command on the dead connection
    and fail (the sync pool sees the close at checkout). Here the pool's checkout also
    polls the socket (no wait): pending bytes or a close mean a fresh connection."""
    checked = _CHECKED.get(cls)
    if checked is None:

        async def can_read(self: Any) -> bool:
            if await cls.can_read(self):  # type: ignore[attr-defined]
                return True
            writer = getattr(self, "_writer", None)
            sock = None if writer is None else writer.get_extra_info("socket")
            return sock is not None and _readable_now(sock.fileno())

        checked = _CHECKED[cls] = type(cls.__name__, (cls,), {"can_read": can_read})
    return checked


def _readable_now(fd: int) -> bool:
    """Whether the socket has bytes or a close pending (a poll that does not wait)."""
    import select

    if fd < 0:
        return False
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])


def is_async_client(client: Any) -> bool:
    import inspect

    method = getattr(client, "execute_command", None)
    return method is not None and inspect.iscoroutinefunction(method)


def is_cluster(client: Any) -> bool:
    return hasattr(client, "get_nodes")
