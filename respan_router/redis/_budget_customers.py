"""Customers' configurations in Redis, read through a per-process view.

Reading a customer's configuration costs no round trip on most calls: the view keeps what
it read (or wrote) for ``config_ttl`` seconds. Without Redis the view answers with the
last configuration it knew; a configuration set during an outage is kept in the view and
written to Redis as soon as it answers again (a process that starts during an outage
still enforces the budgets of its configured customers, and never forgets them when
Redis comes back).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from respan_router.budgets import CustomerBudget
from respan_router.redis._shared import SharedRedis

__all__ = ["DOWN", "RedisCustomers"]

DOWN: Any = object()  # what a guarded Redis call returns when Redis did not answer


class RedisCustomers:
    """The configuration half of the Redis budget store, with no I/O: the per-process view
    of the customers' budgets (its I/O, ``configure`` and ``customer``: ``_budget_async``)."""

    def __init__(self, redis: SharedRedis, config_ttl: float) -> None:
        self.redis = redis
        self.config_ttl = config_ttl
        self._configs: dict[str, tuple[CustomerBudget | None, float]] = {}
        self._unwritten: dict[str, CustomerBudget] = {}  # configured during an outage
        self._view_lock = threading.Lock()

    def _k(self, customer: str, *rest: str) -> str:
        return self.redis.key("budget", customer, *rest)

    def _configure_args(self, budget: CustomerBudget) -> tuple[list[str], list[Any]]:
        c = budget.customer_id
        return [self._k(c, "config"), self._k(c, "anchor")], [budget.to_json(), repr(budget.anchor)]

    def _configured(self, budget: CustomerBudget, anchor: Any) -> CustomerBudget:
        cid = budget.customer_id
        with self._view_lock:
            if anchor is DOWN:
                self._unwritten[cid] = budget
                stored = budget
            else:
                self._unwritten.pop(cid, None)
                stored = budget.with_anchor(float(anchor))
            self._configs[cid] = (stored, time.monotonic())
        return stored

    def _fresh(self, customer_id: str) -> tuple[bool, CustomerBudget | None]:
        known = self._configs.get(customer_id)
        if known is not None and time.monotonic() - known[1] < self.config_ttl:
            return True, known[0]
        return False, None if known is None else known[0]

    def _read(
        self, customer_id: str, found: Any, known: CustomerBudget | None
    ) -> CustomerBudget | None:
        if found is DOWN:
            return known  # the last configuration this process knew
        config, anchor = found
        budget = None
        if config is not None:
            budget = CustomerBudget.from_json(config)
            if anchor is not None:
                budget = budget.with_anchor(float(anchor))
        with self._view_lock:
            self._configs[customer_id] = (budget, time.monotonic())
        return budget
