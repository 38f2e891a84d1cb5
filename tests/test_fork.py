"""A Router survives ``fork()`` (gunicorn --preload, multiprocessing): forked right after
construction, the child's first call works at once; each child is a process of its own,
so a breaker opened in one worker reaches its siblings."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable

import pytest

from respan_router import Router
from respan_router.testing import Failure, FakeProvider
from tests.helpers import MSG
from tests.redis_helpers import REDIS_URL, new_prefix, redis_available, wipe

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() here"),
    pytest.mark.skipif(not redis_available(), reason="no Redis on 127.0.0.1:6379"),
]


def _fork(child: Callable[[], bool]) -> int:
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            code = 0 if child() else 1
        finally:
            os._exit(code)
    return pid


def _wait(pid: int, within: float) -> int | None:
    """The child's exit code, or None (killed) when it has not ended within ``within``."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


def _router(prefix: str, fake: FakeProvider) -> Router:
    return Router(
        provider=fake,
        redis=REDIS_URL,
        redis_prefix=prefix,
        redis_timeout=1.0,
        cache_enabled=True,
        circuit_breaker={"consecutive_failures": 2, "cooldown": 60},
    )


def test_a_child_forked_right_after_construction_calls_at_once() -> None:
    prefix = new_prefix()
    try:
        for _ in range(5):  # the fork lands at a different point of the threads' start
            router = _router(prefix, FakeProvider())

            def first_call(router: Router = router) -> bool:
                answer = router.complete(model="m", messages=MSG)  # the cache: Redis
                return answer.choices[0].message.content == "ok"

            assert _wait(_fork(first_call), within=20) == 0
            router.close()
    finally:
        wipe(prefix)


def test_a_breaker_opened_in_one_forked_worker_reaches_its_sibling() -> None:
    prefix = new_prefix()
    fake = FakeProvider(default=Failure(503))
    router = _router(prefix, fake)
    key = str(router.plan(model="a", messages=MSG)[0].health_key)
    try:

        def opener() -> bool:
            for _ in range(2):
                with contextlib.suppress(Exception):  # the failures are the point
                    router.complete(model="a", messages=MSG, cache_enabled=False)
            assert router.health is not None
            opened = not router.health.available(key)
            time.sleep(1)  # its events go out from a thread: a worker lives on
            return opened

        def sibling() -> bool:
            assert router.health is not None
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if not router.health.available(key):
                    return True
                time.sleep(0.02)
            return False

        watcher = _fork(sibling)
        time.sleep(0.5)  # the sibling listens
        assert _wait(_fork(opener), within=20) == 0
        assert _wait(watcher, within=20) == 0
    finally:
        router.close()
        wipe(prefix)
