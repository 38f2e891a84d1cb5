"""The plain-call template (``_plain_template``) against litellm: the same upstream request,
response and errors as litellm's own path, for the calls it fills in from a template and for
those it must leave to a full build through litellm's translation, each asserting which of
the two built the request.

A full build is seen through a spy on the module's ``build_request``: a template is built
with slots (the marker) in place of the texts, a call built in full with its own messages.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from respan_router._secrets import Credentials
from respan_router.providers import LEAN, LITELLM, LeanProvider, LiteLLMProvider, ProviderCall
from respan_router.providers._lean import _plain_template
from tests import lean_parity_helpers as parity
from tests.test_lean_parity import ALLOWED, API_KEY, FAULTS, TOOL, TOOLS, behaviour_for, supports
from tests.upstream import FakeUpstream, Reply

_TIMEOUT = 10.0
SHAPE, FULL = "shape", "full"

SYSTEM_AND_USER = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Say hello."},
]
MULTI_TURN = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Say hello."},
    {"role": "assistant", "content": "Hello! 👋"},
    {"role": "user", "content": 'And "again", with\nnew lines \\ and quotes.'},
]

# Plain calls: filled in from a template after the first call of their shape.
TEMPLATED: dict[str, tuple[list[dict[str, Any]], dict[str, Any]]] = {
    "one-user": ([{"role": "user", "content": "Say hello."}], {}),
    "system-user": (SYSTEM_AND_USER, {}),
    "multi-turn": (MULTI_TURN, {}),
    "sampling": (SYSTEM_AND_USER, {"temperature": 0.2, "top_p": 0.9, "max_tokens": 5}),
    "stop-list": (MULTI_TURN, {"stop": ["x", "y"], "frequency_penalty": 0.1}),
    "seed": (SYSTEM_AND_USER, {"seed": 7}),
    "stop-string": (SYSTEM_AND_USER, {"stop": "x", "presence_penalty": 0.5}),
    "integer-temperature": (SYSTEM_AND_USER, {"temperature": 1}),
    "completion-tokens": (SYSTEM_AND_USER, {"max_completion_tokens": 9, "n": 1}),
    "extra-headers": (SYSTEM_AND_USER, {"extra_headers": {"X-Custom": "1"}, "temperature": 0}),
    "usage": (SYSTEM_AND_USER, {"stream_options": {"include_usage": True}}),
}

IMAGE = {"type": "image_url", "image_url": {"url": "https://example.test/cat.png"}}
# Calls the template must leave: built in full through litellm's translation every time.
BUILT_IN_FULL: dict[str, tuple[list[dict[str, Any]], dict[str, Any]]] = {
    "developer-role": (
        [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        {},
    ),
    "text-parts": ([{"role": "user", "content": [{"type": "text", "text": "Hi"}]}], {}),
    "image": ([{"role": "user", "content": [{"type": "text", "text": "What?"}, IMAGE]}], {}),
    "tool-messages": (
        [
            {"role": "user", "content": "look it up"},
            {"role": "assistant", "content": None, "tool_calls": [TOOL]},
            {"role": "tool", "tool_call_id": "call_1", "content": "found"},
        ],
        {},
    ),
    "name-field": ([{"role": "user", "content": "Hi", "name": "ann"}], {}),
    "none-key": ([{"role": "user", "content": "Hi", "name": None}], {}),
    "keys-reversed": ([{"content": "Hi", "role": "user"}], {}),
    "no-role": ([{"role": "user", "content": "Hi"}, {"content": "Hello"}], {}),
    "surrounding-whitespace": (
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello "}],
        {},
    ),
    "empty-content": (
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": ""}],
        {},
    ),
    "tools": ([{"role": "user", "content": "Hi"}], {"tools": TOOLS, "tool_choice": "auto"}),
    "response-format": (
        [{"role": "user", "content": "Hi"}],
        {"response_format": {"type": "json_object"}},
    ),
    "logit-bias": ([{"role": "user", "content": "Hi"}], {"logit_bias": {"50256": -100}}),
    "stop-tuple": ([{"role": "user", "content": "Hi"}], {"stop": ("x",)}),
}

# Messages marked for a prompt cache: litellm keeps or strips the marks by what it knows of
# the endpoint: the whole call goes through litellm.
CACHE_MARKED: dict[str, list[dict[str, Any]]] = {
    "cache-control": [{"role": "user", "content": "Hi", "cache_control": {"type": "ephemeral"}}],
    "cache-control-part": [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Hi", "cache_control": {"type": "ephemeral"}}],
        }
    ],
}

# Parameters outside the lean path's tested set: the whole call goes through litellm.
THROUGH_LITELLM: dict[str, dict[str, Any]] = {
    "user": {"user": "u1"},
    "reasoning-effort": {"reasoning_effort": "low"},
    "metadata": {"metadata": {"a": "b"}},
}


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """What each full build through litellm was for: a template (SHAPE) or a call (FULL)."""
    seen: list[str] = []
    real = _plain_template.build_request

    def spy(deployment: Any, messages: Any, params: Any, *, stream: bool) -> Any:
        text = repr(messages)
        seen.append(SHAPE if _plain_template._MARK in text else FULL)
        return real(deployment, messages, params, stream=stream)

    monkeypatch.setattr(_plain_template, "build_request", spy)
    yield seen


def _call(
    upstream: FakeUpstream, provider: str, messages: list[dict[str, Any]], params: dict[str, Any]
) -> ProviderCall:
    return ProviderCall(
        model="fast",
        litellm_model=f"{provider}/test-model",
        provider=provider,
        messages=copy.deepcopy(messages),
        params=copy.deepcopy(params),
        credentials=Credentials({"api_key": API_KEY, "api_base": upstream.base_url}),
        timeout=_TIMEOUT,
    )


def _usable(provider: str, params: dict[str, Any], stream: bool) -> bool:
    if "stream_options" in params and not stream:
        return False
    return all(supports(provider, name) for name in params if name != "extra_headers")


def _skip_unless_lean(
    upstream: FakeUpstream,
    reference: LiteLLMProvider,
    provider: str,
    messages: list[dict[str, Any]],
    params: dict[str, Any],
    stream: bool,
    builds: list[str],
) -> None:
    """Skip a case the lean path leaves to litellm anyway (the config maps a parameter
    outside the body: mistral's seed, groq's response format)."""
    probe = LeanProvider(fallback=reference)
    taken = probe.attempt_for(_call(upstream, provider, messages, params), stream=stream)
    builds.clear()
    if taken is None:
        pytest.skip(f"litellm's own path for {provider} with these parameters")


def _twice_sync(
    upstream: FakeUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    provider: str,
    messages: list[dict[str, Any]],
    params: dict[str, Any],
    *,
    stream: bool,
    reply: Any = None,
) -> list[Any]:
    """The call twice through both paths (the second lean one from the first's template)."""
    out = []
    for _ in range(2):
        out.append(
            parity.run_both_sync(
                upstream,
                reference,
                lean,
                behaviour_for(provider, reply or Reply("Hi there")),
                lambda: _call(upstream, provider, messages, params),
                stream=stream,
                scrub=parity.scrub_openai,
            )
        )
    return out


@pytest.mark.parametrize("case", list(TEMPLATED))
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("provider", ALLOWED)
def test_plain_calls_are_filled_in_from_a_template(
    upstream: FakeUpstream,
    reference: LiteLLMProvider,
    provider: str,
    stream: bool,
    case: str,
    builds: list[str],
) -> None:
    messages, params = TEMPLATED[case]
    if not _usable(provider, params, stream):
        pytest.skip(f"{provider} does not take {case} here")
    _skip_unless_lean(upstream, reference, provider, messages, params, stream, builds)
    lean = LeanProvider(fallback=reference)
    results = _twice_sync(upstream, reference, lean, provider, messages, params, stream=stream)
    assert builds == [SHAPE]  # one build of the shape through litellm, none per call
    assert results[1][1][1][0][3]["messages"] == messages  # the texts as the caller wrote them
    lean.close()


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("provider", ALLOWED)
async def test_plain_calls_are_filled_in_from_a_template_async(
    upstream: FakeUpstream,
    reference: LiteLLMProvider,
    provider: str,
    stream: bool,
    builds: list[str],
) -> None:
    lean = LeanProvider(fallback=reference)
    for _ in range(2):
        await parity.run_both_async(
            upstream,
            reference,
            lean,
            behaviour_for(provider, Reply("Hi there")),
            lambda: _call(upstream, provider, MULTI_TURN, {"temperature": 0.3}),
            stream=stream,
            scrub=parity.scrub_openai,
        )
    assert builds == [SHAPE]
    await lean.aclose()


@pytest.mark.parametrize("case", list(BUILT_IN_FULL))
@pytest.mark.parametrize("provider", ALLOWED)
def test_other_calls_are_built_in_full_every_time(
    upstream: FakeUpstream,
    reference: LiteLLMProvider,
    provider: str,
    case: str,
    builds: list[str],
) -> None:
    messages, params = BUILT_IN_FULL[case]
    if not _usable(provider, params, False):
        pytest.skip(f"{provider} does not take {case}: litellm's own path")
    _skip_unless_lean(upstream, reference, provider, messages, params, False, builds)
    lean = LeanProvider(fallback=reference)
    for stream in (False, True):
        builds.clear()
        _twice_sync(upstream, reference, lean, provider, messages, params, stream=stream)
        assert builds == [FULL, FULL]
    lean.close()


@pytest.mark.parametrize("case", list(THROUGH_LITELLM))
def test_untested_parameters_go_through_litellm(
    upstream: FakeUpstream, reference: LiteLLMProvider, case: str, builds: list[str]
) -> None:
    lean = LeanProvider(fallback=reference)
    call = _call(upstream, "openai", SYSTEM_AND_USER, THROUGH_LITELLM[case])
    assert lean.attempt_for(call, stream=False) is None
    assert builds == []
    lean.close()


@pytest.mark.parametrize("case", list(CACHE_MARKED))
@pytest.mark.parametrize("provider", ALLOWED)
def test_cache_marked_messages_go_through_litellm(
    upstream: FakeUpstream,
    reference: LiteLLMProvider,
    provider: str,
    case: str,
    builds: list[str],
) -> None:
    lean = LeanProvider(fallback=reference)
    for stream in (False, True):
        call = _call(upstream, provider, CACHE_MARKED[case], {})
        assert lean.attempt_for(call, stream=stream) is None
    assert builds == [FULL, FULL]
    lean.close()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("provider", ["openai", "groq"])
def test_a_parameter_litellm_writes_as_no_json_number_goes_through_litellm(
    upstream: FakeUpstream,
    reference: LiteLLMProvider,
    provider: str,
    value: float,
    builds: list[str],
) -> None:
    """litellm sends ``NaN`` / ``Infinity`` as they are, or refuses them (the openai SDK):
    its own path decides."""
    lean = LeanProvider(fallback=reference)
    outcomes = []
    for which in (reference, lean):
        upstream.reset()
        upstream.enqueue(behaviour_for(provider, Reply("ok")))
        call = _call(upstream, provider, SYSTEM_AND_USER, {"temperature": value})
        outcomes.append(parity.outcome_sync(which, call, scrub=parity.scrub_openai))
    assert call.dispatch_path == LITELLM
    assert outcomes[0] == outcomes[1]
    assert builds == [FULL]
    lean.close()


@pytest.mark.parametrize("fault", ["400", "429-retry-after", "500", "dropped-connection"])
@pytest.mark.parametrize("provider", ALLOWED)
def test_errors_of_templated_calls_are_litellms(
    upstream: FakeUpstream,
    reference: LiteLLMProvider,
    provider: str,
    fault: str,
    builds: list[str],
) -> None:
    lean = LeanProvider(fallback=reference)
    for stream in (False, True):
        _twice_sync(
            upstream, reference, lean, provider, MULTI_TURN, {}, stream=stream, reply=FAULTS[fault]
        )
    assert builds == [SHAPE, SHAPE]  # one shape per stream flag
    lean.close()


def test_values_equal_in_python_but_written_apart_are_shapes_apart(
    upstream: FakeUpstream, reference: LiteLLMProvider, builds: list[str]
) -> None:
    """1, 1.0 and True; 0.0 and -0.0: each its own body, written as litellm writes it."""
    lean = LeanProvider(fallback=reference)
    values: list[Any] = [1, 1.0, True, 0.0, -0.0]
    for value in values:
        for _ in range(2):
            sent = []
            for which in (reference, lean):
                upstream.reset()
                upstream.enqueue(Reply("ok"))
                call = _call(upstream, "openai", SYSTEM_AND_USER, {"temperature": value})
                which.complete(call)
                sent.append(upstream.requests[0].body["temperature"])
            assert call.dispatch_path == LEAN
            assert repr(sent[1]) == repr(sent[0]) == repr(value)
    assert builds == [SHAPE] * len(values)
    lean.close()


def test_a_callers_later_change_reaches_no_other_call(
    upstream: FakeUpstream, reference: LiteLLMProvider, builds: list[str]
) -> None:
    lean = LeanProvider(fallback=reference)
    stop = ["x"]
    first = _call(upstream, "openai", SYSTEM_AND_USER, {})
    first.params = {"stop": stop}
    lean.complete(first)
    stop.append("changed")  # the first caller's list, after its call
    upstream.reset()
    parity.run_both_sync(
        upstream,
        reference,
        lean,
        Reply("ok"),
        lambda: _call(upstream, "openai", SYSTEM_AND_USER, {"stop": ["x"]}),
        scrub=parity.scrub_openai,
    )
    assert upstream.requests[0].body["stop"] == ["x"]
    assert builds == [SHAPE]
    lean.close()


def test_the_callers_messages_and_parameters_are_not_mutated(
    upstream: FakeUpstream, reference: LiteLLMProvider
) -> None:
    lean = LeanProvider(fallback=reference)
    params = {"stop": ["x"], "stream_options": {"include_usage": True}}
    for _ in range(2):
        call = _call(upstream, "openai", MULTI_TURN, params)
        messages, given = call.messages, dict(call.params)
        for _chunk in lean.stream(call):
            pass
        assert call.messages == MULTI_TURN and call.messages is messages
        assert call.params == given == params
    lean.close()


def _altering(change: Any) -> Any:
    """A build whose body ``change`` rewrites (a transform the template cannot fill in)."""
    from respan_router.providers._lean._request import build_request as real

    def build(deployment: Any, messages: Any, params: Any, *, stream: bool) -> Any:
        built = real(deployment, messages, params, stream=stream)
        change(built.data)
        return built

    return build


def _copied_system(data: dict[str, Any]) -> None:
    data["system"] = data["messages"][0]["content"]


def _upper_roles(data: dict[str, Any]) -> None:
    for message in data["messages"]:
        message["role"] = message["role"].upper()


def _merged(data: dict[str, Any]) -> None:
    first, *rest = data["messages"]
    data["messages"] = [{**first, "content": first["content"] + " " + rest[0]["content"]}]


def _extra_key(data: dict[str, Any]) -> None:
    data["messages"][0]["name"] = "x"


@pytest.mark.parametrize("change", [_copied_system, _upper_roles, _merged, _extra_key])
def test_a_shape_litellm_does_not_send_as_given_is_built_in_full(
    upstream: FakeUpstream,
    reference: LiteLLMProvider,
    monkeypatch: pytest.MonkeyPatch,
    change: Any,
) -> None:
    from respan_router.providers._lean._deployment import DeploymentCache

    monkeypatch.setattr(_plain_template, "build_request", _altering(change))
    templates = _plain_template.PlainTemplates()
    deployment = DeploymentCache(reference.litellm).get(
        "openai/test-model", "openai", {"api_key": API_KEY, "api_base": upstream.base_url}
    )
    assert deployment is not None
    for text in ("first", "second"):
        messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]
        built = templates.request(deployment, messages, {}, stream=False)
        expected = _altering(change)(deployment, messages, {}, stream=False)
        assert built.data == expected.data and built.body == expected.body
        assert _plain_template._MARK.encode() not in built.body
    assert list(templates._by_shape.values()) == [None]


