from __future__ import annotations

from datetime import UTC, datetime

import pytest

from respan_router.budgets import CustomerBudget, current_period


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def budget(**kw: object) -> CustomerBudget:
    return CustomerBudget("c", period_budget=1, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("duration", "start", "now", "expected_start", "expected_end"),
    [
        ("daily", "2025-03-01", "2025-03-01T00:00:00", "2025-03-01", "2025-03-02"),
        ("daily", "2025-03-01", "2025-03-01T23:59:59", "2025-03-01", "2025-03-02"),
        ("daily", "2025-03-01", "2025-03-02T00:00:00", "2025-03-02", "2025-03-03"),
        ("daily", "2025-03-01", "2025-05-17T12:00:00", "2025-05-17", "2025-05-18"),
        ("weekly", "2025-03-03", "2025-03-09T23:59:59", "2025-03-03", "2025-03-10"),
        ("weekly", "2025-03-03", "2025-03-10T00:00:00", "2025-03-10", "2025-03-17"),
        ("monthly", "2025-01-15", "2025-02-14T23:59:59", "2025-01-15", "2025-02-15"),
        ("monthly", "2025-01-15", "2025-02-15T00:00:00", "2025-02-15", "2025-03-15"),
        ("monthly", "2025-01-15", "2025-12-31T00:00:00", "2025-12-15", "2026-01-15"),
        # the 31st, clamped to short months
        ("monthly", "2025-01-31", "2025-02-28T00:00:00", "2025-02-28", "2025-03-31"),
        ("monthly", "2025-01-31", "2025-02-27T23:00:00", "2025-01-31", "2025-02-28"),
        ("monthly", "2025-01-31", "2025-04-30T10:00:00", "2025-04-30", "2025-05-31"),
        ("yearly", "2024-02-29", "2025-02-28T00:00:00", "2025-02-28", "2026-02-28"),
        ("yearly", "2024-02-29", "2025-02-27T00:00:00", "2024-02-29", "2025-02-28"),
        ("yearly", "2024-01-01", "2027-06-01T00:00:00", "2027-01-01", "2028-01-01"),
    ],
)
def test_periods_roll_over(
    duration: str, start: str, now: str, expected_start: str, expected_end: str
) -> None:
    period = current_period(budget(budget_duration=duration, period_start=start), at(now))
    assert period.start == at(expected_start)
    assert period.end == at(expected_end)
    assert period.key == at(expected_start).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_without_a_start_periods_count_from_when_the_budget_was_set() -> None:
    anchor = at("2025-06-10T08:30:00").timestamp()
    b = budget(budget_duration="daily", anchor=anchor)
    assert current_period(b, at("2025-06-11T08:29:59")).start == at("2025-06-10T08:30:00")
    assert current_period(b, at("2025-06-11T08:30:00")).start == at("2025-06-11T08:30:00")


def test_an_explicit_period_end_wins_then_periods_tile_from_it() -> None:
    b = budget(budget_duration="monthly", period_start="2025-01-01", period_end="2025-01-10")
    first = current_period(b, at("2025-01-09T23:59:59"))
    assert (first.start, first.end) == (at("2025-01-01"), at("2025-01-10"))
    second = current_period(b, at("2025-01-10T00:00:00"))
    assert (second.start, second.end) == (at("2025-01-10"), at("2025-02-10"))


def test_period_end_without_duration_is_one_period_then_an_open_one() -> None:
    b = budget(period_start="2025-01-01", period_end="2025-02-01")
    assert current_period(b, at("2025-01-20")).end == at("2025-02-01")
    after = current_period(b, at("2025-03-01"))
    assert (after.start, after.end) == (at("2025-02-01"), None)


def test_a_moment_before_the_start_falls_in_an_earlier_period() -> None:
    b = budget(budget_duration="daily", period_start="2025-03-10")
    assert current_period(b, at("2025-03-08T05:00:00")).start == at("2025-03-08")


def test_datetimes_with_offsets_are_read_in_utc() -> None:
    b = budget(budget_duration="daily", period_start="2025-03-01T02:00:00+02:00")
    assert current_period(b, at("2025-03-01T01:00:00")).start == at("2025-03-01T00:00:00")
