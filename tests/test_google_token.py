"""Vertex AI access tokens: loaded as litellm loads them, cached per credential identity,
refreshed before expiry off the hot path, one load or refresh for any number of
concurrent callers, never on an event loop, reset in a forked child, no secret in errors."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from respan_router.providers._lean import _google_token
from respan_router.providers._lean._google_token import (
    GoogleTokens,
    TokenError,
    google_auth_installed,
)
from tests.upstream_google_token import GoogleTokenServer

pytestmark = pytest.mark.skipif(not google_auth_installed(), reason="google-auth not installed")


@pytest.fixture
def server() -> Iterator[GoogleTokenServer]:
    with GoogleTokenServer() as tokens:
        yield tokens


def test_a_token_is_loaded_once_and_served_from_the_cache(server: GoogleTokenServer) -> None:
    info = server.service_account("proj-a")
    tokens = GoogleTokens()
    first = tokens.get(info, None)
    assert first == (server.issued[0], "proj-a")  # the account's project, as litellm takes it
    assert tokens.get(dict(info), None) == first  # the same identity, another dict
    assert server.grants == 1
    # A JSON string or a file holding it is the same account but another identity (as in
    # litellm's cache); an explicit project wins over the account's.
    assert tokens.get(json.dumps(info), "proj-b")[1] == "proj-b"
    assert server.grants == 2


def test_a_credentials_file_and_adc(
    server: GoogleTokenServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(server.service_account("from-file")))
    tokens = GoogleTokens()
    assert tokens.get(str(path), None)[1] == "from-file"
    # No credentials: Application Default Credentials (here, the file the environment names).
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    token, project = tokens.get(None, None)
    assert project == "from-file"
    assert token == server.issued[-1]
    assert server.grants == 2


def test_a_stale_token_is_served_while_one_background_refresh_replaces_it(
    server: GoogleTokenServer,
) -> None:
    server.expires_in = 200  # inside google-auth's 225 s refresh window at once
    info = server.service_account()
    tokens = GoogleTokens()
    first, _ = tokens.get(info, None)
    server.hold()
    # Stale: served at once, and one refresh starts in the background for all callers.
    assert [tokens.get(info, None)[0] for _ in range(5)] == [first] * 5
    assert server.wait_for(lambda: server.waiting == 1)
    server.expires_in = 3600
    server.release()
    assert server.wait_for(lambda: tokens.get(info, None)[0] != first)
    assert server.grants == 2


def test_an_expired_token_is_refreshed_before_use(server: GoogleTokenServer) -> None:
    server.expires_in = 0
    info = server.service_account()
    tokens = GoogleTokens()
    first, _ = tokens.get(info, None)
    second, _ = tokens.get(info, None)
    assert (first, second) == tuple(server.issued)


def test_concurrent_sync_callers_share_one_load(server: GoogleTokenServer) -> None:
    info = server.service_account()
    tokens = GoogleTokens()
    server.hold()
    got: list[tuple[str, str]] = []
    threads = [
        threading.Thread(target=lambda: got.append(tokens.get(info, None))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    assert server.wait_for(lambda: server.waiting == 1)
    server.release()
    for thread in threads:
        thread.join(5)
    assert server.grants == 1
    assert got == [(server.issued[0], "test-project")] * 8


async def test_async_callers_share_one_load_off_the_event_loop(server: GoogleTokenServer) -> None:
    info = server.service_account()
    tokens = GoogleTokens()
    server.hold()
    waiting = [asyncio.ensure_future(tokens.aget(info, None)) for _ in range(20)]
    # The loop keeps running while the token endpoint holds the grant.
    ticks = 0
    while server.waiting < 1:
        ticks += 1
        await asyncio.sleep(0.005)
    for _ in range(3):
        await asyncio.sleep(0)
        ticks += 1
    assert not any(task.done() for task in waiting)
    server.release()
    results = await asyncio.gather(*waiting)
    assert ticks > 0
    assert server.grants == 1
    assert set(results) == {(server.issued[0], "test-project")}


async def test_an_async_stale_token_refreshes_in_the_background(server: GoogleTokenServer) -> None:
    server.expires_in = 200
    info = server.service_account()
    tokens = GoogleTokens()
    first, _ = await tokens.aget(info, None)
    server.hold()
    assert (await tokens.aget(info, None))[0] == first  # not waiting on the held grant
    assert server.wait_for(lambda: server.waiting == 1)
    server.expires_in = 3600  # the refreshed token is fresh: no further refresh starts
    server.release()
    while server.grants < 2:
        await asyncio.sleep(0.005)
    while (await tokens.aget(info, None))[0] == first:
        await asyncio.sleep(0.005)
    assert server.grants == 2


def _assert_no_secret(text: str, info: dict[str, str]) -> None:
    assert "PRIVATE KEY" not in text
    assert info["private_key"].splitlines()[1] not in text


def test_a_refused_grant_is_a_token_error_without_the_key(server: GoogleTokenServer) -> None:
    info = server.service_account()
    tokens = GoogleTokens()
    server.fail(400)
    for credentials in (info, json.dumps(info)):
        with pytest.raises(TokenError) as caught:
            tokens.get(credentials, None)
        _assert_no_secret(str(caught.value), info)
        _assert_no_secret(repr(caught.value), info)
        assert caught.value.__cause__ is None and caught.value.__context__ is None
        assert "invalid_grant" in str(caught.value)
    # Nothing is kept of a failed load: the next call loads the credentials again.
    server.fail(None)
    assert tokens.get(info, None)[0] == server.issued[0]
    _assert_no_secret(repr(tokens), info)


def test_unusable_credentials_fail_without_echoing_them(server: GoogleTokenServer) -> None:
    info = server.service_account()
    broken = json.dumps(info).replace("BEGIN PRIVATE KEY-----\\n", "BEGIN PRIVATE KEY-----\\nxx")
    with pytest.raises(TokenError) as caught:
        GoogleTokens().get(broken, None)
    _assert_no_secret(str(caught.value), info)
    assert server.grants == 0


async def test_a_refused_grant_fails_every_async_waiter_once(server: GoogleTokenServer) -> None:
    info = server.service_account()
    tokens = GoogleTokens()
    server.fail(403)
    server.hold()
    waiting = [asyncio.ensure_future(tokens.aget(info, None)) for _ in range(5)]
    while server.waiting < 1:
        await asyncio.sleep(0.005)
    server.release()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, TokenError) for r in results)
    assert server.rejected == 1


def test_a_failed_background_refresh_keeps_the_current_token(server: GoogleTokenServer) -> None:
    server.expires_in = 200
    info = server.service_account()
    tokens = GoogleTokens()
    first, _ = tokens.get(info, None)
    server.fail(400)
    assert tokens.get(info, None)[0] == first
    assert server.wait_for(lambda: server.rejected == 1)
    assert tokens.get(info, None)[0] == first


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() here")
def test_a_forked_child_loads_its_own_token(server: GoogleTokenServer) -> None:
    info = server.service_account()
    tokens = GoogleTokens()
    first, _ = tokens.get(info, None)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            token, _ = tokens.get(info, None)
            os.write(write, token.encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    child_token = os.read(read, 200).decode()
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child_token == server.issued[1] != first
    assert tokens.get(info, None)[0] == first  # the parent keeps its own


def test_without_google_auth_nothing_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(sys.modules):
        if name == "google.auth" or name.startswith(("google.auth.", "google.oauth2")):
            monkeypatch.delitem(sys.modules, name)
    blocked: dict[str, Any] = {"google.auth": None, "google.oauth2": None}
    for name, value in blocked.items():
        monkeypatch.setitem(sys.modules, name, value)
    assert not _google_token.google_auth_installed()
