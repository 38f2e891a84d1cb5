"""The one-walk pre-check of request values never lets through what the depth and UTF-8
checks would refuse, and answers no for ordinary values."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from respan_router.errors import InvalidRequestError
from respan_router.request._request import MAX_DEPTH, _check_depth
from respan_router.request._text import check_encodable, may_fail_checks

TEXT = st.sampled_from(["a", "é", "\ud800", "x\udfffy", ""])
LEAF = st.one_of(TEXT, st.integers(), st.floats(allow_nan=False), st.booleans(), st.none())


def nest(value: Any, levels: int) -> Any:
    for i in range(levels):
        value = [value] if i % 2 else {"k": value}
    return value


def refused(values: dict[str, Any]) -> bool:
    try:
        _check_depth(values)
        check_encodable(values)
    except InvalidRequestError:
        return True
    return False


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["messages", "metadata", "tools", "x"]),
        st.recursive(
            LEAF,
            lambda inner: st.one_of(
                st.lists(inner, max_size=3),
                st.tuples(inner, inner),
                st.dictionaries(TEXT, inner, max_size=3),
            ),
            max_leaves=12,
        ),
        max_size=3,
    )
)
def test_never_answers_no_where_a_check_refuses(values: dict[str, Any]) -> None:
    if refused(values):
        assert may_fail_checks(values, MAX_DEPTH)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"messages": [{"role": "user", "content": "hi é"}]}, False),
        ({"a": nest("x", MAX_DEPTH)}, False),  # MAX_DEPTH containers deep: allowed
        ({"a": nest("x", MAX_DEPTH + 1)}, True),
        ({"a": {"k\ud800": 1}}, True),  # a key
        ({"a": ("ok", ["\udc00"])}, True),  # inside a tuple
        ({"a": "\ud800"}, True),
        ({"a": {1: "ok", 2.5: [1, None, b"\xff"]}}, False),
    ],
)
def test_cases(values: dict[str, Any], expected: bool) -> None:
    assert may_fail_checks(values, MAX_DEPTH) is expected
    assert refused(values) is expected
