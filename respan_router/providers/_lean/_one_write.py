"""urllib3 connections that send a request's head and body in one write.

urllib3 (through ``http.client``) sends a request's head, then its body, in two
``sendall`` calls: two system calls and two TCP segments (two TLS records) for a request
of a few hundred bytes, where aiohttp sends one. These connections hold what a request
with a body of bytes writes while urllib3 builds it, and send it whole at its end: the
same bytes, in one write (any other body goes as urllib3 sends it). Everything else
(connecting, proxies and tunnels, TLS, timeouts, the errors raised) is urllib3's own: a
write that fails, fails inside ``request()``, as urllib3's does.
"""

from __future__ import annotations

from typing import Any

__all__ = ["pool_classes"]

_classes: dict[str, type[Any]] | None = None


def _held_send(base: type[Any]) -> type[Any]:
    """``base`` (a urllib3 connection class) with its request's writes sent as one."""

    class OneWrite(base):  # type: ignore[misc]
        _held: list[bytes] | None = None

        def request(self, method: str, url: str, body: Any = None, *args: Any, **kw: Any) -> None:
            if type(body) is not bytes:  # a body read piece by piece goes as urllib3 sends it
                super().request(method, url, body, *args, **kw)
                return
            held: list[bytes] = []
            self._held = held
            try:
                super().request(method, url, body, *args, **kw)
            finally:
                self._held = None
            if held:
                super().send(b"".join(held))

        def send(self, data: Any) -> None:
            held = self._held
            if held is not None and type(data) is bytes:
                held.append(data)
                return
            super().send(data)

    OneWrite.__name__ = OneWrite.__qualname__ = f"OneWrite{base.__name__}"
    return OneWrite


def pool_classes() -> dict[str, type[Any]]:
    """urllib3's pool classes by scheme, their connections sending a request in one
    write (for a pool manager's ``pool_classes_by_scheme``)."""
    global _classes
    if _classes is None:
        from urllib3.connection import HTTPConnection, HTTPSConnection
        from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

        http = type(
            "OneWriteHTTPConnectionPool",
            (HTTPConnectionPool,),
            {"ConnectionCls": _held_send(HTTPConnection)},
        )
        https = type(
            "OneWriteHTTPSConnectionPool",
            (HTTPSConnectionPool,),
            {"ConnectionCls": _held_send(HTTPSConnection)},
        )
        _classes = {"http": http, "https": https}
    return _classes
