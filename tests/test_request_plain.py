"""The common shape's one-walk proof (messages, model, stream) never accepts what the full
request stage refuses, and builds exactly the request the full stage builds."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from respan_router.errors import RouterError
from respan_router.request import build_request
from respan_router.request._plain import plain_parts
from respan_router.request._request import _build

GOOD = st.sampled_from(["hi", "é", "", "tool-1"])
TEXT = st.one_of(GOOD, GOOD, GOOD, st.sampled_from(["\ud800", "x\udfffy"]))
ROLE = st.sampled_from(["user", "system", "assistant", "tool", "developer", "function", "bot"])
VALUE = st.one_of(
    TEXT,
    TEXT,
    TEXT,
    st.none(),
    st.integers(),
    st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": TEXT}), max_size=2),
)
MESSAGE = st.one_of(
    st.fixed_dictionaries(
        {"role": ROLE, "content": VALUE},
        optional={"tool_call_id": VALUE, "name": TEXT, TEXT: VALUE},
    ),
    st.fixed_dictionaries({"role": ROLE, "content": TEXT}),
    st.fixed_dictionaries({"role": ROLE, "content": TEXT}),
    st.just("not a message"),
)
KWARGS = st.fixed_dictionaries(
    {"messages": st.one_of(st.lists(MESSAGE, max_size=3), st.none(), st.just("x"))},
    optional={
        "model": st.one_of(TEXT, TEXT, TEXT, st.none(), st.just(1)),
        "stream": st.one_of(st.booleans(), st.none(), st.just(1)),
    },
)

# Mostly the common shape, with a fault here and there.
NEAR_PLAIN = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["m", "m", "m", "", "m\ud800"]),
        "messages": st.lists(
            st.one_of(
                st.fixed_dictionaries({"role": ROLE, "content": TEXT}),
                st.fixed_dictionaries(
                    {"role": ROLE, "content": VALUE}, optional={"tool_call_id": VALUE}
                ),
            ),
            min_size=1,
            max_size=3,
        ),
    },
    optional={"stream": st.sampled_from([True, False, None, 1])},
)


def full(kwargs: dict[str, Any]) -> Any:
    try:
        return _build(kwargs)
    except RouterError as exc:
        return exc


@settings(max_examples=500, deadline=None)
@given(st.one_of(KWARGS, NEAR_PLAIN))
def test_the_walk_proves_only_what_the_full_stage_accepts(kwargs: dict[str, Any]) -> None:
    if plain_parts(kwargs) is not None:
        expected = full(kwargs)
        assert not isinstance(expected, Exception)
        assert build_request(kwargs) == expected
    else:  # the full stage decides: the same outcome either way
        got = full(kwargs)
        try:
            built: Any = build_request(kwargs)
        except RouterError as exc:
            built = exc
        assert type(built) is type(got)
        assert repr(built) == repr(got)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"model": "m", "messages": [{"role": "user", "content": "hi é"}]},
        {"model": "m", "messages": [{"role": "tool", "content": "42", "tool_call_id": "t"}],
         "stream": True},
        {"model": "m", "messages": [{"role": "system", "content": "a"},
                                    {"role": "user", "content": "b", "name": "n"}]},
    ],
)  # fmt: skip
def test_the_common_shapes_take_the_walk(kwargs: dict[str, Any]) -> None:
    assert plain_parts(kwargs) is not None
    assert build_request(kwargs) == _build(kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"model": "m", "messages": [{"role": "user", "content": "a\ud800"}]},
        {"model": "m\udc00", "messages": [{"role": "user", "content": "a"}]},
        {"model": "m", "messages": [{"role": "user", "content": "a", "k\ud800": "v"}]},
        {"model": "m", "messages": [{"role": "tool", "content": "a"}]},
        {"model": "m", "messages": [{"role": "bot", "content": "a"}]},
        {"model": "m", "messages": [{"role": "user", "content": None}]},
        {"model": "m", "messages": []},
        {"model": "", "messages": [{"role": "user", "content": "a"}]},
        {"model": "m", "messages": [{"role": "user", "content": "a"}], "stream": 1},
    ],
)
def test_every_fault_goes_to_the_full_stage_which_names_it(kwargs: dict[str, Any]) -> None:
    assert plain_parts(kwargs) is None
    with pytest.raises(RouterError) as caught:
        build_request(kwargs)
    assert caught.value.field  # named


class _Text(str):
    """A str subclass: the full stage accepts it as a key or a role, as given."""


@pytest.mark.parametrize(
    "message",
    [
        {_Text("role"): "user", "content": "hi"},
        {"role": _Text("user"), "content": "hi"},
        {"role": "user", _Text("content"): "hi"},
        {"role": "user", "content": _Text("hi")},
    ],
)
def test_a_two_key_message_builds_what_the_full_stage_builds(message: dict[str, Any]) -> None:
    kwargs = {"model": "m", "messages": [message]}
    assert build_request(kwargs) == _build(kwargs)
    assert build_request(kwargs).messages[0] is message
