"""The compact encoders: orjson's speed, the standard encoder's rules."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from respan_router._json import compact_encoder

_no_floats = st.one_of(st.none(), st.booleans(), st.integers(), st.text())
_scalars = st.one_of(_no_floats, st.floats(allow_nan=False, allow_infinity=False))


def _nested(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.tuples(inner, inner),
            st.dictionaries(st.text(max_size=8), inner, max_size=4),
        ),
        max_leaves=30,
    )


def _standard(sort_keys: bool) -> json.JSONEncoder:
    return json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys)


@settings(max_examples=300, deadline=None)
@given(_nested(_no_floats), st.booleans())
def test_without_floats_the_bytes_are_those_of_the_standard_encoder(
    value: Any, sort_keys: bool
) -> None:
    # Lone surrogates and integers past 64 bits included: those go to the standard path.
    assert compact_encoder(sort_keys=sort_keys)(value) == _standard(sort_keys).encode(value)


@settings(max_examples=300, deadline=None)
@given(_nested(_scalars), st.booleans())
def test_the_value_is_that_of_the_standard_encoder(value: Any, sort_keys: bool) -> None:
    # Floats may be written differently (1e-07 / 1e-7), never as another number.
    text = compact_encoder(sort_keys=sort_keys, allow_nan=False)(value)
    assert json.loads(text) == json.loads(_standard(sort_keys).encode(value))
    if sort_keys:  # and the keys are in the standard encoder's order
        assert _standard(True).encode(json.loads(text)) == _standard(True).encode(value)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_raise_when_not_allowed(bad: float) -> None:
    strict = compact_encoder(sort_keys=True, allow_nan=False)
    for value in ([1, {"a": bad}], ("x", None, [[{"b": None, "c": (bad,)}]]), bad):
        with pytest.raises(ValueError):
            strict(value)
    # ... and a real null beside them is still written as one.
    assert strict({"a": None, "b": [None]}) == '{"a":null,"b":[null]}'


def test_errors_are_those_of_the_standard_encoder() -> None:
    strict = compact_encoder(sort_keys=True, allow_nan=False)
    with pytest.raises(TypeError):
        strict({"a": object()})
    with pytest.raises(TypeError):
        strict({1: "a", "b": 2})  # mixed key types cannot be sorted
    with pytest.raises(TypeError):  # datetimes and dataclasses have no JSON form either

        @dataclasses.dataclass
        class Point:
            x: int

        strict([Point(1)])


def test_default_and_unsorted_keys_write_what_the_standard_encoder_writes() -> None:
    assert compact_encoder(default=str)({"a": {1, 2}}) == '{"a":"{1, 2}"}'
    assert compact_encoder(default=lambda o: "X")([object()]) == '["X"]'
    assert compact_encoder()({1: "a", None: True}) == '{"1":"a","null":true}'
    assert compact_encoder()("é\n\u2028\x7f") == json.dumps("é\n\u2028\x7f", ensure_ascii=False)
    assert compact_encoder(sort_keys=True)({"b": 1, "a": 2, "é": 3}) == '{"a":2,"b":1,"é":3}'
    assert compact_encoder()(2**80) == str(2**80)
    assert compact_encoder()("\ud800") == json.dumps("\ud800", ensure_ascii=False)
