"""Google access tokens for Vertex AI: loaded as litellm loads them, cached, refreshed early.

The credentials are litellm's: a call's ``vertex_credentials`` (a service-account or other
google-auth JSON, as a dict, a JSON string or a file path) or, without them, Application
Default Credentials; litellm's ``VertexBase.load_auth`` reads them (with its cloud-platform
scope and its choice of project) and ``refresh_auth`` refreshes them, so a token and a
project are the ones litellm would use.

What differs is when the token endpoint is called. One entry per credential identity
(a digest of the credentials, and the project asked for) holds the token and its expiry:

- a fresh token is returned with no lock and no I/O;
- inside google-auth's refresh window before expiry (``REFRESH_THRESHOLD``) the token is
  still returned, and one refresh starts in a background thread;
- without a usable token (the first call, or an expired one) callers wait for one load or
  refresh, shared by all of them: a sync caller runs it in its own thread, an async
  caller in a worker thread (the event loop never waits on the token endpoint).

A failed load or refresh fails every caller waiting on it with :class:`TokenError` (a
message with no secret) and drops the entry: the next call loads the credentials again,
as litellm does when asked to re-authenticate. A failed background refresh keeps the
current token until it expires. A forked child starts with no entry.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import re
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

from respan_router._loops import after_fork

__all__ = ["GoogleTokens", "TokenError", "google_auth_installed"]

_LIMIT = 256  # entries kept (credential identities); the oldest goes first
_RETRY_AFTER_FAILED_REFRESH = 1.0  # seconds before a failed background refresh is retried
# google-auth's window before expiry in which a token is refreshed (older releases: none).
_REFRESH_THRESHOLD = datetime.timedelta(minutes=3, seconds=45)
_PEM = re.compile(r"-----BEGIN [^-]+-----.*?(-----END [^-]+-----|$)", re.DOTALL)


class TokenError(Exception):
    """No access token could be had (bad credentials, a refused grant, no ADC)."""


def google_auth_installed() -> bool:
    """Whether google-auth (and the transport litellm refreshes with) can be imported."""
    try:
        import google.auth
        import google.auth.transport.requests
        import google.oauth2.service_account  # noqa: F401
    except ImportError:
        return False
    return True


def _identity(credentials: Any, project: str | None) -> bytes:
    """A digest naming the credentials and project (the cache key holds no secret)."""
    if credentials is None:
        text = "adc"
    elif isinstance(credentials, str):
        text = "s" + credentials
    elif isinstance(credentials, Mapping):
        text = "j" + json.dumps(credentials, sort_keys=True, default=str)
    else:
        text = f"?{type(credentials).__name__}:{id(credentials)}"
    return hashlib.blake2b(f"{text}\0{project}".encode(), digest_size=16).digest()


def _scrubbed(exc: BaseException, credentials: Any) -> TokenError:
    """A :class:`TokenError` saying what failed, without key material or the credentials."""
    text = _PEM.sub("***", str(exc))
    if isinstance(credentials, str) and len(credentials) >= 4:
        text = text.replace(credentials, "***")
    elif isinstance(credentials, Mapping):
        for value in credentials.values():
            if isinstance(value, str) and len(value) >= 16:
                text = text.replace(value, "***")
    return TokenError(f"Vertex AI access token not obtained ({type(exc).__name__}): {text}")


def _epoch(expiry: datetime.datetime | None) -> float | None:
    """google-auth's naive-UTC expiry as seconds since the epoch."""
    if expiry is None:
        return None
    return expiry.replace(tzinfo=datetime.UTC).timestamp()


class _Entry:
    """One credential identity's google-auth credentials and token (never in a repr)."""

    __slots__ = ("credentials", "expire_at", "next_try", "pending", "project", "stale_at", "token")

    def __init__(self) -> None:
        self.credentials: Any = None
        self.project: str | None = None
        self.token: str | None = None
        self.stale_at = 0.0  # from here on, refresh in the background
        self.expire_at = 0.0  # from here on, wait for a refresh
        self.next_try = 0.0
        self.pending: Future[tuple[str, str]] | None = None

    def __repr__(self) -> str:
        return f"<token entry project={self.project!r} expire_at={self.expire_at}>"

    def usable(self, now: float) -> bool:
        return self.token is not None and now < self.expire_at


