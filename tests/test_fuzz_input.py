"""Fuzzed input: every case ends in a valid call or an InvalidRequestError.

No provider is called for invalid input, and no other exception escapes.
"""

from __future__ import annotations

import base64
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from respan_router import InvalidRequestError, Router
from respan_router.execution import ChatStream
from respan_router.request._params import RESPAN_FIELDS
from respan_router.request._request import MAX_DEPTH
from respan_router.testing import FakeProvider
from tests import figures

OPENAI_FIELDS = [
    "model", "stream", "stream_options", "temperature", "top_p", "n", "max_tokens",
    "frequency_penalty", "presence_penalty", "logprobs", "top_logprobs", "echo", "stop",
    "logit_bias", "response_format", "tools", "tool_choice", "parallel_tool_calls", "seed",
    "user", "timeout",
]  # fmt: skip


def _nest(depth: int) -> object:
    value: object = "leaf"
    for _ in range(depth):
        value = {"k": [value]}
    return value


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=0, max_size=5).map(lambda s: s * 3),
    st.sampled_from(["", "gpt-4o", "\x00", "🙂" * 50, "a" * 5000, "openai/x", "sk-xyz"]),
    st.sampled_from(["\ud800", "e\u0301\u202e\ufeff", "x" * 1_000_000]),  # lone surrogate, huge
    st.integers(min_value=33, max_value=300).map(lambda d: _nest(d)),  # beyond MAX_DEPTH
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
messages = st.one_of(
    st.just([{"role": "user", "content": "hi"}]),
    st.lists(
        st.one_of(
            st.fixed_dictionaries(
                {
                    "role": st.sampled_from(["user", "system", "assistant", "tool", "bot", 3]),
                    "content": values,
                }
            ),
            values,
        ),
        max_size=3,
    ),
    values,
)


def _header_value(draw_value: object) -> str:
    return base64.b64encode(json.dumps(draw_value, allow_nan=True).encode()).decode()


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8", "surrogatepass")).decode()


headers = st.one_of(
    st.text(max_size=30),
    st.binary(max_size=30).map(lambda b: base64.b64encode(b).decode()),
    st.dictionaries(st.sampled_from(sorted(RESPAN_FIELDS)), values, max_size=3).map(_header_value),
    values.map(_header_value),
    values,  # not even a string
    st.text(max_size=30).map(_b64),  # base64 of text that is rarely JSON
    st.integers(min_value=1, max_value=50_000).map(lambda d: _b64("[" * d + "]" * d)),
    st.just(_b64('{"metadata": {"a": NaN}, "retries": Infinity}')),
    st.just(base64.b64encode(b"\xff\xfe{}").decode()),  # not UTF-8
)


HEADERS = ["X-Data-Respan-Params", "x-data-keywordsai-params", "X-DATA-KEYWORDSAI-PARAMS"]


@st.composite
def calls(draw: st.DrawFn) -> dict:
    kwargs: dict = {"messages": draw(messages)}
    if draw(st.booleans()):
        kwargs["model"] = draw(st.one_of(st.just("gpt-4o"), values))
    for name in draw(st.lists(st.sampled_from(OPENAI_FIELDS), max_size=4)):
        kwargs[name] = draw(values)
    for name in draw(st.lists(st.sampled_from(sorted(RESPAN_FIELDS)), max_size=4)):
        kwargs[name] = draw(values)
    if draw(st.booleans()):
        kwargs["respan_params"] = draw(
            st.one_of(values, st.dictionaries(st.sampled_from(sorted(RESPAN_FIELDS)), values))
        )
    for where in draw(st.lists(st.sampled_from(["headers", "extra_headers"]), max_size=2)):
        # The new header and the legacy one, alone or together, in either header source.
        names = draw(st.lists(st.sampled_from(HEADERS), min_size=1, max_size=2, unique=True))
        kwargs[where] = {name: draw(headers) for name in names}
    if draw(st.booleans()):
        kwargs["extra_body"] = draw(
            st.one_of(values, st.dictionaries(st.sampled_from(sorted(RESPAN_FIELDS)), values))
        )
    return kwargs


def _check(router: Router, fake: FakeProvider, kwargs: dict) -> None:
    before = len(fake.calls)
    try:
        out = router.complete(**kwargs)
    except InvalidRequestError as exc:
        figures.count("fuzzed calls", "rejected (InvalidRequestError, no provider call)")
        assert len(fake.calls) == before, "a provider was called for invalid input"
        # Nothing chained: a chained exception could quote the rejected input.
        assert exc.__cause__ is None and exc.__context__ is None, repr(exc.__context__)
    else:
        figures.count("fuzzed calls", "valid (one provider call)")
        assert len(fake.calls) == before + 1
        if isinstance(out, ChatStream):
            out.close()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls())
