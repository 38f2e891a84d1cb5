"""The budget store on Redis: one ledger for every process of a service.

Each ledger step is one Lua script (:mod:`respan_router.redis._budget_scripts`), called
by SHA (loaded once per server), so it is atomic across processes; money is integer
micro-dollars. :meth:`RedisBudgetStore.hit_and_reserve` counts the rate limit and holds
the money in one round trip.

Configurations are read through a per-process view (:mod:`._redis_customers`), refreshed
every ``config_ttl`` seconds and by ``configure`` in this process: reading a customer's
budget costs no round trip on most calls.

When Redis is down or slow (see :class:`respan_router.redis._shared.SharedRedis`):

- ``reserve``: ``policy="fail_closed"`` (the default) raises
  :class:`~respan_router.errors.BudgetUnavailableError`: no money is spent without a
  ledger. ``policy="fail_open"`` returns a reservation whose id starts with
  ``unrecorded:``, which settles and releases without Redis;
- ``settle`` / ``release`` that fail are kept (up to ``max_pending``) and sent again when
  Redis answers again (they are idempotent by reservation id, so a retried settle charges
  once); meanwhile they answer ``"settled"`` / ``"released"``;
- ``hit``: allowed (rate limits fail open);
- ``customer``: the last configuration this process saw (None if it never saw one); one
  configured during the outage is written when Redis is back.
"""

from __future__ import annotations

from respan_router.redis._budget_async import AsyncLedger
from respan_router.redis._budget_ledger import UNRECORDED
from respan_router.redis._budget_sync import SyncLedger

__all__ = ["UNRECORDED", "RedisBudgetStore"]


class RedisBudgetStore(SyncLedger, AsyncLedger):
    """A :class:`~respan_router.budgets.BudgetStore` on Redis.

    Args:
        redis: the Router's :class:`SharedRedis`.
        policy: ``"fail_closed"`` or ``"fail_open"`` (what ``reserve`` does without Redis).
        config_ttl: seconds a configuration read from Redis is reused by this process.
        max_pending: settles and releases kept while Redis is down.
    """
