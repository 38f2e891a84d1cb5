"""Smaller lifecycle and concurrency details: a half-imported trace API is waited for,
single-flight followers raise their own copy of the leader's error, closing a lean async
stream releases its connection before it returns, a lean request that cannot be built
is logged before the call goes through litellm."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import pytest

from respan_router import Router
from respan_router.cache import SingleFlight
from respan_router.errors import RateLimitError
from tests.helpers import MSG
from tests.upstream import FakeUpstream, Reply

ROOT = Path(__file__).resolve().parent.parent

_HALF_IMPORTED = """
import importlib.abc, importlib.util, sys, threading, time

class Slow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "opentelemetry.trace":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module
        def exec_module(module):
            time.sleep(0.5)  # another thread finds it in sys.modules, half made
            run(module)
        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, Slow())
from respan_router.telemetry._sink import _trace_api
importing = threading.Thread(target=lambda: __import__("opentelemetry.trace"))
importing.start()
while "opentelemetry.trace" not in sys.modules:
    time.sleep(0.005)
trace = _trace_api()
print(hasattr(trace, "get_tracer_provider"))
"""


def test_a_trace_api_another_thread_is_importing_is_waited_for() -> None:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_HALF_IMPORTED)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.stdout.strip() == "True", done.stderr


def test_sync_followers_each_raise_their_own_copy_of_the_leaders_error() -> None:
    flight: SingleFlight[str] = SingleFlight()
    gate = threading.Event()
    errors: list[BaseException] = []
    lock = threading.Lock()

    def fetch() -> str:
        gate.wait(10)
        raise RateLimitError("slow down", model="m", provider="p")

    def call() -> None:
        try:
            flight.do("k", fetch)
        except RateLimitError as exc:
            with lock:
                errors.append(exc)

    leader = threading.Thread(target=call)
    leader.start()
    while len(flight) == 0:
        time.sleep(0.001)
    followers = [threading.Thread(target=call) for _ in range(8)]
    for t in followers:
        t.start()
    time.sleep(0.2)  # the followers wait on the flight
    gate.set()
    for t in [leader, *followers]:
        t.join(10)
    assert len(errors) == 9
    assert len({id(e) for e in errors}) == 9  # one object each: tracebacks do not pile up
    assert all((e.message, e.model, e.provider) == ("slow down", "m", "p") for e in errors)
    assert max(len(traceback.extract_tb(e.__traceback__)) for e in errors) < 12


async def test_closing_a_lean_async_stream_releases_its_connection(
    upstream: FakeUpstream,
) -> None:
    upstream.enqueue(Reply("one two three four", pieces=4, chunk_delay=0.5))  # still sending
    router = Router(
        providers={"openai": {"api_key": "sk-close-test", "api_base": upstream.base_url}}
    )
    stream = await router.acomplete(model="openai/m", messages=MSG, stream=True)
    provider: Any = router._provider
    # the lean path's session, or litellm's when an earlier test left a litellm global set
    connectors = [p._sessions.get().connector for p in (provider._async, provider._fallback)]
    assert sum(len(c._acquired) for c in connectors) == 1
    await stream.aclose()
    assert sum(len(c._acquired) for c in connectors) == 0  # released before aclose() returned
    await router.aclose()


def test_a_lean_request_that_cannot_be_built_is_logged_then_sent_by_litellm(
    upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from respan_router.providers._lean import _plain_template

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("a setting the lean path did not expect")

    # The plain call's template and its own build both go through litellm's build.
    monkeypatch.setattr(_plain_template, "build_request", broken)
    router = Router(
        providers={"openai": {"api_key": "sk-build-test", "api_base": upstream.base_url}}
    )
    with caplog.at_level(logging.WARNING, logger="respan_router.providers.lean"):
        answer = router.complete(model="openai/m", messages=MSG)
    assert answer.choices[0].message.content
    assert router.complete(model="openai/m", messages=MSG) is not None
    logged = [r.getMessage() for r in caplog.records if r.name == "respan_router.providers.lean"]
    assert any("not built (KeyError)" in m and "litellm" in m for m in logged), logged
    assert all("sk-build-test" not in m for m in logged)
