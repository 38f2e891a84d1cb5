"""Budget periods: which period a moment falls in, when it started and when it resets.

All in UTC. Periods tile the timeline from an anchor (``period_start``, else the moment
the budget was first set) in steps of ``budget_duration``: a day, a week (7 days), a
calendar month (the anchor's day of month, clamped to the month's length: Jan 31, Feb 28,
Mar 31, ...) or a calendar year. An explicit ``period_end`` wins: the period it closes
runs from the anchor to it, and the periods after it tile from ``period_end``.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from respan_router.budgets._store import CustomerBudget, Duration
from respan_router.request import parse_moment

__all__ = ["Period", "current_period", "parse_moment", "period_key"]

_FIXED: dict[str, timedelta] = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}
_MONTHS: dict[str, int] = {"monthly": 1, "yearly": 12}


@dataclass(frozen=True, slots=True)
class Period:
    """One budget period: ``[start, end)``; ``end`` is None for an open-ended one."""

    key: str
    start: datetime
    end: datetime | None


def period_key(start: datetime) -> str:
    return start.strftime("%Y-%m-%dT%H:%M:%SZ")


def _add_months(anchor: datetime, months: int) -> datetime:
    """``anchor`` moved by whole months, its day clamped to the target month's length."""
    index = anchor.year * 12 + (anchor.month - 1) + months
    year, month = divmod(index, 12)
    day = min(anchor.day, calendar.monthrange(year, month + 1)[1])
    return anchor.replace(year=year, month=month + 1, day=day)


def _tile(anchor: datetime, duration: Duration | None, now: datetime) -> Period:
    """The period of the tiling from ``anchor`` that contains ``now``."""
    if duration is None:
        return Period(period_key(anchor), anchor, None)
    step = _FIXED.get(duration)
    if step is not None:
        k = (now - anchor) // step
        start = anchor + k * step
        return Period(period_key(start), start, start + step)
    months = _MONTHS[duration]
    elapsed = (now.year - anchor.year) * 12 + (now.month - anchor.month)
    k = elapsed // months
    start = _add_months(anchor, k * months)
    while start > now:  # the anchor's day (or time) is later in the month than now's
        k -= 1
        start = _add_months(anchor, k * months)
    end = _add_months(anchor, (k + 1) * months)
    while end <= now:
        k += 1
        start, end = end, _add_months(anchor, (k + 1) * months)
    return Period(period_key(start), start, end)


def current_period(budget: CustomerBudget, now: datetime) -> Period:
    """The period ``now`` (UTC) falls in for a customer's budget."""
    anchor = (
        parse_moment(budget.period_start)
        if budget.period_start
        else datetime.fromtimestamp(budget.anchor, UTC)
    )
    if budget.period_end:
        end = parse_moment(budget.period_end)
        if now < end:
            return Period(period_key(anchor), anchor, end)
        anchor = end
    return _tile(anchor, budget.budget_duration, now)
