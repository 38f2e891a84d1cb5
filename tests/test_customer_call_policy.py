"""A customer's call (not bare: it names a Respan parameter) runs on the Router's retry
policy and deadline unless it sets its own, exactly as any other call."""

from __future__ import annotations

import pytest

from respan_router import ProviderError, Router
from respan_router.testing import Failure, FakeProvider
from tests.helpers import MSG, Clock

PRICES = {"a": (1e-6, 1e-6)}
CUSTOMERS = {"c": {"total_budget": 100, "markup_percentage": 10}}


def _router(fake: FakeProvider, sleeps: list[float], **kw: object) -> Router:
    return Router(provider=fake, sleep=sleeps.append, customers=CUSTOMERS, **kw)  # type: ignore[arg-type]


def test_a_customers_call_takes_the_routers_retry_policy() -> None:
    fake = FakeProvider(Failure(503), prices=PRICES)
    router = _router(fake, [], retry_params={"num_retries": 2})
    with pytest.raises(ProviderError):
        router.complete(model="a", messages=MSG, max_tokens=5, customer_identifier="c")
    assert len(fake.calls) == 3
    assert router.budgets.usage("c").total_reserved == 0  # every failed try released


@pytest.mark.parametrize(
    ("own", "calls"),
    [({"retries": 0}, 1), ({"retry_params": {"num_retries": 1}}, 2), ({"retries": 3}, 4)],
)
def test_a_customers_own_retry_policy_wins(own: dict[str, object], calls: int) -> None:
    fake = FakeProvider(Failure(503), prices=PRICES)
    router = _router(fake, [], retry_params={"num_retries": 2})
    with pytest.raises(ProviderError):
        router.complete(model="a", messages=MSG, max_tokens=5, customer_identifier="c", **own)
    assert len(fake.calls) == calls


async def test_a_customers_own_deadline_bounds_its_try() -> None:
    fake = FakeProvider("ok", prices=PRICES)
    router = _router(fake, [], clock=Clock(), timeout=60)
    await router.acomplete(
        model="a", messages=MSG, max_tokens=5, customer_identifier="c", total_timeout=5
    )
    router.complete(model="a", messages=MSG, max_tokens=5, customer_identifier="c")
    assert fake.calls[0].timeout == pytest.approx(5)
    assert fake.calls[1].timeout == 60  # no deadline of its own: the Router's timeout


def test_the_routers_deadline_applies_to_a_customers_call() -> None:
    fake = FakeProvider("ok", prices=PRICES)
    router = _router(fake, [], clock=Clock(), timeout=60, total_timeout=7)
    router.complete(model="a", messages=MSG, max_tokens=5, customer_identifier="c")
    assert fake.calls[0].timeout == pytest.approx(7)
