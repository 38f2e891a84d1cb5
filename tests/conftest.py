from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.upstream import FakeUpstream


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    """A started local OpenAI-compatible upstream, closed after the test."""
    with FakeUpstream() as server:
        yield server


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests import figures

    found = figures.lines()
    if found:
        terminalreporter.section("figures")
        for line in found:
            terminalreporter.write_line(line)
