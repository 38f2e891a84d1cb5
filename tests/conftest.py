from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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


# -- the lean parity tests: litellm's path and the lean path, one of each per module --------


@pytest.fixture(scope="module")
def reference() -> Any:
    """The litellm path, used directly: the reference every lean parity test compares with."""
    from respan_router.providers import LiteLLMProvider

    return LiteLLMProvider()


@pytest.fixture(scope="module")
def lean(reference: Any) -> Iterator[Any]:
    """The lean path, falling back to ``reference`` for what it does not take."""
    from respan_router.providers import LeanProvider

    provider = LeanProvider(fallback=reference)
    yield provider
    provider.close()


def _reentrant_httpcore_pool_lock() -> None:
    """httpcore's sync pool lock is not reentrant: a response stream abandoned unread and
    finalised by the garbage collector while its own thread holds the pool's lock deadlocks
    that thread for good (encode/httpcore#990). litellm's sync path abandons such responses
    (Bedrock's stream errors), and the parity tests run it as their reference in one long
    process: once in a while a test hung. The tests' httpcore takes a reentrant lock."""
    import threading

    from httpcore import _synchronization

    def reentrant(self: Any) -> None:
        self._lock = threading.RLock()

    _synchronization.ThreadLock.__init__ = reentrant  # type: ignore[method-assign]


_reentrant_httpcore_pool_lock()
