"""The ASGI app in-process (no server): authentication, routes and methods."""

from __future__ import annotations

import httpx
import pytest

from respan_router import Router
from respan_router.asgi import create_app
from respan_router.testing import FakeProvider, Reply

KEY = "srv-key-0123456789"
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def _client(**kw: object) -> httpx.AsyncClient:
    app = create_app(Router(provider=FakeProvider(Reply("hello"))), **kw)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sidecar")


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (f"Bearer {KEY}", 200),
        (f"bearer {KEY}", 200),
        (f"Bearer {KEY}x", 401),
        (f"Basic {KEY}", 401),
        ("Bearer ", 401),
        (None, 401),
    ],
)
async def test_api_keys(authorization: str | None, status: int) -> None:
    headers = {"authorization": authorization} if authorization else {}
    async with _client(api_keys=[KEY]) as client:
        response = await client.post("/v1/chat/completions", json=BODY, headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.json()["error"]["code"] == "invalid_api_key"
        assert KEY not in response.text
    else:
        assert response.json()["choices"][0]["message"]["content"] == "hello"


async def test_routes_methods_and_bad_bodies() -> None:
    async with _client() as client:
        assert (await client.post("/api/chat/completions", json=BODY)).status_code == 200
        assert (await client.get("/v1/chat/completions")).status_code == 405
        missing = await client.post("/v1/embeddings", json=BODY)
        assert missing.status_code == 404
        assert missing.json()["error"]["type"] == "not_found_error"
        bad = await client.post("/v1/chat/completions", content=b"{not json")
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "body"
        listed = await client.post("/v1/chat/completions", json=[1, 2])
        assert listed.status_code == 400
        models = await client.get("/v1/models")
        assert models.json() == {"object": "list", "data": []}


def test_app_repr_hides_keys() -> None:
    app = create_app(Router(provider=FakeProvider()), api_keys=[KEY])
    assert KEY not in repr(app) and app.requires_key
