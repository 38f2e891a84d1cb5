"""The Redis connection shared by every stage that keeps state across processes.

One :class:`SharedRedis` per Router holds:

- the sync client (used by the sync API) and one asyncio client per event loop (used by
  the async API). An asyncio client's connections belong to the loop that opened them,
  so a client is never handed to another loop: each loop gets its own, made from the
  same settings. No event loop is ever started in a thread;
- the key layout: every key under ``prefix``; keys of one customer or one deployment
  share a Cluster hash tag (``{...}``), so a script touching several of them runs on one
  Redis Cluster node;
- the outage detector (:class:`Outage`): a Redis error or timeout marks Redis as down:
  one warning log per outage, a flag for spans (:attr:`SharedRedis.degraded`), a metric
  counter, and for ``retry_interval`` seconds calls do not even try Redis (each stage
  applies its failure policy at once). Then one call tries again; the first success ends
  the outage. No restart is needed.

Its state is ``_connection`` (no I/O); its commands are written once, async
(``_io_async``), and the sync ones generated from them (``_io_sync``). redis-py is
imported only when a Router is given ``redis=...``.
"""

from __future__ import annotations

from respan_router.redis._io_async import AsyncIO
from respan_router.redis._io_sync import SyncIO

__all__ = ["SharedRedis"]


class SharedRedis(SyncIO, AsyncIO):
    """The Redis clients, key layout, outage state and commands of one Router.

    ``run``/``arun`` call an operation with the sync client / the running loop's asyncio
    client, guarded by the outage policy; ``eval``/``aeval`` run a script by SHA;
    ``batch``/``abatch`` defer a call's writes to one round trip at its end. The
    constructor's arguments are :class:`~respan_router.redis._connection.Connection`'s.
    """
