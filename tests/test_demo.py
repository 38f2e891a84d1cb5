"""The demo runs offline and prints the span tree of its calls."""

from __future__ import annotations

import pytest

from respan_router.demo import main


def test_demo_prints_the_span_tree(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    tree = out.split("spans (one per call, a child per attempt):\n", 1)[1].splitlines()
    assert len(tree) == 6
    calls = [line for line in tree if "[INTERNAL]" in line]
    attempts = [line for line in tree if "└─" in line]
    assert len(calls) == len(attempts) == 3
    assert all(line.startswith("    └─ chat ") for line in attempts)
    assert "customer=demo-customer" in calls[0] and "cost=$" in calls[0]
    assert "ERROR" in calls[2] and "error=ProviderError" in calls[2]
    assert "sk-demo" not in out


def test_demo_usage() -> None:
    assert main(["nonsense"]) == 2
