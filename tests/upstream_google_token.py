"""A local Google OAuth token endpoint for tests: service-account grants on a loopback port.

:class:`GoogleTokenServer` answers ``POST /token`` as Google's token endpoint answers a
service account's JWT-bearer grant: it checks the grant type, the assertion's RS256
signature against the account's public key, its audience and issuer and its scope,
then issues ``{"access_token": ..., "expires_in": ..., "token_type": "Bearer"}``.
:meth:`GoogleTokenServer.service_account` is the account's JSON (a real RSA key made for
the test, ``token_uri`` pointing here), as google-auth and litellm read it::

    with GoogleTokenServer() as tokens:
        info = tokens.service_account(project_id="test-project")
        ...  # vertex_credentials=info (or json.dumps(info), or a file holding it)

Scripting: ``expires_in`` (seconds the next tokens live), ``fail(status)`` (answer every
grant with an OAuth error, ``None`` to stop), ``hold()`` / ``release()`` (keep grants
waiting until released, to line up concurrent callers). ``grants`` counts the grants
answered with a token; ``issued`` lists those tokens.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = ["CLOUD_PLATFORM", "GoogleTokenServer"]

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
# google-auth signs every grant for Google's endpoint, whatever ``token_uri`` says.
_AUDIENCE = "https://oauth2.googleapis.com/token"
_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_KEY: rsa.RSAPrivateKey | None = None
_KEY_LOCK = threading.Lock()


def _key() -> rsa.RSAPrivateKey:
    """One RSA key per test process (making one takes a while)."""
    global _KEY
    with _KEY_LOCK:
        if _KEY is None:
            _KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return _KEY


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class _Server(ThreadingHTTPServer):
    # A burst of concurrent connects (10 streams at once) must not overflow the listen
    # backlog (socketserver's default is 5): a dropped SYN is retried after a second.
    request_queue_size = 128
    daemon_threads = True
    block_on_close = False
    owner: GoogleTokenServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients closing keep-alive connections


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("content-length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        owner._wait_while_held()
        status, payload = owner._answer(self.path, form)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class GoogleTokenServer:
    """Google's OAuth token endpoint for service accounts, on 127.0.0.1."""

    def __init__(self, *, expires_in: int = 3600) -> None:
        self.expires_in = expires_in
        self.failure: int | None = None
        self._lock = threading.Lock()
        self._open = threading.Event()
        self._open.set()
        self._waiting = 0
        self._issued: list[str] = []
        self._rejected = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._public = _key().public_key()

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> GoogleTokenServer:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.owner = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._open.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> GoogleTokenServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- what clients are given --------------------------------------------------------

    @property
    def token_uri(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    def service_account(self, project_id: str = "test-project") -> dict[str, str]:
        """A service account's JSON key file, signed grants going to this endpoint."""
        pem = _key().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return {
            "type": "service_account",
            "project_id": project_id,
            "private_key_id": "0123456789abcdef",
            "private_key": pem.decode(),
            "client_email": f"router-test@{project_id}.iam.gserviceaccount.com",
            "client_id": "100000000000000000001",
            "token_uri": self.token_uri,
        }

    # -- scripting and observations ----------------------------------------------------

    def fail(self, status: int | None) -> None:
        """Answer every grant with this OAuth error status (None: issue tokens again)."""
        self.failure = status

    def hold(self) -> None:
        """Keep grants waiting (unanswered) until :meth:`release`."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    @property
    def waiting(self) -> int:
        """Grants received and held."""
        with self._lock:
            return self._waiting

    @property
    def grants(self) -> int:
        with self._lock:
            return len(self._issued)

    @property
    def issued(self) -> list[str]:
        with self._lock:
            return list(self._issued)

    @property
    def rejected(self) -> int:
        with self._lock:
            return self._rejected

    def wait_for(self, predicate: Any, timeout: float = 5.0) -> bool:
        end = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= end:
                return bool(predicate())
            time.sleep(0.005)
        return True

    # -- the endpoint ------------------------------------------------------------------

    def _wait_while_held(self) -> None:
        with self._lock:
            self._waiting += 1
        self._open.wait(10)
        with self._lock:
            self._waiting -= 1

    def _answer(self, path: str, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        problem = self._check(path, form)
        if problem is not None or self.failure is not None:
            with self._lock:
                self._rejected += 1
            status = self.failure if problem is None and self.failure is not None else 400
            return status, {"error": "invalid_grant", "error_description": problem or "denied"}
        with self._lock:
            token = f"ya29.fake-{len(self._issued) + 1}-{time.monotonic_ns()}"
            self._issued.append(token)
        return 200, {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}

    def _check(self, path: str, form: dict[str, list[str]]) -> str | None:
        """Why a grant is refused (a bad signature, audience or scope), or None."""
        if path != "/token" or form.get("grant_type") != [_GRANT]:
            return "unsupported grant"
        try:
            header, claims, signature = form["assertion"][0].split(".")
            self._public.verify(
                _b64decode(signature),
                f"{header}.{claims}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
            payload = json.loads(_b64decode(claims))
        except Exception:
            return "bad assertion"
        if payload.get("aud") != _AUDIENCE or not str(payload.get("iss", "")).endswith(
            ".iam.gserviceaccount.com"
        ):
            return "wrong audience or issuer"
        if CLOUD_PLATFORM not in str(payload.get("scope", "")).split():
            return "missing scope"
        with contextlib.suppress(Exception):
            if float(payload["exp"]) < time.time():
                return "assertion expired"
        return None
