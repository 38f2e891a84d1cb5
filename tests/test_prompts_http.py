"""A prompt routed over real HTTP, through litellm, to the local fake upstream."""

from __future__ import annotations

from pathlib import Path

from respan_router import Router
from tests.upstream import Error, FakeUpstream, Reply

KEY = "sk-prompts-http-test-key-0001"
PROMPT = """{
  "id": "triage",
  "versions": [{
    "version": 1,
    "model": "openai/primary",
    "fallback_models": ["openai/backup"],
    "temperature": 0.2,
    "messages": [
      {"role": "system", "content": "Triage tickets for {{ team }}."},
      {"role": "user", "content": "{{ ticket.title }}: {{ ticket.body }}"}
    ]
  }]
}"""


def _router(upstream: FakeUpstream, folder: Path) -> Router:
    (folder / "triage.json").write_text(PROMPT, encoding="utf-8")
    return Router(
        providers={"openai": {"api_key": KEY, "api_base": upstream.base_url}},
        prompts_dir=folder,
    )


def test_a_prompt_falls_back_over_http(upstream: FakeUpstream, tmp_path: Path) -> None:
    upstream.set_default(Error(503), model="primary")
    upstream.set_default(Reply("route to billing"), model="backup")
    variables = {"team": "support", "ticket": {"title": "Refund", "body": "charged twice"}}
    out = _router(upstream, tmp_path).complete(
        prompt={"prompt_id": "triage", "variables": variables}
    )
    assert out.choices[0].message.content == "route to billing"
    assert out.model == "backup"  # as the upstream answered
    expected = [
        {"role": "system", "content": "Triage tickets for support."},
        {"role": "user", "content": "Refund: charged twice"},
    ]
    assert out.prompt_message == expected
    assert [r.body["model"] for r in upstream.requests] == ["primary", "backup"]
    for request in upstream.requests:
        assert request.body["messages"] == expected
        assert request.body["temperature"] == 0.2
        assert request.headers["authorization"] == f"Bearer {KEY}"


async def test_a_prompt_streams_over_http(upstream: FakeUpstream, tmp_path: Path) -> None:
    upstream.set_default(Reply("on it", pieces=2), model="primary")
    stream = await _router(upstream, tmp_path).acomplete(
        prompt={"prompt_id": "triage", "variables": {"team": "t", "ticket": {"title": "a",
                                                                             "body": "b"}}},
        stream=True,
    )  # fmt: skip
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "on it"
    assert stream.prompt_message is not None and len(stream.prompt_message) == 2
    (request,) = upstream.requests
    assert request.body["stream"] is True and request.body["messages"][1]["content"] == "a: b"
