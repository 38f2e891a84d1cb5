"""The Redis budget store: atomic reservations across processes, idempotent settles,
periods, rate limits, on the real Redis."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from typing import Any

import pytest

from respan_router.budgets import CustomerBudget, Refusal, Reservation, ReserveRequest
from respan_router.errors import BudgetUnavailableError
from respan_router.redis import UNRECORDED, RedisBudgetStore, SharedRedis
from tests.redis_helpers import REDIS_URL, new_prefix, redis_available, redis_server, wipe

pytestmark = pytest.mark.skipif(not redis_available(), reason="no Redis on 127.0.0.1:6379")

NOW = 1_750_000_000.0


@pytest.fixture
def prefix() -> Iterator[str]:
    p = new_prefix()
    yield p
    wipe(p)


def _store(prefix: str, url: str = REDIS_URL, **kwargs: Any) -> RedisBudgetStore:
    return RedisBudgetStore(SharedRedis(url, prefix=prefix, timeout=1.0), **kwargs)


def _ask(
    amount: int,
    *,
    customer: str = "acme",
    period: str | None = "2025-06",
    period_limit: int | None = 1000,
    total_limit: int | None = None,
    now: float = NOW,
    hold: float = 60,
) -> ReserveRequest:
    return ReserveRequest(customer, amount, period, period_limit, total_limit, now, now + hold)


def test_reserve_is_all_or_nothing_across_period_and_total(prefix: str) -> None:
    store = _store(prefix)
    first = store.reserve(_ask(600, total_limit=900))
    assert isinstance(first, Reservation) and first.period_used == 0
    refused = store.reserve(_ask(400, total_limit=900))  # period 1000 ok? 1000 fits; total not
    assert isinstance(refused, Refusal)
    assert (refused.limit, refused.limit_value, refused.used) == ("total_budget", 900, 600)
    over_period = store.reserve(_ask(401, total_limit=None))
    assert isinstance(over_period, Refusal) and over_period.limit == "period_budget"
    usage = store.usage("acme", "2025-06", NOW)
    assert (usage.period_reserved, usage.total_reserved, usage.open_reservations) == (600, 600, 1)


def test_settle_charges_once_and_frees_the_hold(prefix: str) -> None:
    store = _store(prefix)
    held = store.reserve(_ask(500))
    assert isinstance(held, Reservation)
    assert store.settle(held, 321, NOW + 1) == "settled"
    assert store.settle(held, 321, NOW + 2) == "duplicate"  # a retried settle
    assert store.release(held, NOW + 2) == "duplicate"
    usage = store.usage("acme", "2025-06", NOW + 3)
    assert (usage.period_spent, usage.period_reserved, usage.total_spent) == (321, 0, 321)


def test_a_settle_retried_after_a_timeout_charges_once(prefix: str) -> None:
    import threading

    import redis

    shared = SharedRedis(REDIS_URL, prefix=prefix, timeout=0.05, retry_interval=0.01)
    store = RedisBudgetStore(shared)
    held = store.reserve(_ask(500))
    assert isinstance(held, Reservation)
    # Another client keeps the server busy: the settle is queued behind it, our client
    # times out, and the server runs the settle afterwards all the same.
    busy = threading.Thread(
        target=lambda: redis.Redis.from_url(REDIS_URL).eval(
            "local x = 0 for i = 1, 40000000 do x = x + i end return 1", 0
        )
    )
    busy.start()
    time.sleep(0.02)
    assert store.settle(held, 250, NOW + 1) == "settled"  # timed out: kept to resend
    busy.join()
    assert shared.degraded and store.pending == 1
    time.sleep(0.02)
    assert store.settle(held, 250, NOW + 2) == "duplicate"  # resent first, then retried
    assert store.pending == 0
    usage = store.usage("acme", "2025-06", NOW + 3)
    assert (usage.total_spent, usage.total_reserved) == (250, 0)


def test_a_settle_after_the_period_boundary_charges_the_reserved_period(prefix: str) -> None:
    store = _store(prefix)
    held = store.reserve(_ask(100, period="2025-06"))
    assert isinstance(held, Reservation)
    # The period turns; the next reservation is in 2025-07; then the old one settles.
    assert isinstance(store.reserve(_ask(10, period="2025-07")), Reservation)
    assert store.settle(held, 90, NOW + 10) == "settled"
    june, july = store.usage("acme", "2025-06", NOW), store.usage("acme", "2025-07", NOW)
    assert (june.period_spent, june.period_reserved) == (90, 0)
    assert (july.period_spent, july.period_reserved) == (0, 10)
    assert june.total_spent == 90 and june.total_reserved == 10


def test_abandoned_reservations_expire_and_a_late_settle_still_charges(prefix: str) -> None:
    store = _store(prefix)
    held = store.reserve(_ask(900, hold=30))
    assert isinstance(held, Reservation)
    assert isinstance(store.reserve(_ask(200)), Refusal)
    # After the hold's expiry the next reservation reclaims it.
    later = store.reserve(_ask(200, now=NOW + 31))
    assert isinstance(later, Reservation) and later.period_used == 0
    assert store.release(held, NOW + 32) == "duplicate"
    assert store.settle(held, 50, NOW + 32) == "late"
    assert store.settle(held, 50, NOW + 33) == "duplicate"
    usage = store.usage("acme", "2025-06", NOW + 33)
    assert (usage.period_spent, usage.period_reserved, usage.open_reservations) == (50, 200, 1)


def test_an_unknown_reservation_changes_nothing(prefix: str) -> None:
    store = _store(prefix)
    ghost = Reservation("nope", "acme", "2025-06", 10, NOW + 60)
    assert store.settle(ghost, 10, NOW) == "unknown"
    assert store.release(ghost, NOW) == "unknown"
    assert store.usage("acme", "2025-06", NOW).total_spent == 0


def test_configure_keeps_the_first_anchor_and_other_processes_read_it(prefix: str) -> None:
    a, b = _store(prefix), _store(prefix)
    first = a.configure(CustomerBudget("acme", period_budget=5, anchor=100.0))
    again = a.configure(CustomerBudget("acme", period_budget=7, anchor=999.0))
    assert first.anchor == again.anchor == 100.0
    seen = b.customer("acme")
    assert seen is not None and seen.period_budget == 7 and seen.anchor == 100.0
    assert b.customer("nobody") is None


def test_reset_zeroes_spent_and_keeps_holds(prefix: str) -> None:
    store = _store(prefix)
    held = store.reserve(_ask(100))
    assert isinstance(held, Reservation)
    store.settle(held, 100, NOW)
    store.reserve(_ask(50))
    store.reset("acme", "2025-06", total=True)
    usage = store.usage("acme", "2025-06", NOW)
    assert (usage.period_spent, usage.period_reserved, usage.total_spent) == (0, 50, 0)


def test_the_rate_limit_is_a_moving_minute_and_refused_hits_do_not_count(prefix: str) -> None:
    store = _store(prefix)
    decisions = [store.hit("acme", 3) for _ in range(5)]
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert [d.remaining for d in decisions[:3]] == [2, 1, 0]
    assert decisions[3].retry_after is not None and 0 < decisions[3].retry_after <= 60
    rate, held = store.hit_and_reserve(_ask(10), 3)
    assert rate is not None and not rate.allowed and held is None
    assert store.usage("acme", "2025-06", NOW).total_reserved == 0


def test_hit_and_reserve_counts_and_holds_in_one_step(prefix: str) -> None:
    store = _store(prefix)
    rate, held = store.hit_and_reserve(_ask(10), 5)
    assert rate is not None and rate.allowed and rate.remaining == 4
    assert isinstance(held, Reservation)


async def test_the_async_twins_share_the_ledger(prefix: str) -> None:
    store = _store(prefix)
    held = await store.areserve(_ask(700))
    assert isinstance(held, Reservation)
    assert isinstance(store.reserve(_ask(400)), Refusal)
    assert await store.asettle(held, 700, NOW) == "settled"
    assert await store.asettle(held, 700, NOW) == "duplicate"
    assert (await store.ausage("acme", "2025-06", NOW)).period_spent == 700
    assert (await store.ahit("acme", 1)).allowed
    assert not (await store.ahit("acme", 1)).allowed


# -- Redis down ---------------------------------------------------------------------------


def test_without_redis_fail_closed_refuses_and_fail_open_holds_unrecorded() -> None:
    with redis_server() as server:
        closed = _store("p:", server.url)
        opened = _store("p:", server.url, policy="fail_open")
        closed.configure(CustomerBudget("acme", period_budget=1000))
        server.kill()
        with pytest.raises(BudgetUnavailableError):
            closed.reserve(_ask(10))
        held = opened.reserve(_ask(10))
        assert isinstance(held, Reservation) and held.id.startswith(UNRECORDED)
        assert opened.settle(held, 10, NOW) == "settled"
        assert closed.hit("acme", 1).allowed and closed.hit("acme", 1).allowed
        config = closed.customer("acme")  # the last configuration this process saw
        assert config is not None and config.period_budget == 1000


def test_a_settle_during_an_outage_is_sent_when_redis_is_back() -> None:
    with redis_server() as server:
        shared = SharedRedis(server.url, prefix="p:", timeout=0.2, retry_interval=0.05)
        store = RedisBudgetStore(shared)
        held = store.reserve(_ask(100))
        assert isinstance(held, Reservation)
        server.kill()
        assert store.settle(held, 80, NOW + 1) == "settled"
        assert store.pending == 1 and shared.degraded
        server.start()
        time.sleep(0.06)
        assert isinstance(store.reserve(_ask(1, now=NOW + 2)), Reservation)  # flushes first
        assert store.pending == 0 and not shared.degraded
        assert store.settle(held, 80, NOW + 3) == "duplicate"
        assert store.usage("acme", "2025-06", NOW + 3).period_spent == 80


# -- many processes -------------------------------------------------------------------------

COST = 45  # micro-dollars: 5 prompt tokens x 1 + 10 completion tokens x 4
K = 37
FIVE_WORDS = [{"role": "user", "content": "one two three four five"}]


def _spender(prefix: str, start: Any, calls: int, results: Any) -> None:
    from respan_router import Router
    from respan_router.errors import BudgetExceededError
    from respan_router.testing import FakeProvider, Reply

    fake = FakeProvider(Reply("paid", usage=(5, 10)), prices={"m": (1e-6, 4e-6)})
    router = Router(
        provider=fake,
        redis=REDIS_URL,
        redis_prefix=prefix,
        redis_timeout=2.0,
        customers={"acme": {"total_budget": K * COST / 1e6}},
    )
    ok = refused = 0
    start.wait()
    for _ in range(calls):
        try:
            router.complete(
                model="m", messages=FIVE_WORDS, max_tokens=10, customer_identifier="acme"
            )
        except BudgetExceededError:
            refused += 1
        else:
            ok += 1
    results.put((ok, refused, len(fake.calls)))


def test_four_processes_of_500_calls_spend_exactly_the_budget(prefix: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_spender, args=(prefix, start, 500, results)) for _ in range(4)]
    for p in procs:
        p.start()
    time.sleep(1.0)
    start.set()
    outcomes = [results.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(30)
    assert sum(o[0] for o in outcomes) == K  # exactly K succeed across the processes
    assert sum(o[1] for o in outcomes) == 4 * 500 - K
    assert sum(o[2] for o in outcomes) == K  # the refused made no provider call
    usage = _store(prefix).usage("acme", None, time.time())
    assert usage.total_spent == K * COST  # to the micro-dollar, never over the budget
    assert usage.total_reserved == 0 and usage.open_reservations == 0


# -- the rules every budget store keeps -------------------------------------------------------

from tests.budget_store_contract import StoreContract  # noqa: E402


class TestRedisBudgetStoreContract(StoreContract):
    @pytest.fixture
    def store(self, prefix: str) -> RedisBudgetStore:
        # 1,000 tasks at once share 100 connections: a generous timeout on a busy machine.
        return RedisBudgetStore(SharedRedis(REDIS_URL, prefix=prefix, timeout=10.0))