def test_a_templated_request_holds_no_body_dictionary_and_decodes_the_full_builds(
    upstream: FakeUpstream, reference: LiteLLMProvider
) -> None:
    from respan_router.providers._lean._deployment import DeploymentCache
    from respan_router.providers._lean._request import build_request

    templates = _plain_template.PlainTemplates()
    deployment = DeploymentCache(reference.litellm).get(
        "openai/test-model", "openai", {"api_key": API_KEY, "api_base": upstream.base_url}
    )
    assert deployment is not None
    params = {"temperature": 0.3, "stop": ["x"]}
    for text in ("first", "second"):  # the shape's build, then a call filled in
        messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]
        built = templates.request(deployment, messages, params, stream=False)
        full = build_request(deployment, messages, params, stream=False)
        assert built.data is None and full.data is not None  # not held in flight
        assert built.request_data() == full.request_data() == full.data
        assert built.body == full.body


def test_past_the_shape_limit_calls_are_built_in_full(
    upstream: FakeUpstream,
    reference: LiteLLMProvider,
    monkeypatch: pytest.MonkeyPatch,
    builds: list[str],
) -> None:
    monkeypatch.setattr(_plain_template, "_LIMIT", 1)
    lean = LeanProvider(fallback=reference)
    _twice_sync(upstream, reference, lean, "openai", SYSTEM_AND_USER, {}, stream=False)
    _twice_sync(upstream, reference, lean, "openai", MULTI_TURN, {}, stream=False)
    assert builds == [SHAPE, FULL, FULL]
    lean.close()


def test_a_shape_whose_build_fails_leaves_each_call_to_litellm(
    upstream: FakeUpstream,
    reference: LiteLLMProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A config that rejects the shape rejects each call too: litellm reports it."""
    from respan_router.providers._lean._request import LeanUnsupported

    def rejecting(*args: Any, **kwargs: Any) -> Any:
        raise LeanUnsupported("no")

    monkeypatch.setattr(_plain_template, "build_request", rejecting)
    lean = LeanProvider(fallback=reference)
    for _ in range(2):
        upstream.reset()
        upstream.enqueue(Reply("via litellm"))
        call = _call(upstream, "openai", SYSTEM_AND_USER, {})
        assert lean.complete(call).choices[0].message.content == "via litellm"
        assert call.dispatch_path == LITELLM
    lean.close()
