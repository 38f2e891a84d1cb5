"""Nothing from the library or litellm reaches stdout/stderr during calls (litellm prints
a "Give Feedback / Get Help" banner on every error unless told not to)."""

from __future__ import annotations

import pytest

from respan_router import Router
from respan_router.errors import RouterError
from respan_router.providers import LiteLLMProvider
from tests.helpers import MSG
from tests.upstream import Error, FakeUpstream


def _router(upstream: FakeUpstream, lean: bool = True) -> Router:
    providers = {"openai": {"api_key": "sk-quiet-test", "api_base": upstream.base_url}}
    return Router(providers=providers, lean_dispatch=lean)


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "litellm"])
def test_errors_print_nothing(
    upstream: FakeUpstream, capfd: pytest.CaptureFixture[str], lean: bool
) -> None:
    router = _router(upstream, lean)
    router.complete(model="openai/warm", messages=MSG)  # litellm imported and warm
    capfd.readouterr()
    for status in (500, 400):
        upstream.enqueue(Error(status))
        with pytest.raises(RouterError):
            router.complete(model="openai/m", messages=MSG)
        upstream.enqueue(Error(status))
        with pytest.raises(RouterError):
            list(router.complete(model="openai/m", messages=MSG, stream=True))
    out, err = capfd.readouterr()
    assert out == ""
    assert err == ""


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "litellm"])
async def test_async_errors_print_nothing(
    upstream: FakeUpstream, capfd: pytest.CaptureFixture[str], lean: bool
) -> None:
    router = _router(upstream, lean)
    # Warm up in this event loop, a failure included: litellm's logging worker logs a
    # warning once when it moves to a new loop (other tests ran in other loops), which a
    # service running one loop never sees.
    await router.acomplete(model="openai/warm", messages=MSG)
    upstream.enqueue(Error(500))
    with pytest.raises(RouterError):
        await router.acomplete(model="openai/warm", messages=MSG)
    capfd.readouterr()
    for status in (500, 400):
        upstream.enqueue(Error(status))
        with pytest.raises(RouterError):
            await router.acomplete(model="openai/m", messages=MSG)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_placing_an_unknown_model_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    provider = LiteLLMProvider()
    provider.litellm  # noqa: B018  (import outside the capture)
    capfd.readouterr()
    assert provider.provider_of("no-such-model-anywhere") == "unknown"
    assert capfd.readouterr() == ("", "")
