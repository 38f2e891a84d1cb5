"""The integer cost rule gives exactly the micro-dollars of the Decimal rule."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from respan_router.budgets import ModelPrice, to_micro
from respan_router.budgets._cost import marked_up
from respan_router.budgets._micro import markup_fraction, micro_cost


def decimal_rule(
    price: ModelPrice, markup: str, prompt: int, completion: int, cached: int = 0
) -> tuple[int, int]:
    """The rule as written with Decimal (the budget's reference)."""
    usd = price.cost(prompt, completion, cached)
    return to_micro(usd), to_micro(marked_up(usd, Decimal(markup)))


def exact_rule(
    price: ModelPrice, markup: str, prompt: int, completion: int, cached: int = 0
) -> tuple[int, int]:
    """The rule in exact rationals (no precision limit), rounded half up once."""
    cached = min(max(cached, 0), prompt)
    cached_price = price.input if price.cached_input is None else price.cached_input
    parts = ((prompt - cached, price.input), (cached, cached_price), (completion, price.output))
    usd = sum((Fraction(n) * Fraction(p) for n, p in parts), Fraction(0))
    factor = 1 + Fraction(Decimal(markup)) / 100 if Decimal(markup) else Fraction(1)

    def half_up(value: Fraction) -> int:  # micro-dollars, rounded half up
        micro = value * 10**6
        return (2 * micro.numerator + micro.denominator) // (2 * micro.denominator)

    return half_up(usd), half_up(usd * factor)


prices = st.one_of(
    st.floats(min_value=0, max_value=1e-2, allow_nan=False, allow_infinity=False),
    st.sampled_from([2.5e-6, 1e-5, 1.5e-7, 3e-7, 1.25e-6, 0.0, 6e-8, 1.1e-6]),
    st.decimals(min_value=0, max_value=1, places=12, allow_nan=False, allow_infinity=False),
)
markups = st.one_of(
    st.sampled_from(["0", "20", "12.5", "-10", "33.333333333333336", "0.0", "100", "1e-20"]),
    st.floats(min_value=-99.9, max_value=1000, allow_nan=False).map(repr),
)
tokens = st.one_of(st.integers(0, 2_000_000), st.integers(0, 10**30))


def _price(
    inp: float | Decimal, out: float | Decimal, cached: float | Decimal | None
) -> ModelPrice:
    table = {"input_cost_per_token": inp, "output_cost_per_token": out}
    if cached is not None:
        table["cache_read_input_token_cost"] = cached
    price = ModelPrice.from_table(table)
    assert price is not None
    return price


@settings(max_examples=3000, deadline=None)
@given(prices, prices, st.none() | prices, markups, tokens, tokens, tokens)
def test_integer_rule_equals_the_decimal_rule(
    inp: float, out: float, cached_price: float | None, markup: str, prompt: int,
    completion: int, cached: int,
) -> None:  # fmt: skip
    price = _price(inp, out, cached_price)
    fast = micro_cost(price.units, markup_fraction(markup), prompt, completion, cached)
    if fast is not None:
        assert fast == decimal_rule(price, markup, prompt, completion, cached)
        assert fast == exact_rule(price, markup, prompt, completion, cached)


@pytest.mark.parametrize(
    ("inp", "out", "markup", "prompt", "completion", "cached"),
    [
        (2.5e-6, 1e-5, "20", 3, 16, 0),
        (2.5e-6, 1e-5, "0", 1_000_000, 4096, 10),
        (1.5e-7, 6e-7, "12.5", 123_456, 7_890, 100_000),
        (1e-6, 4e-6, "-10", 5, 1, 9),  # cached above prompt: clamped
        (3e-7, 3e-7, "33.333333333333336", 7, 7, -4),  # negative cached: 0
    ],
)
def test_usual_prices_take_the_integer_rule(
    inp: float, out: float, markup: str, prompt: int, completion: int, cached: int
) -> None:
    price = _price(inp, out, None)
    fast = micro_cost(price.units, markup_fraction(markup), prompt, completion, cached)
    assert fast is not None
    assert fast == decimal_rule(price, markup, prompt, completion, cached)


def test_half_a_micro_dollar_rounds_up() -> None:
    price = _price(5e-7, 0.0, None)  # half a micro-dollar per token
    assert micro_cost(price.units, markup_fraction("0"), 1, 0) == (1, 1)
    assert micro_cost(price.units, markup_fraction("0"), 3, 0) == (2, 2)
    assert decimal_rule(price, "0", 3, 0) == (2, 2)


@pytest.mark.parametrize(
    ("prompt", "completion", "markup"),
    [
        (10**30, 0, "20"),  # beyond Decimal's 28 digits: the Decimal rule decides
        (5, 1.0, "20"),  # not an int
        (-1, 1, "20"),  # negative
        (5, 1, "-100"),  # a factor of 0
        (5, 1, "1e-40"),  # 1 + 1e-42 rounds in Decimal
        (5, 1, "NaN"),
    ],
)
def test_cases_left_to_the_decimal_rule(prompt: object, completion: object, markup: str) -> None:
    price = _price(2.5e-6, 1e-5, None)
    assert micro_cost(price.units, markup_fraction(markup), prompt, completion) is None  # type: ignore[arg-type]


def test_prices_the_integers_do_not_cover() -> None:
    assert ModelPrice(Decimal("-1E-6"), Decimal("1E-6")).units is None
    assert ModelPrice(Decimal("Infinity"), Decimal("1E-6")).units is None
    assert ModelPrice(Decimal("1E-6"), Decimal("1E-6")).units is not None


def test_a_price_builds_its_integer_rule_once_per_markup() -> None:
    price = ModelPrice(Decimal("2.5E-6"), Decimal("1E-5"))
    rate = price.rate("20.0")
    assert rate is not None and price.rate("20.0") is rate
    assert price.rate("0") is not rate
    assert rate.cost(3, 16) == micro_cost(price.units, markup_fraction("20.0"), 3, 16)
    assert rate.cost(-1, 16) is None and rate.cost(3, 16.0) is None  # type: ignore[arg-type]
    assert ModelPrice(Decimal("-1"), Decimal("1")).rate("20") is None  # the Decimal rule
    assert price.rate("NaN") is None


@settings(max_examples=2000, deadline=None)
@given(prices, prices, markups, tokens, tokens)
def test_a_worst_case_is_the_customers_figure_alone(
    inp: float, out: float, markup: str, prompt: int, completion: int
) -> None:
    price = _price(inp, out, None)
    rate = price.rate(markup)
    if rate is None:
        return
    full = rate.cost(prompt, completion)
    assert rate.marked(prompt, completion) == (None if full is None else full[1])
    if full is not None:
        assert full[1] == decimal_rule(price, markup, prompt, completion)[1]


def test_a_worst_case_leaves_what_it_does_not_cover_to_the_decimal_rule() -> None:
    rate = ModelPrice(Decimal("2.5E-6"), Decimal("1E-5")).rate("20")
    assert rate is not None
    assert rate.marked(3, 16) == 201  # (3 * 2.5e-6 + 16 * 1e-5) * 1.2 USD, in micro-dollars
    assert rate.marked(-1, 16) is None and rate.marked(3, -1) is None
    assert rate.marked(3, 16.0) is None and rate.marked(True, 16) is None  # type: ignore[arg-type]
    assert rate.marked(10**30, 0) is None  # beyond Decimal's 28 digits
