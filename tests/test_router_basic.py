"""Router.complete / acomplete on FakeProvider: replies, errors, sync inside a loop."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from respan_router import (
    AllAttemptsFailedError,
    AuthenticationError,
    ChatCompletion,
    InvalidRequestError,
    ProviderCall,
    ProviderError,
    RateLimitError,
    Router,
)
from respan_router.testing import Failure, FakeProvider, Reply
from tests.helpers import MSG


def test_reply_round_trips_with_usage_and_model() -> None:
    fake = FakeProvider(Reply("hello world", usage=(7, 2)))
    out = Router(provider=fake).complete(model="gpt-4o", messages=MSG, temperature=0.2)
    assert isinstance(out, ChatCompletion)
    assert out.choices[0].message.content == "hello world"
    assert (out.usage.prompt_tokens, out.usage.completion_tokens, out.usage.total_tokens) == (
        7,
        2,
        9,
    )
    assert out.model == "gpt-4o"
    assert fake.calls[0].params == {"temperature": 0.2}
    assert fake.calls[0].messages == MSG


async def test_async_reply() -> None:
    fake = FakeProvider("async hello")
    out = await Router(provider=fake).acomplete(model="gpt-4o", messages=MSG)
    assert out.choices[0].message.content == "async hello"


def test_unknown_parameters_pass_through_unchanged() -> None:
    fake = FakeProvider()
    Router(provider=fake).complete(
        model="m", messages=MSG, mock_response="x", vendor_option={"deep": [1]}, seed=3
    )
    assert fake.calls[0].params == {"mock_response": "x", "vendor_option": {"deep": [1]}, "seed": 3}


def test_respan_parameters_are_not_sent_to_the_provider() -> None:
    fake = FakeProvider()
    Router(provider=fake).complete(
        model="m", messages=MSG, customer_identifier="c", metadata={"a": 1}, span_name="s"
    )
    assert fake.calls[0].params == {}


def test_deployment_alias_resolves_to_backend_model_and_reports_alias() -> None:
    fake = FakeProvider()
    router = Router(
        provider=fake,
        deployments={"fast": {"model": "openai/gpt-4o-mini", "api_key": "sk-dep"}},
    )
    out = router.complete(model="fast", messages=MSG, request_breakdown=True)
    assert out.model == "openai/gpt-4o-mini"  # the answer names the model that answered
    assert out.request_breakdown["model"] == "fast"  # the alias, as requested
    call = fake.calls[0]
    assert (call.litellm_model, call.provider, call.credential_source) == (
        "openai/gpt-4o-mini",
        "openai",
        "deployment",
    )
    assert call.credential_keys == ("api_key",)


def test_provider_defaults_apply_to_models_of_that_provider() -> None:
    fake = FakeProvider()
    router = Router(provider=fake, providers={"openai": {"api_key": "sk-prov"}})
    router.complete(model="openai/gpt-4o", messages=MSG)
    router.complete(model="anthropic/claude", messages=MSG)
    assert [c.credential_source for c in fake.calls] == ["provider", "environment"]


def test_single_failed_attempt_raises_its_own_mapped_error() -> None:
    fake = FakeProvider(Failure(429, retry_after=2.5))
    with pytest.raises(RateLimitError) as info:
        Router(provider=fake).complete(model="m", messages=MSG)
    assert info.value.retry_after == 2.5
    assert info.value.status_code == 429
    assert info.value.model == "m"
    assert not isinstance(info.value, AllAttemptsFailedError)


@pytest.mark.parametrize(
    ("status", "cls"), [(401, AuthenticationError), (500, ProviderError), (503, ProviderError)]
)
async def test_async_failure_maps_status(status: int, cls: type) -> None:
    fake = FakeProvider(Failure(status))
    with pytest.raises(cls) as info:
        await Router(provider=fake).acomplete(model="m", messages=MSG)
    assert info.value.status_code == status


def test_sync_call_from_a_running_loops_thread_pool() -> None:
    router = Router(provider=FakeProvider("from a worker thread"))

    async def main() -> str:
        loop = asyncio.get_running_loop()
        out = await loop.run_in_executor(None, lambda: router.complete(model="m", messages=MSG))
        return out.choices[0].message.content

    assert asyncio.run(main()) == "from a worker thread"


def test_sync_call_inside_a_running_loop_does_not_start_another_loop() -> None:
    seen: list[tuple[threading.Thread, asyncio.AbstractEventLoop]] = []

    class Where(FakeProvider):
        def complete(self, call: ProviderCall) -> ChatCompletion:
            # A loop started for the call would run here, in this thread or another.
            seen.append((threading.current_thread(), asyncio.get_running_loop()))
            return super().complete(call)

    router = Router(provider=Where("inline"))

    async def main() -> str:
        # Blocking, but legal: the sync path never touches the event loop machinery.
        seen.append((threading.current_thread(), asyncio.get_running_loop()))
        return router.complete(model="m", messages=MSG).choices[0].message.content

    assert asyncio.run(main()) == "inline"
    (caller, outer_loop), (provider_thread, provider_loop) = seen
    assert provider_thread is caller and provider_loop is outer_loop


def test_cancellation_is_not_turned_into_a_router_error() -> None:
    fake = FakeProvider(Reply("slow", latency=5))
    router = Router(provider=fake)

    async def main() -> None:
        task = asyncio.create_task(router.acomplete(model="m", messages=MSG))
        await asyncio.sleep(0.01)
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(main())


def test_timeout_is_passed_per_attempt_and_router_default_applies() -> None:
    fake = FakeProvider()
    router = Router(provider=fake, timeout=12.5)
    router.complete(model="m", messages=MSG)
    router.complete(model="m", messages=MSG, timeout=3)
    assert [c.timeout for c in fake.calls] == [12.5, 3.0]


def test_from_config_reads_yaml_json_toml_and_mapping(tmp_path: Path) -> None:
    conf = {"deployments": {"fast": {"model": "openai/x", "api_key": "k"}}, "seed": 1}
    (tmp_path / "c.json").write_text(json.dumps(conf))
    (tmp_path / "c.yaml").write_text(
        "deployments:\n  fast: {model: openai/x, api_key: k}\nseed: 1\n"
    )
    (tmp_path / "c.toml").write_text(
        'seed = 1\n[deployments.fast]\nmodel = "openai/x"\napi_key = "k"\n'
    )
    fake = FakeProvider()
    for source in (conf, tmp_path / "c.json", tmp_path / "c.yaml", str(tmp_path / "c.toml")):
        router = Router.from_config(source, provider=fake)
        assert router.config.deployments["fast"].model == "openai/x"
        assert router.config.seed == 1
    assert "k" not in repr(router.config)


def test_bad_config_is_a_typed_error_naming_the_field() -> None:
    with pytest.raises(InvalidRequestError) as info:
        Router(provider=FakeProvider(), deployments={"x": {"api_key": "sk-secret-conf"}})
    assert info.value.field == "deployments.x.model"
    assert "sk-secret-conf" not in str(info.value)


def test_unknown_backend_name_is_rejected() -> None:
    with pytest.raises(InvalidRequestError) as info:
        Router(provider="nope")
    assert info.value.field == "provider"


def test_import_and_a_plain_call_on_a_fake_provider_do_not_load_litellm() -> None:
    # litellm (seconds to import) is loaded by the first call that dispatches through it.
    code = (
        "import sys; from respan_router import Router; "
        "from respan_router.testing import FakeProvider; "
        "Router(provider=FakeProvider()).complete("
        "model='m', messages=[{'role':'user','content':'x'}]); "
        "print('litellm' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_public_all_is_complete_and_sorted() -> None:
    import respan_router

    names = respan_router.__all__
    assert names == sorted(names)
    for name in names:
        assert hasattr(respan_router, name), name


class _Frames(FakeProvider):
    """Notes the Router's coroutine frames awaiting each call (innermost first)."""

    frames: list[str]

    async def acomplete(self, call: ProviderCall) -> ChatCompletion:
        frame, self.frames = sys._getframe(1), []
        while frame is not None:
            if frame.f_code.co_filename.endswith("router.py"):
                self.frames.append(frame.f_code.co_name)
            frame = frame.f_back
        return await super().acomplete(call)


async def test_a_plain_async_call_awaits_the_walk_from_acomplete_itself() -> None:
    fake = _Frames(Reply("hi"))
    router = Router(provider=fake)
    assert (await router.acomplete(model="gpt-4o", messages=MSG)).choices[0].message.content == "hi"
    assert fake.frames == ["acomplete"]  # no coroutine of the Router's between it and the walk
    cached = Router(provider=fake, cache_enabled=True)
    await cached.acomplete(model="gpt-4o", messages=MSG)
    assert fake.frames == ["_astaged", "acomplete"]  # the cache stage wraps its fetch


async def test_a_customer_s_async_call_still_runs_within_its_budget() -> None:
    fake = _Frames(Reply("hi", usage=(3, 1)), prices={"gpt-4o": (1e-6, 4e-6)})
    router = Router(provider=fake, customers={"acme": {"total_budget": 1}})
    await router.acomplete(model="gpt-4o", messages=MSG, max_tokens=10, customer_identifier="acme")
    assert fake.frames == ["acomplete"]
    usage = router.budgets.usage("acme")
    assert usage.total_spent > 0 and usage.open_reservations == 0  # held, then settled
