"""Budgets: the added cost per call of an enforced customer budget, on FakeProvider.

Interleaved in one run, sync and async:

- ``no customer``: the plain call (the baseline);
- ``customer, markup only``: a known customer without limits (cost recorded, nothing held);
- ``enforced budget``: a period and a total budget (a worst-case reservation before the
  call, settled after);
- ``budget + rate limit``: the same with a per-minute rate limit (the in-process sliding
  log) counted at admission.

Targets: an enforced budget adds at most 15 µs to the plain call; the rate limit at most
5 µs more.

The budgets are large enough never to refuse: every call pays the full path.
"""

from __future__ import annotations

from typing import Any

from benchmarks.common import MSG, Series, run_async, run_sync, table, verdict
from respan_router import Router
from respan_router.testing import FakeProvider, Reply

PRICES = {"gpt-4o": (2.5e-6, 1e-5)}
CUSTOMERS = {
    "markup": {"markup_percentage": 20},
    "budget": {
        "period_budget": 1e6,
        "budget_duration": "monthly",
        "total_budget": 1e7,
        "markup_percentage": 20,
    },
    "limited": {
        "period_budget": 1e6,
        "budget_duration": "monthly",
        "total_budget": 1e7,
        "rate_limit": 10_000_000,
    },
}
VARIANTS = {
    "no customer": None,
    "customer, markup only": "markup",
    "enforced budget": "budget",
    "budget + rate limit": "limited",
}


def _kwargs(customer: str | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"model": "gpt-4o", "messages": MSG, "max_tokens": 16}
    if customer is not None:
        kwargs["customer_identifier"] = customer
    return kwargs


def _rows(series: dict[str, Series]) -> list[tuple[str, ...]]:
    base = series["no customer"]
    return [
        (name, f"{s.median_us:.2f}", f"{s.p99_us:.2f}",
         "-" if s is base else f"{s.median_us - base.median_us:+.2f}")
        for name, s in series.items()
    ]  # fmt: skip


def run(quick: bool = False) -> dict[str, Any]:
    rounds, batch = (8, 300) if quick else (25, 800)
    fake = FakeProvider(Reply("ok", usage=(3, 1)), prices=PRICES)
    router = Router(provider=fake, customers=CUSTOMERS)
    calls = {name: _kwargs(customer) for name, customer in VARIANTS.items()}
    results: dict[str, Any] = {}
    sync = run_sync(
        {name: (lambda kw=kw: router.complete(**kw)) for name, kw in calls.items()},
        rounds=rounds,
        batch=batch,
    )
    fake.calls.clear()
    asyn = run_async(
        {name: (lambda kw=kw: router.acomplete(**kw)) for name, kw in calls.items()},
        rounds=rounds,
        batch=batch,
    )
    fake.calls.clear()
    for mode, series in (("sync", sync), ("async", asyn)):
        base = series["no customer"].median_us
        results[mode] = {
            **{n: s.summary() for n, s in series.items()},
            "added_median_us": {
                n: round(s.median_us - base, 2) for n, s in series.items() if n != "no customer"
            },
        }
        print(table(f"budgets: {mode} (µs per call)", _rows(series),
                    ("variant", "median", "p99", "added")))  # fmt: skip
        added = results[mode]["added_median_us"]
        rate = round(added["budget + rate limit"] - added["enforced budget"], 2)
        results[mode]["rate_limit_added_us"] = rate
        verdict(f"enforced budget, added ({mode})", added["enforced budget"], 15.0)
        verdict(f"rate limit, added over the budget ({mode})", rate, 5.0)
    spent = router.budgets.usage("budget").total_spent
    print(f"(the 'enforced budget' customer was charged ${spent} in total)")
    return results
