"""Redis key layout: no id can name another's keys; cache_ttl is bounded."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from respan_router import InvalidRequestError, Router
from respan_router.budgets import Reservation, ReserveRequest
from respan_router.redis import RedisBudgetStore, SharedRedis, hash_tag
from respan_router.request._params import MAX_CACHE_TTL
from respan_router.testing import FakeProvider
from tests.helpers import MSG
from tests.redis_helpers import REDIS_URL, new_prefix, redis_available, wipe

LONG = "customer-" + "x" * 80
DIGEST_FORM = "#" + hashlib.blake2b(LONG.encode(), digest_size=12).hexdigest()
NOW = 1_750_000_000.0


@pytest.mark.parametrize(
    "pair",
    [(LONG, DIGEST_FORM), ("a{b}", "#" + hashlib.blake2b(b"a{b}", digest_size=12).hexdigest())],
)
def test_a_literal_id_never_takes_a_hashed_ids_tag(pair: tuple[str, str]) -> None:
    hashed, literal = pair
    assert hash_tag(hashed) != hash_tag(literal)


@pytest.mark.parametrize("value", ["acme", "#", "#acme", "", "a}", "{a", LONG, "x" * 64])
def test_every_tag_is_well_formed_and_plain_tags_never_start_with_hash(value: str) -> None:
    tag = hash_tag(value)
    assert tag.startswith("{") and tag.endswith("}") and tag.count("{") == 1
    inner = tag[1:-1]
    if inner == value:
        assert not value.startswith("#")
    else:
        assert inner.startswith("#") and len(inner) == 25


@pytest.fixture
def prefix() -> Iterator[str]:
    p = new_prefix()
    yield p
    wipe(p)


@pytest.mark.skipif(not redis_available(), reason="no Redis on 127.0.0.1:6379")
def test_a_literal_digest_id_shares_no_spend(prefix: str) -> None:
    store = RedisBudgetStore(SharedRedis(REDIS_URL, prefix=prefix, timeout=1.0))
    ask = ReserveRequest(LONG, 500, None, None, 1_000, NOW, NOW + 60)
    held = store.reserve(ask)
    assert isinstance(held, Reservation)
    store.settle(held, 500, NOW + 1)
    assert store.usage(LONG, None, NOW + 2).total_spent == 500
    assert store.usage(DIGEST_FORM, None, NOW + 2).total_spent == 0


def test_cache_ttl_is_bounded() -> None:
    fake = FakeProvider()
    router = Router(provider=fake)
    with pytest.raises(InvalidRequestError) as info:
        router.complete(model="m", messages=MSG, cache_enabled=True, cache_ttl=1e15)
    assert info.value.field == "cache_ttl"
    assert fake.calls == []
    router.complete(model="m", messages=MSG, cache_enabled=True, cache_ttl=MAX_CACHE_TTL)
    with pytest.raises(InvalidRequestError):
        Router(provider=fake, cache_ttl=MAX_CACHE_TTL * 2)
