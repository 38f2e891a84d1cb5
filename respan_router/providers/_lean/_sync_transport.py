"""The sync transport: pooled urllib3 connections (the cheapest pooled client measured).

Proxies come from the environment as httpx (litellm's sync client) reads them:
``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``ALL_PROXY`` and ``NO_PROXY``, looked up once per host.
TLS is verified as litellm verifies it.
"""

from __future__ import annotations

import ssl
import threading
import urllib.parse
from typing import Any

from respan_router._loops import after_fork
from respan_router.providers._lean._tls import proxy_for, ssl_setting

__all__ = ["SyncTransport"]

_POOL_SIZE = 100
_HOST_MEMO_LIMIT = 1024


class SyncTransport:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._direct: Any = None
        self._proxied: dict[str, Any] = {}
        self._route: dict[tuple[str, str], str | None] = {}
        self._by_url: dict[str, str | None] = {}
        after_fork(self, SyncTransport._after_fork)

    def _pool_kwargs(self) -> dict[str, Any]:
        setting = ssl_setting()
        if setting is False:
            return {"cert_reqs": ssl.CERT_NONE, "assert_hostname": False}
        return {"ssl_context": setting, "cert_reqs": ssl.CERT_REQUIRED}

    def pool(self, url: str) -> Any:
        """The pool manager for ``url``: direct, or through the environment's proxy."""
        try:
            proxy = self._by_url[url]  # a deployment's URL is the same on every call
        except KeyError:
            proxy = self._proxy(url)
        if proxy is None:
            if self._direct is None:
                with self._lock:
                    if self._direct is None:
                        import urllib3

                        self._direct = urllib3.PoolManager(
                            maxsize=_POOL_SIZE, retries=False, **self._pool_kwargs()
                        )
            return self._direct
        manager = self._proxied.get(proxy)
        if manager is None:
            with self._lock:
                manager = self._proxied.get(proxy)
                if manager is None:
                    import urllib3

                    manager = urllib3.ProxyManager(
                        proxy, maxsize=_POOL_SIZE, retries=False, **self._pool_kwargs()
                    )
                    self._proxied[proxy] = manager
        return manager

    def _proxy(self, url: str) -> str | None:
        """The environment's proxy for ``url``'s scheme and host (memoised per host, and
        per URL)."""
        parts = urllib.parse.urlsplit(url)
        key = (parts.scheme, parts.hostname or "")
        if key not in self._route:
            proxy = proxy_for(parts.scheme, parts.hostname or "")
            if len(self._route) < _HOST_MEMO_LIMIT:
                self._route[key] = proxy
        else:
            proxy = self._route[key]
        if key in self._route and len(self._by_url) < _HOST_MEMO_LIMIT:
            self._by_url[url] = proxy
        return proxy

    def _after_fork(self) -> None:
        """In a forked child: the pools' sockets are the parent's; start with none."""
        self._lock = threading.Lock()
        self._direct = None
        self._proxied = {}

    def close(self) -> None:
        with self._lock:
            managers = [self._direct, *self._proxied.values()]
            self._direct = None
            self._proxied.clear()
        for manager in managers:
            if manager is not None:
                manager.clear()
