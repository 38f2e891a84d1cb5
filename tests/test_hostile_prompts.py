"""Prompts against hostile templates and files: every render is bounded in steps and
time (the call's total_timeout included), and no credential rides in a prompt file."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest

from respan_router import InvalidRequestError, Router
from respan_router.errors import PromptLoadError
from respan_router.execution._executor import Executor
from respan_router.prompts._stage import PromptStage
from respan_router.request import build_request
from respan_router.testing import FakeProvider

USER = [{"role": "user", "content": "hi"}]
SECRET = "sk-prompt-file-0123456789"


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def router(fake: FakeProvider) -> Router:
    return Router(provider=fake)


def _add(router: Router, text: str, **config: Any) -> None:
    router.prompts.add(id="p", model="m", messages=[{"role": "system", "content": text}], **config)


HOSTILE = [
    ("{% for i in range(n) %}{% for j in range(n) %}x{% endfor %}{% endfor %}", {"n": 99_999}),
    (
        "{% for a in xs %}{% for b in xs %}{% for c in xs %}.{% endfor %}{% endfor %}{% endfor %}",
        {"xs": list(range(1_000))},
    ),
    (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(n) }}",
        {"n": 60},
    ),
    ("{{ 'x' * n }}", {"n": 10**10}),
    ("{{ items * n }}", {"items": [1, 2], "n": 10**9}),
    ("{{ 10 ** n }}", {"n": 10**9}),
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", {}),
]


@pytest.mark.parametrize(("text", "variables"), HOSTILE)
def test_a_runaway_template_is_stopped_with_a_typed_error(
    router: Router, fake: FakeProvider, text: str, variables: dict[str, Any]
) -> None:
    _add(router, text)
    started = time.monotonic()
    with pytest.raises(InvalidRequestError) as info:
        router.complete(
            prompt={"prompt_id": "p", "variables": variables}, messages=USER, total_timeout=1.0
        )
    assert time.monotonic() - started < 10  # stopped, not finished
    assert info.value.field is not None and info.value.field.startswith("prompt")
    assert fake.calls == []


async def test_a_runaway_template_is_stopped_on_the_async_path(
    router: Router, fake: FakeProvider
) -> None:
    _add(router, HOSTILE[0][0])
    with pytest.raises(InvalidRequestError):
        await router.acomplete(prompt={"prompt_id": "p", "variables": {"n": 99_999}}, messages=USER)
    assert fake.calls == []


def test_the_calls_total_timeout_bounds_the_render(router: Router, fake: FakeProvider) -> None:
    # Few steps, each slow: only the clock stops it.
    _add(router, "{% for i in range(100000) %}{{ big | join(',') }}{% endfor %}")
    variables = {"big": ["word"] * 20_000}
    with pytest.raises(InvalidRequestError) as info:
        router.complete(
            prompt={"prompt_id": "p", "variables": variables},
            messages=USER,
            total_timeout=0.05,
        )
    assert "longer than 0.05 s" in str(info.value)
    assert fake.calls == []


def test_bounded_loops_still_render(router: Router, fake: FakeProvider) -> None:
    _add(
        router,
        "{% for i in range(3) %}{% for j in xs %}{{ i }}{{ j }}{{ loop.index }} {% endfor %}"
        "{% endfor %}",
    )
    router.complete(prompt={"prompt_id": "p", "variables": {"xs": ["a", "b"]}}, messages=USER)
    assert fake.calls[0].messages[0]["content"] == "0a1 0b2 1a1 1b2 2a1 2b2 "


def test_render_time_is_taken_from_the_calls_deadline(router: Router) -> None:
    _add(router, "{% for i in range(100) %}{{ i }}{% endfor %}")
    stage = PromptStage(router.prompts)
    call = {"prompt": {"prompt_id": "p"}, "messages": USER, "total_timeout": 10}
    request = stage.apply(build_request(call))
    assert request.prompt is not None and request.prompt.render_seconds > 0
    rendered = replace(request.prompt, render_seconds=4.0)
    request.prompt = rendered
    executor = Executor(clock=lambda: 100.0)
    assert executor.deadline(request) == pytest.approx(106.0)


@pytest.mark.parametrize(
    ("config", "field"),
    [
        (
            {"load_balance_models": [{"model": "a", "credentials": {"api_key": SECRET}}]},
            "versions[0].load_balance_models[0].credentials",
        ),
        (
            {
                "load_balance_group": {
                    "group_id": "g",
                    "models": [{"model": "a"}, {"model": "b", "credentials": {"api_key": SECRET}}],
                }
            },
            "versions[0].load_balance_group.models[1].credentials",
        ),
    ],
)
def test_credentials_in_a_prompts_load_balanced_models_are_refused(
    router: Router, config: dict[str, Any], field: str
) -> None:
    with pytest.raises(PromptLoadError) as info:
        router.prompts.add(id="p", messages=USER, **config)
    assert info.value.field == field
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
