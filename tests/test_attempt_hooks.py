"""The per-attempt hooks: the executor calls them around each try, sync and async."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from respan_router.errors import BudgetExceededError, ProviderError
from respan_router.execution import AttemptHooks, CallRecord, Executor
from respan_router.providers import ProviderCall
from respan_router.request import build_request
from respan_router.responses import CompletionUsage
from respan_router.routing import Attempt
from tests.helpers import MSG


@dataclass
class Hook:
    """Records what the executor called; refuses the tries of ``refuse``."""

    refuse: set[str] = field(default_factory=set)
    events: list[tuple[str, str]] = field(default_factory=list)
    n: int = 0

    def before(self, call: ProviderCall, pricing_model: str) -> str:
        if call.model in self.refuse:
            raise BudgetExceededError(
                "no money",
                customer_identifier="c",
                limit="total_budget",
                limit_usd=0,  # type: ignore[arg-type]
                used_usd=0,  # type: ignore[arg-type]
                estimate_usd=0,  # type: ignore[arg-type]
            )
        self.n += 1
        hold = f"{call.model}#{self.n}"
        self.events.append(("before", f"{hold}@{pricing_model}"))
        return hold

    async def abefore(self, call: ProviderCall, pricing_model: str) -> str:
        return self.before(call, pricing_model)

    def after(self, hold: str, usage: CompletionUsage | None) -> None:
        self.events.append(("after", f"{hold}:{usage.total_tokens if usage else None}"))

    async def aafter(self, hold: str, usage: CompletionUsage | None) -> None:
        self.after(hold, usage)

    def release(self, hold: str) -> None:
        self.events.append(("release", hold))

    async def arelease(self, hold: str) -> None:
        self.release(hold)


@dataclass
class Answer:
    usage: CompletionUsage


PLAN = [
    Attempt("a", "fake", "fake/a", "environment", "model"),
    Attempt("b", "fake", "fake/b", "environment", "fallback_models[0]"),
]


def _run(
    hooks: Hook,
    send_fails: set[str],
    *,
    sync: bool,
    retries: int = 0,
    record: CallRecord | None = None,
) -> object:
    executor = Executor(sleep=lambda s: None, async_sleep=_no_sleep)
    request = build_request({"model": "a", "messages": MSG, "retries": retries})
    record = CallRecord() if record is None else record
    typed: AttemptHooks[str] = hooks  # the protocol the executor declares

    def send(call: ProviderCall) -> Answer:
        if call.model in send_fails:
            raise ProviderError("down", status_code=503)
        return Answer(CompletionUsage(prompt_tokens=1, completion_tokens=2, total_tokens=3))

    async def asend(call: ProviderCall) -> Answer:
        return send(call)

    if sync:
        return executor.run(request, PLAN, record, send, typed)
    return asyncio.run(executor.arun(request, PLAN, record, asend, typed))


async def _no_sleep(_: float) -> None:
    return None


@pytest.mark.parametrize("sync", [True, False])
def test_a_failed_try_is_released_and_the_answer_settled(sync: bool) -> None:
    hooks = Hook()
    _run(hooks, {"a"}, sync=sync, retries=1)
    assert hooks.events == [
        ("before", "a#1@fake/a"),
        ("release", "a#1"),
        ("before", "a#2@fake/a"),  # the retry holds again
        ("release", "a#2"),
        ("before", "b#3@fake/b"),  # the fallback
        ("after", "b#3:3"),
    ]


@pytest.mark.parametrize("sync", [True, False])
def test_a_refused_try_never_reaches_the_provider_and_is_recorded(sync: bool) -> None:
    hooks = Hook(refuse={"a"})
    record = CallRecord()
    with pytest.raises(BudgetExceededError) as info:
        _run(hooks, set(), sync=sync, record=record)
    assert hooks.events == []  # nothing held, nothing sent, nothing settled
    assert [a.model for a in record.attempts] == ["a"]  # no fallback on a refusal
    assert record.attempts[0].error is info.value
    assert record.attempts[0].outcome == "error"
