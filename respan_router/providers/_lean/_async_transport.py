"""The async transport: one aiohttp ``ClientSession`` per event loop.

A session is bound to the loop it was made on; calls on another loop get their own. A
session whose loop has closed is closed synchronously when next noticed, and
:meth:`AsyncTransport.aclose` / :meth:`AsyncTransport.close` close them all. Proxies from
the environment are honoured as litellm's aiohttp transport honours them (looked up once
per host, then passed per request: aiohttp's ``trust_env`` would look them up in a worker
thread on every request), and TLS is verified as litellm verifies it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import urllib.parse
from typing import Any

from respan_router.providers._lean._tls import proxy_for, ssl_setting

__all__ = ["AsyncTransport"]

# As many connections as the openai SDK's pool allows.
_CONNECTION_LIMIT = 1000
_HOST_MEMO_LIMIT = 1024


class AsyncTransport:
    def __init__(self) -> None:
        self._sessions: dict[int, tuple[asyncio.AbstractEventLoop, Any]] = {}
        self._lock = threading.Lock()
        self._ssl: Any = None
        self._proxies: dict[tuple[str, str], str | None] = {}

    def proxy(self, url: str) -> str | None:
        """The environment's proxy for ``url``'s scheme and host (memoised per host)."""
        parts = urllib.parse.urlsplit(url)
        key = (parts.scheme, parts.hostname or "")
        if key in self._proxies:
            return self._proxies[key]
        found = proxy_for(*key)
        if len(self._proxies) < _HOST_MEMO_LIMIT:
            self._proxies[key] = found
        return found

    def session(self) -> Any:
        """The running loop's session, made on first use."""
        loop = asyncio.get_running_loop()
        entry = self._sessions.get(id(loop))
        if entry is not None and entry[0] is loop and not entry[1].closed:
            return entry[1]
        return self._new_session(loop)

    def _new_session(self, loop: asyncio.AbstractEventLoop) -> Any:
        import aiohttp

        if self._ssl is None:
            self._ssl = ssl_setting()
        with self._lock:
            self._drop_dead()
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=_CONNECTION_LIMIT, ssl=self._ssl, enable_cleanup_closed=False
                ),
                trust_env=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=True,
            )
            self._sessions[id(loop)] = (loop, session)
        return session

    def _drop_dead(self) -> None:
        """Close, without awaiting, the sessions of loops that are closed."""
        for key, (loop, session) in list(self._sessions.items()):
            if loop.is_closed() or session.closed:
                del self._sessions[key]
                _close_now(session)

    async def aclose(self) -> None:
        """Close this loop's session, and every session whose loop has closed."""
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._sessions.pop(id(loop), None)
            self._drop_dead()
        if entry is not None:
            await entry[1].close()

    def close(self) -> None:
        """Close every session now (from outside their loops)."""
        with self._lock:
            entries = list(self._sessions.values())
            self._sessions.clear()
        for _, session in entries:
            _close_now(session)


def _close_now(session: Any) -> None:
    connector = session.connector
    if connector is not None and not connector.closed:
        with contextlib.suppress(Exception):
            connector._close()  # the synchronous part of close(): closes the sockets
    with contextlib.suppress(Exception):
        session._connector = None
