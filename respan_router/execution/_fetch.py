"""A non-streamed call's fetch: plan it (timed), keep a customer's plan within its budget
(with the budget's hooks around each try), and run the plan.

Async, a call gets the walk's own coroutine back (nothing to await before the walk, so no
coroutine of its own wraps it: one frame fewer per call), unless budget-aware fallback
reads the call's customer's usage first.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING

from respan_router.budgets import (
    BudgetHooks,
    BudgetStage,
    aplan_within_budget,
    plan_within_budget,
)
from respan_router.execution._executor import Executor
from respan_router.execution._record import CallRecord
from respan_router.providers import Provider
from respan_router.request import ChatRequest
from respan_router.routing import Attempt, Planner

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletion

__all__ = ["Fetch"]


class Fetch:
    """Plan and run one non-streamed call on the Router's planner, executor and provider."""

    __slots__ = ("_asend", "_budgets", "_executor", "_planner", "_send")

    def __init__(
        self, planner: Planner, executor: Executor, provider: Provider, budgets: BudgetStage
    ) -> None:
        self._planner, self._executor = planner, executor
        self._budgets = budgets
        # The provider's methods bound once: not one bound method per call in flight.
        self._send, self._asend = provider.complete, provider.acomplete

    def planned(self, request: ChatRequest, record: CallRecord) -> Sequence[Attempt]:
        """The call's attempts, the time spent planning them kept on its record."""
        started = time.perf_counter()
        try:
            return self._planner.attempts(request)
        finally:
            record.routing_seconds = time.perf_counter() - started

    def __call__(self, request: ChatRequest, record: CallRecord) -> ChatCompletion:
        """Plan (a customer's: within its budget, with its hooks) and run the plan."""
        started = time.perf_counter()  # planned(), written out: one frame fewer per call
        try:
            attempts = self._planner.attempts(request)
        finally:
            record.routing_seconds = time.perf_counter() - started
        customer, hooks = record.customer, None
        if customer is not None:
            if self._budgets.aware_fallback:
                attempts = plan_within_budget(self._budgets, customer, request, attempts)
            hooks = BudgetHooks(self._budgets, customer, request)
        return self._executor.run(request, attempts, record, self._send, hooks)

    def afetch(self, request: ChatRequest, record: CallRecord) -> Awaitable[ChatCompletion]:
        """The async twin of calling it: planned now, the rest when awaited."""
        started = time.perf_counter()  # as __call__
        try:
            attempts = self._planner.attempts(request)
        finally:
            record.routing_seconds = time.perf_counter() - started
        customer = record.customer
        if customer is None:
            return self._executor.arun(request, attempts, record, self._asend)
        if self._budgets.aware_fallback:  # the budget's read comes first
            return self._acustomer(request, record, attempts)
        hooks = BudgetHooks(self._budgets, customer, request)
        return self._executor.arun(request, attempts, record, self._asend, hooks)

    async def _acustomer(
        self, request: ChatRequest, record: CallRecord, attempts: Sequence[Attempt]
    ) -> ChatCompletion:
        customer = record.customer
        attempts = await aplan_within_budget(self._budgets, customer, request, attempts)
        hooks = BudgetHooks(self._budgets, customer, request) if customer is not None else None
        return await self._executor.arun(request, attempts, record, self._asend, hooks)