class GoogleTokens:
    """Access tokens (and projects) per credential identity; see the module docstring."""

    def __init__(self) -> None:
        self._entries: dict[bytes, _Entry] = {}
        self._lock = threading.Lock()
        self._vertex: Any = None  # litellm's VertexBase: loads and refreshes credentials
        after_fork(self, GoogleTokens._reset)

    def __repr__(self) -> str:
        return f"GoogleTokens(entries={len(self._entries)})"

    def _reset(self) -> None:
        """In a forked child: nothing of the parent's (its refresh threads are gone)."""
        self._lock = threading.Lock()
        self._entries = {}
        self._vertex = None

    # -- the two ways in ---------------------------------------------------------------

    def get(self, credentials: Any, project: str | None) -> tuple[str, str]:
        """The token and project for a sync call (waits for a load or refresh when there
        is no usable token; at most one runs at a time per identity).

        Raises:
            TokenError: the credentials gave no token.
        """
        key = _identity(credentials, project)
        hit = self._usable(key, credentials, project)
        if hit is not None:
            return hit
        future, mine = self._claim(key)
        if mine:
            self._run(key, future, credentials, project)
        return future.result()

    async def aget(self, credentials: Any, project: str | None) -> tuple[str, str]:
        """:meth:`get` for async calls: a load or refresh runs in a worker thread."""
        key = _identity(credentials, project)
        hit = self._usable(key, credentials, project)
        if hit is not None:
            return hit
        future, mine = self._claim(key)
        if mine:
            self._start(key, future, credentials, project)
        return await asyncio.wrap_future(future)

    def peek(self, credentials: Any, project: str | None) -> tuple[str, str] | None:
        """The token and project when a usable token is at hand, else None; never waits
        (a token near expiry starts its background refresh)."""
        return self._usable(_identity(credentials, project), credentials, project)

    # -- the cache ---------------------------------------------------------------------

    def _usable(self, key: bytes, credentials: Any, project: str | None) -> tuple[str, str] | None:
        """A usable token, starting a background refresh when it is near expiry."""
        entry = self._entries.get(key)
        if entry is None or entry.token is None or entry.project is None:
            return None
        now = time.time()
        if now < entry.stale_at:
            return entry.token, entry.project
        if now >= entry.expire_at:
            return None
        token, resolved = entry.token, entry.project
        if entry.pending is None and now >= entry.next_try:
            future, mine = self._claim(key)
            if mine:
                self._start(key, future, credentials, project)
        return token, resolved

    def _claim(self, key: bytes) -> tuple[Future[tuple[str, str]], bool]:
        """The load or refresh in flight for ``key``, or a new one the caller runs."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                if len(self._entries) >= _LIMIT:
                    self._evict()
                entry = self._entries[key] = _Entry()
            if entry.pending is not None:
                return entry.pending, False
            future: Future[tuple[str, str]] = Future()
            future.set_running_or_notify_cancel()  # never cancelled by a waiter
            entry.pending = future
            return future, True

    def _evict(self) -> None:
        for key, entry in list(self._entries.items()):
            if entry.pending is None:
                del self._entries[key]
                return

    def _start(
        self, key: bytes, future: Future[tuple[str, str]], credentials: Any, project: str | None
    ) -> None:
        thread = threading.Thread(
            target=self._run,
            args=(key, future, credentials, project),
            name="respan-google-token",
            daemon=True,
        )
        thread.start()

    # -- the token endpoint (off the event loop) ----------------------------------------

    def _run(
        self, key: bytes, future: Future[tuple[str, str]], credentials: Any, project: str | None
    ) -> None:
        """Load or refresh the entry's credentials, then settle ``future`` for all."""
        entry = self._entries.get(key)
        try:
            if entry is None or entry.pending is not future:
                raise RuntimeError("token entry replaced")  # a fork or eviction raced us
            vertex = self._vertex_base()
            if entry.credentials is None:
                loaded, resolved = vertex.load_auth(credentials=credentials, project_id=project)
            else:
                loaded, resolved = entry.credentials, entry.project
                vertex.refresh_auth(loaded)
            token = loaded.token
            if not isinstance(token, str) or not token or not resolved:
                raise ValueError("Could not resolve credentials token or project_id")
        except Exception as exc:
            self._failed(key, entry, future, _scrubbed(exc, credentials))
            return
        expires = _epoch(getattr(loaded, "expiry", None))
        with self._lock:
            entry.credentials, entry.project, entry.token = loaded, str(resolved), token
            if expires is None:  # a token that does not expire
                entry.stale_at = entry.expire_at = float("inf")
            else:
                entry.expire_at = expires
                entry.stale_at = expires - self._threshold()
            entry.pending = None
        future.set_result((token, str(resolved)))

    def _failed(
        self, key: bytes, entry: _Entry | None, future: Future[tuple[str, str]], error: TokenError
    ) -> None:
        with self._lock:
            if entry is not None and entry.pending is future:
                entry.pending = None
                if entry.usable(time.time()):  # a background refresh: keep the token
                    entry.next_try = time.time() + _RETRY_AFTER_FAILED_REFRESH
                elif self._entries.get(key) is entry:
                    del self._entries[key]  # the next call loads the credentials again
        future.set_exception(error)

    def _vertex_base(self) -> Any:
        if self._vertex is None:
            from litellm.llms.vertex_ai.vertex_llm_base import VertexBase

            self._vertex = VertexBase()
        return self._vertex

    @staticmethod
    def _threshold() -> float:
        """Seconds before expiry when google-auth calls a token stale (3 min 45 s)."""
        from google.auth import _helpers

        threshold = getattr(_helpers, "REFRESH_THRESHOLD", _REFRESH_THRESHOLD)
        return float(threshold.total_seconds())
