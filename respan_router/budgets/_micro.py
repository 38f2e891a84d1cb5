"""The budget's cost rule in integers: the same micro-dollars as the Decimal rule, cheaper.

The rule (:mod:`respan_router.budgets._cost`): a usage's USD is the exact sum of tokens
times prices; the customer's is that times ``1 + markup/100``; each is rounded half up
to the micro-dollar once, at the end. With every price written as an integer count of
``10**-scale`` USD (:class:`Units`) and the markup as the fraction ``factor / 10**shift``,
that is one integer product and one rounded integer division.

Decimal computes the rule in its default context (28 significant digits): each step is
exact while its coefficient fits in 28 digits, and the integers here bound every
coefficient Decimal forms (its terms align to an exponent no finer than ``-scale``). So
when the largest product, micro-dollars included, stays below ``10**28`` both give the
same amount; beyond that (absurd token counts, prices written with many digits) or for
values the integers do not cover (negative prices or counts, a markup below -100 %),
:func:`micro_cost` answers None and the Decimal rule is used as it is.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple

__all__ = ["Rate", "Units", "markup_fraction", "micro_cost", "units_of"]

_EXACT = 10**28  # Decimal's default precision: below it no step of the rule rounds
_MICRO = 10**6


class Units(NamedTuple):
    """Prices per token as integers of ``10**-scale`` USD."""

    input: int
    cached_input: int
    output: int
    scale: int


def _parts(value: Decimal) -> tuple[int, int] | None:
    """``value`` as (coefficient, exponent), or None when not a finite, non-negative number."""
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        return None
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite
    return int("".join(map(str, digits)) or "0"), exponent


def units_of(input: Decimal, output: Decimal, cached_input: Decimal | None) -> Units | None:
    """The three prices on a common integer scale; None when one is not finite or is
    negative (then the Decimal rule prices it)."""
    parts = [_parts(p) for p in (input, input if cached_input is None else cached_input, output)]
    if any(p is None for p in parts):
        return None
    exact = [p for p in parts if p is not None]
    scale = max(0, *(-e for _, e in exact))
    inp, cached, out = (c * 10 ** (scale + e) for c, e in exact)
    return Units(inp, cached, out, scale)


@lru_cache(maxsize=256)
def markup_fraction(percentage: str) -> tuple[int, int] | None:
    """``1 + percentage/100`` as ``(factor, shift)``: ``factor / 10**shift``; ``(1, 0)``
    for no markup. None when the Decimal rule does not compute it exactly or it is not
    positive (then the Decimal rule is used)."""
    markup = Decimal(percentage)
    if not markup.is_finite():
        return None
    if not markup:
        return 1, 0  # the Decimal rule leaves an unmarked cost as it is
    coefficient, exponent = _parts(abs(markup)) or (0, 0)
    shift = max(0, -exponent) + 2
    scaled = coefficient * 10 ** (shift - 2 + exponent)
    factor = 10**shift + (scaled if markup > 0 else -scaled)
    if factor <= 0 or factor >= _EXACT:
        return None
    return factor, shift


class Rate:
    """One price's integers with one markup, ready to price usages (:meth:`cost`); built
    once per price and markup (see :meth:`~respan_router.budgets.ModelPrice.rate`)."""

    __slots__ = (
        "cached_input",
        "input",
        "marked_half",
        "marked_micro",
        "marked_scale",
        "most",
        "output",
        "scale",
        "scale_half",
    )

    marked_half: int
    marked_micro: int
    marked_scale: int

    def __init__(self, units: Units, markup: tuple[int, int]) -> None:
        self.input, self.cached_input, self.output = units.input, units.cached_input, units.output
        factor, shift = markup
        self.marked_micro = factor * _MICRO  # > 0 (markup_fraction)
        # The largest sum of token prices whose marked micro-dollars stay below 10**28.
        self.most = (_EXACT - 1) // self.marked_micro
        # Rounded half up: n / d is (n + d // 2) // d for n >= 0 and d a power of ten.
        self.scale = 10**units.scale
        self.scale_half = self.scale // 2
        self.marked_scale = self.scale * 10**shift
        self.marked_half = self.marked_scale // 2

    def marked(self, prompt: int, completion: int) -> int | None:
        """The customer's micro-dollars of a usage without cached tokens (a worst case):
        :meth:`cost`'s second figure, alone."""
        total = self._units(prompt, completion, 0)
        if total is None:
            return None
        return (total * self.marked_micro + self.marked_half) // self.marked_scale

    def _units(self, prompt: int, completion: int, cached: int) -> int | None:
        """The usage in price units; None when the Decimal rule must compute it."""
        if (
            type(prompt) is not int
            or type(completion) is not int
            or type(cached) is not int
            or prompt < 0
            or completion < 0
        ):
            return None
        if cached:
            cached = min(max(cached, 0), prompt)
            total = (prompt - cached) * self.input + cached * self.cached_input
        else:
            total = prompt * self.input
        total += completion * self.output
        return None if total > self.most else total

    def cost(self, prompt: int, completion: int, cached: int = 0) -> tuple[int, int] | None:
        """(provider micro-dollars, customer micro-dollars) of a usage, as the Decimal rule
        gives them; None when that rule must compute it (see the module's notes)."""
        total = self._units(prompt, completion, cached)
        if total is None:
            return None
        return (
            (total * _MICRO + self.scale_half) // self.scale,
            (total * self.marked_micro + self.marked_half) // self.marked_scale,
        )


def micro_cost(
    units: Units | None,
    markup: tuple[int, int] | None,
    prompt: int,
    completion: int,
    cached: int = 0,
) -> tuple[int, int] | None:
    """(provider micro-dollars, customer micro-dollars) of a usage, as the Decimal rule
    gives them; None when that rule must compute it (see the module's notes)."""
    if units is None or markup is None:
        return None
    return Rate(units, markup).cost(prompt, completion, cached)
