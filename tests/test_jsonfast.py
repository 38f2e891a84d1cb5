"""The reusable compact encoders write exactly what the standard encoder writes."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from respan_router._json import compact_encoder

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=8), inner, max_size=4),
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(_json, st.booleans())
def test_output_is_that_of_the_standard_encoder(value: Any, sort_keys: bool) -> None:
    standard = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys)
    assert compact_encoder(sort_keys=sort_keys)(value) == standard.encode(value)


def test_options_behave_as_in_the_standard_encoder() -> None:
    strict = compact_encoder(sort_keys=True, allow_nan=False)
    with pytest.raises(ValueError):
        strict([math.nan])
    with pytest.raises(TypeError):
        strict({"a": object()})
    with pytest.raises(TypeError):
        strict({1: "a", "b": 2})  # mixed key types cannot be sorted
    assert compact_encoder(default=str)({"a": {1, 2}.__class__.__name__}) == '{"a":"set"}'
    assert compact_encoder(default=lambda o: "X")([object()]) == '["X"]'
    assert compact_encoder()("é\n") == json.dumps("é\n", ensure_ascii=False)
    assert compact_encoder()(math.inf) == "Infinity"
