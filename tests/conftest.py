from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.upstream import FakeUpstream

# Shared assertion helpers get pytest's detailed assertion messages.
pytest.register_assert_rewrite("tests.lean_parity_helpers")


# Fails a test in which the library blocks a thread running an event loop (tests/blocking.py).
pytest_plugins = ["tests.blocking"]


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    """A started local OpenAI-compatible upstream, closed after the test."""
    with FakeUpstream() as server:
        yield server


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    """Collects the finished spans of ``provider``."""
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    """An SDK tracer provider exporting synchronously to ``exporter``."""
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    return tp


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests import figures

    found = figures.lines()
    if found:
        terminalreporter.section("figures")
        for line in found:
            terminalreporter.write_line(line)
