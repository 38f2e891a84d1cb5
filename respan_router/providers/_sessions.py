"""The aiohttp sessions litellm's async calls go through: one per event loop, owned here.

litellm makes its own aiohttp sessions and keeps them past their loops: at exit they warn
("Unclosed client session") through its logging, which fails at interpreter shutdown. So
the litellm adapter hands litellm a session of its own per loop (litellm's
``shared_session``), made as litellm makes its own and closed when that loop shuts down.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

from respan_router._loops import PerLoop

__all__ = ["litellm_sessions"]


def litellm_sessions(litellm: Callable[[], ModuleType]) -> PerLoop[Any]:
    """The per-loop sessions for litellm's async calls (``litellm``: the module, loaded)."""

    def make() -> Any:
        import aiohttp

        module = litellm()
        from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler

        connector: dict[str, Any] = {}
        with contextlib.suppress(Exception):  # a private helper: its absence costs nothing
            connector = dict(AsyncHTTPHandler._get_ssl_connector_kwargs())
        trust_env = bool(getattr(module, "aiohttp_trust_env", False)) or (
            os.getenv("AIOHTTP_TRUST_ENV", "").lower() in ("1", "true", "yes")
        )
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(**connector),
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=trust_env,
        )

    return PerLoop(make, _aclose, _drop)


async def _aclose(session: Any) -> None:
    await session.close()


def _drop(session: Any) -> None:
    """Close without awaiting (its loop is gone): the synchronous part of close()."""
    connector = session.connector
    if connector is not None and not connector.closed:
        connector._close()
    session._connector = None
