"""The sync lean transport: a request leaves in one write (the bytes urllib3 would send,
over plain TCP and TLS), a failed write fails the request, a direct URL goes straight to
its host's pool (reused, closed by ``close()``, replaced once closed, none shared with a
forked child), and a proxied one through its proxy's manager."""

from __future__ import annotations

import datetime
import os
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from urllib3.connection import HTTPConnection

from respan_router._secrets import Credentials
from respan_router.errors import ProviderConnectionError
from respan_router.providers import LeanProvider, ProviderCall
from respan_router.providers._lean._one_write import pool_classes
from tests.upstream import FakeUpstream, Reply

_KEY = "sk-test-transport"
_MESSAGES = [{"role": "user", "content": "Say hello."}]
_BODY = b'{"model":"test-model","messages":[{"role":"user","content":"Say hello."}]}'
_HEADERS = {"Authorization": "Bearer k", "Content-Type": "application/json"}


class _Socket:
    """Records each ``sendall``; fails them when told to."""

    def __init__(self, fail: BaseException | None = None) -> None:
        self.writes: list[bytes] = []
        self.fail = fail

    def sendall(self, data: bytes) -> None:
        if self.fail is not None:
            raise self.fail
        self.writes.append(bytes(data))

    def settimeout(self, value: float | None) -> None:
        pass

    def close(self) -> None:
        pass


def _writes(cls: type[Any], body: Any, **kw: Any) -> list[bytes]:
    conn = cls("llm.example.test", 80)
    sock = _Socket()
    conn.sock = sock
    conn.request("POST", "/v1/chat/completions", body=body, headers=_HEADERS, **kw)
    return sock.writes


@pytest.mark.parametrize("chunked", [False, True])
def test_a_request_with_a_body_of_bytes_leaves_in_one_write(chunked: bool) -> None:
    one = _writes(pool_classes()["http"].ConnectionCls, _BODY, chunked=chunked)
    plain = _writes(HTTPConnection, _BODY, chunked=chunked)
    assert len(plain) > 1  # urllib3's own: the head, then the body
    assert one == [b"".join(plain)]


@pytest.mark.parametrize(
    "body", [None, "a text", [b"piece one, ", b"piece two"]], ids=["none", "text", "pieces"]
)
def test_any_other_body_goes_as_urllib3_sends_it(body: Any) -> None:
    assert _writes(pool_classes()["http"].ConnectionCls, body) == _writes(HTTPConnection, body)


def test_a_failed_write_fails_the_request_and_leaves_nothing_held() -> None:
    conn = pool_classes()["http"].ConnectionCls("llm.example.test", 80)
    conn.sock = _Socket(fail=ConnectionResetError("reset by peer"))
    with pytest.raises(ConnectionResetError):
        conn.request("POST", "/v1/chat/completions", body=_BODY, headers=_HEADERS)
    conn.close()
    sock = _Socket()
    conn.sock = sock
    conn.request("POST", "/v1/chat/completions", body=b"{}", headers=_HEADERS)
    (write,) = sock.writes  # the second request's bytes alone
    assert write.endswith(b"\r\n\r\n{}") and _BODY not in write


# -- over TLS --------------------------------------------------------------------------------


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path, list[bytes]]]:
    """A TLS server answering each request on a connection with a small JSON body; yields
    its port, its certificate and what it received."""
    import socket

    cert_file, key_file = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    listener = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def serve() -> None:
        try:
            raw, _ = listener.accept()
        except OSError:
            return
        with context.wrap_socket(raw, server_side=True) as conn:
            data = b""
            while True:
                head, sep, rest = data.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    None,
                )
                if sep and length is not None and len(rest) >= length:
                    received.append(head + sep + rest[:length])
                    data = rest[length:]
                    reply = b'{"ok":true}'
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n%s" % (len(reply), reply)
                    )
                    continue
                piece = conn.recv(65536)
                if not piece:
                    return
                data += piece

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], cert_file, received
    listener.close()
    thread.join(timeout=5)


def test_over_tls_a_request_leaves_whole_and_the_connection_is_reused(
    tls_server: tuple[int, Path, list[bytes]],
) -> None:
    port, cert_file, received = tls_server
    context = ssl.create_default_context(cafile=str(cert_file))
    pool = pool_classes()["https"]("localhost", port, ssl_context=context, retries=False)
    try:
        for _ in range(2):
            response = pool.urlopen("POST", "/v1/chat/completions", body=_BODY, headers=_HEADERS)
            assert response.status == 200 and response.data == b'{"ok":true}'
    finally:
        pool.close()
    assert len(received) == 2  # one connection (the server accepts one), two requests
    assert all(request.endswith(b"\r\n\r\n" + _BODY) for request in received)


