"""Figures the reliability tests measure, printed in a "figures" section at the end of the
run (see ``conftest.py``), so CI output shows them without ``-s``."""

from __future__ import annotations

from collections import Counter

LINES: dict[str, str] = {}
COUNTS: dict[str, Counter[str]] = {}


def report(name: str, text: str) -> None:
    """One test's figures, as a line."""
    LINES[name] = text


def count(name: str, what: str, n: int = 1) -> None:
    """Add to a tally kept over many cases (e.g. the outcomes of fuzzed calls)."""
    COUNTS.setdefault(name, Counter())[what] += n


def lines() -> list[str]:
    out = [f"{name}: {text}" for name, text in LINES.items()]
    out += [f"{name}: {dict(sorted(c.items()))}" for name, c in COUNTS.items()]
    return out
