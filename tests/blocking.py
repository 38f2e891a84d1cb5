"""A pytest plugin: the library never blocks an event loop.

While a test runs, a sync redis-py command (sent or connected) or a blocking socket call
(a socket with a timeout other than 0: asyncio's own sockets are non-blocking) made
under the library's async code (a coroutine or async generator of ``respan_router`` on
the stack) on a thread that is running an event loop is recorded, and the test fails
listing where each happened. It is active in every test of the suite (the async ones
are where it can trip). A test's own blocking calls, and the sync API called by a test,
are not the library blocking a loop and are not counted.

A test that blocks a loop on purpose says so with ``@pytest.mark.allow_blocking``.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

PACKAGE = str(Path(__file__).resolve().parent.parent / "respan_router")
_SOCKET_METHODS = ("connect", "send", "sendall", "recv", "recv_into", "sendto", "recvfrom")

_ASYNC = inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
_found: list[str] = []
_lock = threading.Lock()
_active = False


def _library_frame() -> str | None:
    """Where the library's async code is on the stack: the innermost library frame, when
    a coroutine or async generator of the library runs below it (None: the call came from
    test code, a sync API called by a test, or third-party code only)."""
    frame: Any = sys._getframe(2)
    innermost = None
    while frame is not None:
        code = frame.f_code
        if code.co_filename.startswith(PACKAGE):
            if innermost is None:
                innermost = f"{code.co_filename}:{frame.f_lineno}"
            if code.co_flags & _ASYNC:
                return innermost
        frame = frame.f_back
    return None


def _check(what: str) -> None:
    if not _active or asyncio._get_running_loop() is None:
        return
    where = _library_frame()
    if where is None:
        return
    stack = "".join(traceback.format_stack(limit=12)[:-2])
    with _lock:
        _found.append(f"{what} on a thread running an event loop, from {where}\n{stack}")


def _wrap_socket(name: str) -> None:
    original = getattr(socket.socket, name)

    def method(self: socket.socket, *args: Any, **kwargs: Any) -> Any:
        if _active and self.gettimeout() != 0.0:
            _check(f"blocking socket.{name}")
        return original(self, *args, **kwargs)

    method.__name__ = name
    setattr(socket.socket, name, method)


def _wrap_redis() -> None:
    try:
        from redis.connection import AbstractConnection
    except ImportError:  # pragma: no cover  (redis-py is a dev dependency)
        return

    def wrap(name: str) -> None:
        original: Callable[..., Any] = getattr(AbstractConnection, name)

        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            _check(f"sync redis-py {name}")
            return original(self, *args, **kwargs)

        setattr(AbstractConnection, name, method)

    wrap("connect")
    wrap("send_packed_command")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "allow_blocking: the test blocks an event loop on purpose (not reported)"
    )
    for name in _SOCKET_METHODS:
        _wrap_socket(name)
    _wrap_redis()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    global _active
    allowed = item.get_closest_marker("allow_blocking") is not None
    with _lock:
        _found.clear()
    _active = not allowed
    try:
        result = yield
    finally:
        _active = False
    with _lock:
        found, _found[:] = list(_found), []
    if found:
        pytest.fail(
            f"{len(found)} blocking call(s) on an event loop's thread:\n\n" + "\n".join(found[:3]),
            pytrace=False,
        )
    return result