# -- through the lean provider ---------------------------------------------------------------


def _call(base_url: str) -> ProviderCall:
    return ProviderCall(
        model="fast",
        litellm_model="openai/test-model",
        provider="openai",
        messages=_MESSAGES,
        credentials=Credentials({"api_key": _KEY, "api_base": base_url}),
        timeout=10.0,
    )


@pytest.fixture
def lean() -> Iterator[LeanProvider]:
    provider = LeanProvider()
    yield provider
    provider.close()


def test_sync_calls_and_streams_reuse_one_connection(
    upstream: FakeUpstream, lean: LeanProvider
) -> None:
    upstream.set_default(Reply("hello there"))
    for _ in range(3):
        assert lean.complete(_call(upstream.base_url)).choices[0].message.content == "hello there"
        assert [c for c in lean.stream(_call(upstream.base_url)) if c.choices]
    assert len(upstream.requests) == 6
    assert upstream.connections_accepted == 1
    request = upstream.requests[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {_KEY}"


def test_close_closes_the_pooled_connections_and_a_later_call_opens_anew(
    upstream: FakeUpstream, lean: LeanProvider
) -> None:
    upstream.set_default(Reply("again"))
    lean.complete(_call(upstream.base_url))
    assert upstream.open_connections == 1
    lean.close()
    assert upstream.wait_for(lambda: upstream.open_connections == 0)
    assert lean.complete(_call(upstream.base_url)).choices[0].message.content == "again"
    assert upstream.connections_accepted == 2


def test_a_closed_pool_is_replaced(upstream: FakeUpstream, lean: LeanProvider) -> None:
    upstream.set_default(Reply("again"))
    lean.complete(_call(upstream.base_url))
    route = lean._sync.route(upstream.base_url + "/chat/completions")
    route.opener.close()
    assert lean.complete(_call(upstream.base_url)).choices[0].message.content == "again"
    assert lean._sync.route(upstream.base_url + "/chat/completions").opener is not route.opener
    assert upstream.connections_accepted == 2


def test_a_refused_connection_is_a_connection_error(lean: LeanProvider) -> None:
    from tests.redis_helpers import free_port

    with pytest.raises(ProviderConnectionError):
        lean.complete(_call(f"http://127.0.0.1:{free_port()}/v1"))


def test_a_slow_reply_times_out_on_the_direct_route(
    upstream: FakeUpstream, lean: LeanProvider
) -> None:
    from respan_router.errors import ProviderTimeoutError

    upstream.enqueue(Reply("late", delay=1.0))
    call = _call(upstream.base_url)
    call.timeout = 0.2
    started = time.monotonic()
    with pytest.raises(ProviderTimeoutError):
        lean.complete(call)
    assert time.monotonic() - started < 5  # bounded by the timeout, not the reply


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() here")
def test_a_forked_child_opens_its_own_connection(
    upstream: FakeUpstream, lean: LeanProvider
) -> None:
    upstream.set_default(Reply("forked"))
    lean.complete(_call(upstream.base_url))  # the parent's pooled connection
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            answer = lean.complete(_call(upstream.base_url))
            code = 0 if answer.choices[0].message.content == "forked" else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert upstream.connections_accepted == 2  # the child's own
    assert lean.complete(_call(upstream.base_url)).choices[0].message.content == "forked"
    assert upstream.connections_accepted == 2  # the parent's, still usable


def test_a_proxied_url_goes_through_its_proxy_manager(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from respan_router.providers._lean._sync_transport import SyncTransport

    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example.test:3128")
    transport = SyncTransport()
    try:
        url = "http://llm.example.test/v1/chat/completions"
        route = transport.route(url)
        assert isinstance(route.opener, urllib3.ProxyManager)
        assert route.target == url  # the manager puts it in the proxy's absolute form
        monkeypatch.setenv("NO_PROXY", "direct.example.test")
        direct = transport.route("http://direct.example.test:8080/v1/chat/completions?x=1")
        assert direct.opener.host == "direct.example.test" and direct.opener.port == 8080
        assert direct.target == "/v1/chat/completions?x=1"
    finally:
        transport.close()
