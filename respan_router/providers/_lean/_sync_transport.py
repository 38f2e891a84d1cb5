"""The sync transport: pooled urllib3 connections (the cheapest pooled client measured).

Proxies come from the environment as httpx (litellm's sync client) reads them:
``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``ALL_PROXY`` and ``NO_PROXY``, looked up once per host.
TLS is verified as litellm verifies it. A request goes straight to its host's pool (the
pool manager's lookup made once per URL) and leaves in one write (``_one_write``).
"""

from __future__ import annotations

import ssl
import threading
import urllib.parse
from typing import Any, NamedTuple

from respan_router._loops import after_fork
from respan_router.providers._lean._one_write import pool_classes
from respan_router.providers._lean._tls import proxy_for, ssl_setting

__all__ = ["Route", "SyncTransport"]

_POOL_SIZE = 100
_HOST_MEMO_LIMIT = 1024
_HOSTS = 64  # direct pools kept (and closed) by the transport; past them, the manager's


class Route(NamedTuple):
    """Where one request is sent: ``opener.urlopen(method, target, ...)``."""

    opener: Any  # a urllib3 pool (``target`` its request target) or a pool manager
    target: str


class SyncTransport:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._direct: Any = None
        self._proxied: dict[str, Any] = {}
        self._route: dict[tuple[str, str], str | None] = {}
        self._by_url: dict[str, str | None] = {}
        self._routes: dict[str, Route] = {}
        self._pools: dict[tuple[str, str | None, int], Any] = {}
        after_fork(self, SyncTransport._after_fork)

    def _pool_kwargs(self) -> dict[str, Any]:
        setting = ssl_setting()
        if setting is False:
            return {"cert_reqs": ssl.CERT_NONE, "assert_hostname": False}
        return {"ssl_context": setting, "cert_reqs": ssl.CERT_REQUIRED}

    def route(self, url: str) -> Route:
        """Where a request for ``url`` goes: a direct URL to its host's pool, with its
        request target (the pool manager's lookup and parse, done once per URL); a proxied
        one to its proxy's pool manager."""
        found = self._routes.get(url)
        if found is not None and found.opener.pool is not None:  # a pool closed: anew
            return found
        manager = self._manager(url)
        if manager is not self._direct:
            return Route(manager, url)
        from urllib3.util import parse_url

        parts = parse_url(url)
        if parts.scheme is None:  # the pool manager's own way (it warns of it)
            return Route(manager, url)
        pool = self._host_pool(manager, parts.scheme, parts.host, parts.port)
        if pool is None:  # past the hosts this transport keeps: the manager's lookup
            return Route(manager, url)
        route = Route(pool, parts.request_uri)
        if len(self._routes) < _HOST_MEMO_LIMIT:
            self._routes[url] = route
        return route

    def _host_pool(self, manager: Any, scheme: str, host: str | None, port: int | None) -> Any:
        """The direct pool of a host, made as ``manager`` makes its pools (its settings, its
        pool classes) and kept and closed here; None past ``_HOSTS`` hosts."""
        from urllib3.connectionpool import port_by_scheme

        key = (scheme, host, port or port_by_scheme.get(scheme, 80))
        pool = self._pools.get(key)
        if pool is not None and pool.pool is not None:
            return pool
        with self._lock:
            pool = self._pools.get(key)
            if pool is None or pool.pool is None:
                if len(self._pools) >= _HOSTS and key not in self._pools:
                    return None
                # The manager's hook for making a pool (it is not kept by the manager).
                pool = manager._new_pool(*key)
                self._pools[key] = pool
        return pool

    def _manager(self, url: str) -> Any:
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

                        direct = urllib3.PoolManager(
                            maxsize=_POOL_SIZE, retries=False, **self._pool_kwargs()
                        )
                        direct.pool_classes_by_scheme = pool_classes()
                        self._direct = direct
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
                    manager.pool_classes_by_scheme = pool_classes()
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
        self._routes = {}
        self._pools = {}

    def close(self) -> None:
        """Close the pools' idle connections (one in use is closed when it is released)."""
        with self._lock:
            managers = [self._direct, *self._proxied.values()]
            pools = list(self._pools.values())
            self._direct = None
            self._proxied.clear()
            self._routes.clear()
            self._pools.clear()
        for pool in pools:
            pool.close()
        for manager in managers:
            if manager is not None:
                manager.clear()
