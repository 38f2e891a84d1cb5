"""The async transport: one aiohttp ``ClientSession`` per event loop.

A session is bound to the loop it was made on; calls on another loop get their own. A
session is closed (awaited) when its loop shuts down; one whose loop closed without that
is closed synchronously when next noticed, and :meth:`AsyncTransport.aclose` /
:meth:`AsyncTransport.close` close them all. A forked child starts with none. Proxies from
the environment are honoured as litellm's aiohttp transport honours them (looked up once
per host, then passed per request: aiohttp's ``trust_env`` would look them up in a worker
thread on every request), and TLS is verified as litellm verifies it.
"""

from __future__ import annotations

import contextlib
import urllib.parse
from typing import Any

from respan_router._loops import PerLoop
from respan_router.providers._lean._tls import proxy_for, ssl_setting

__all__ = ["AsyncTransport"]

# As many connections as the openai SDK's pool allows.
_CONNECTION_LIMIT = 1000
_HOST_MEMO_LIMIT = 1024


class AsyncTransport:
    def __init__(self) -> None:
        self._sessions: PerLoop[Any] = PerLoop(self._new_session, _aclose, _close_now)
        self._ssl: Any = None
        self._proxies: dict[tuple[str, str], str | None] = {}
        self._by_url: dict[str, str | None] = {}

    def proxy(self, url: str) -> str | None:
        """The environment's proxy for ``url``'s scheme and host (memoised per host, and
        per URL: a deployment's URL is the same on every call)."""
        try:
            return self._by_url[url]
        except KeyError:
            pass
        parts = urllib.parse.urlsplit(url)
        key = (parts.scheme, parts.hostname or "")
        if key in self._proxies:
            found = self._proxies[key]
        else:
            found = proxy_for(*key)
            if len(self._proxies) < _HOST_MEMO_LIMIT:
                self._proxies[key] = found
        if key in self._proxies and len(self._by_url) < _HOST_MEMO_LIMIT:
            self._by_url[url] = found
        return found

    def session(self) -> Any:
        """The running loop's session, made on first use, closed with the loop."""
        return self._sessions.get()

    def _new_session(self) -> Any:
        import aiohttp

        if self._ssl is None:
            self._ssl = ssl_setting()
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=_CONNECTION_LIMIT, ssl=self._ssl, enable_cleanup_closed=False
            ),
            trust_env=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=True,
        )

    async def aclose(self) -> None:
        """Close this loop's session, and every session whose loop has closed."""
        await self._sessions.aclose()

    def close(self) -> None:
        """Close every session now (from outside their loops)."""
        self._sessions.close()


async def _aclose(session: Any) -> None:
    await session.close()


def _close_now(session: Any) -> None:
    connector = session.connector
    if connector is not None and not connector.closed:
        with contextlib.suppress(Exception):
            connector._close()  # the synchronous part of close(): closes the sockets
    with contextlib.suppress(Exception):
        session._connector = None