def test_fuzzed_calls_end_in_a_reply_or_invalid_request(kwargs: dict) -> None:
    fake = FakeProvider("ok")
    _check(Router(provider=fake, load_balance_groups={"g": [{"model": "gpt-4o"}]}), fake, kwargs)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(OPENAI_FIELDS + sorted(RESPAN_FIELDS)), values, max_size=6))
def test_fuzzed_parameters_on_a_valid_call(extra: dict) -> None:
    fake = FakeProvider("ok")
    _check(Router(provider=fake), fake, {"model": "gpt-4o", "messages": [{"role": "user",
           "content": "x"}], **extra})  # fmt: skip


def test_deep_nesting_is_rejected_without_recursion_errors() -> None:
    fake = FakeProvider("ok")
    router = Router(provider=fake)
    for name in ("metadata", "properties", "vendor_option", "response_format"):
        try:
            router.complete(model="m", messages=[{"role": "user", "content": "x"}],
                            **{name: _nest(5000)})  # fmt: skip
        except InvalidRequestError as exc:
            assert exc.field == name
        else:
            raise AssertionError(f"{name} nested 5000 deep was accepted")
    assert fake.calls == []
    # Within the bound is fine.
    router.complete(model="m", messages=[{"role": "user", "content": "x"}],
                    metadata=_nest(MAX_DEPTH // 2 - 1))  # fmt: skip


def test_nan_and_infinity_are_rejected_everywhere_numbers_are_typed() -> None:
    fake = FakeProvider("ok")
    router = Router(provider=fake)
    for name in ("temperature", "top_p", "frequency_penalty", "presence_penalty", "timeout"):
        for bad in (math.nan, math.inf, -math.inf):
            try:
                router.complete(model="m", messages=[{"role": "user", "content": "x"}],
                                **{name: bad})  # fmt: skip
            except InvalidRequestError as exc:
                assert exc.field == name
            else:
                raise AssertionError(f"{name}={bad} was accepted")
    assert fake.calls == []


SOURCES = ("top", "extra_body", "respan_params", "keywordsai_params", "header", "legacy_header")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(SOURCES), st.sampled_from(sorted(RESPAN_FIELDS)), values),
        min_size=1,
        max_size=6,
    )
)
def test_conflicting_sources_end_in_a_reply_or_invalid_request(entries: list) -> None:
    """The same Respan fields from every source at once, with clashing values."""
    kwargs: dict = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}
    nested: dict[str, dict] = {s: {} for s in SOURCES}
    for source, name, value in entries:
        if source == "top":
            kwargs[name] = value
        else:
            nested[source][name] = value
    for source in ("extra_body", "respan_params", "keywordsai_params"):
        if nested[source]:
            kwargs[source] = nested[source]
    headers = {}
    if nested["header"]:
        headers["X-Data-Respan-Params"] = _header_value(nested["header"])
    if nested["legacy_header"]:
        headers["X-Data-Keywordsai-Params"] = _header_value(nested["legacy_header"])
    if headers:
        kwargs["extra_headers"] = headers
    fake = FakeProvider("ok")
    _check(Router(provider=fake, load_balance_groups={"g": [{"model": "gpt-4o"}]}), fake, kwargs)


@pytest.mark.parametrize("stream", [False, True])
async def test_fuzz_corpus_async(stream: bool) -> None:
    """A few adversarial inputs through acomplete: same contract as the sync path."""
    fake = FakeProvider("ok")
    router = Router(provider=fake)
    bad: list[dict] = [
        {"model": "m", "temperature": math.nan},
        {"model": "m", "metadata": _nest(200)},
        {"model": "m", "headers": {"X-Data-Keywordsai-Params": "%%%"}},
        {"model": "m", "extra_headers": {"X-Data-Respan-Params": _b64("[" * 50_000)}},
        {"model": "m", "respan_params": {"retries": "3"}},
        {"model": "\ud800" * 3, "customer_identifier": "x" * 1_000},
    ]
    for kwargs in bad:
        with pytest.raises(InvalidRequestError) as info:
            await router.acomplete(messages=[{"role": "user", "content": "x"}], stream=stream,
                                   **kwargs)  # fmt: skip
        assert info.value.__context__ is None
    assert fake.calls == []
