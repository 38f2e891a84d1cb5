"""The Router over real HTTP: an ASGI app speaking the Respan gateway's contract.

``POST /v1/chat/completions`` (and ``/api/chat/completions``), ``GET /v1/models``, as
the in-process client reads and answers them (see docs/migrating.md), for services not
written in Python or that share one router process (a sidecar)::

    from respan_router.asgi import create_app
    app = create_app("router.yaml")          # or a Router, or a mapping

    # uvicorn respan_router.asgi:app  (with RESPAN_ROUTER_CONFIG=router.yaml)
    # python -m respan_router serve --config router.yaml

A configuration file holds the Router's settings plus ``server_api_keys``: the keys a
request must present as ``Authorization: Bearer <key>`` (none: no check; then bind to
loopback only).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from respan_router.config import load_config_file
from respan_router.router import Router
from respan_router.wire import RouterApp

__all__ = ["CONFIG_ENV", "RouterApp", "create_app", "load_server_config"]

#: The environment variable ``respan_router.asgi:app`` reads its configuration file from.
CONFIG_ENV = "RESPAN_ROUTER_CONFIG"


def load_server_config(path: str | os.PathLike[str]) -> tuple[Router, list[str]]:
    """A Router from a configuration file and the file's ``server_api_keys``."""
    values = load_config_file(path)
    keys = values.pop("server_api_keys", None) or []
    if isinstance(keys, str) or not all(isinstance(k, str) and k for k in keys):
        raise TypeError("server_api_keys must be a list of non-empty strings")
    return Router.from_config(values), list(keys)


def create_app(
    source: Router | str | os.PathLike[str] | Mapping[str, Any],
    *,
    api_keys: Iterable[str] | None = None,
) -> RouterApp:
    """The ASGI app serving a Router, or one built from a configuration file or mapping
    (whose ``server_api_keys`` apply unless ``api_keys`` is given)."""
    if isinstance(source, Router):
        return RouterApp(source, api_keys=api_keys)
    if isinstance(source, Mapping):
        values = dict(source)
        keys = values.pop("server_api_keys", None)
        router = Router.from_config(values)
        return RouterApp(router, api_keys=api_keys or keys, owns_router=True)
    router, keys = load_server_config(source)
    given = api_keys if api_keys is not None else keys
    return RouterApp(router, api_keys=given, owns_router=True)  # closed at its shutdown


def __getattr__(name: str) -> Any:
    """``app``: the app over the configuration file named by ``RESPAN_ROUTER_CONFIG``."""
    if name == "app":
        path = os.environ.get(CONFIG_ENV)
        if not path:
            raise RuntimeError(f"set {CONFIG_ENV} to a configuration file to serve")
        app = create_app(path)
        globals()["app"] = app
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
