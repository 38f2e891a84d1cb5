"""The demo runs offline and prints the span tree of its calls."""

from __future__ import annotations

import pytest

from respan_router.__main__ import main


def test_demo_prints_the_span_tree(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    tree = out.split("spans (one per call, a child per attempt):\n", 1)[1].splitlines()
    calls = [line for line in tree if "[INTERNAL]" in line]
    attempts = [line for line in tree if "[CLIENT]" in line]
    assert len(tree) == len(calls) + len(attempts)
    assert len(calls) == 4 and len(attempts) == 5
    assert all(line.startswith("    └─ chat ") for line in attempts)
    assert all(line.startswith("  chat ") for line in calls)
    assert "customer=demo-customer" in calls[0] and "cost=$" in calls[0]
    assert "retries=1" in calls[2] and "fallbacks=1" in calls[2]
    assert "tries=2" in attempts[2] and "event=respan.retry" in attempts[2]
    assert "ERROR" in calls[3] and "error=ProviderError" in calls[3]
    assert "sk-demo" not in out


def test_demo_usage() -> None:
    assert main(["nonsense"]) == 2
