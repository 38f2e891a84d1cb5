"""``_json.loads``: orjson's speed where it reads what ``json.loads`` reads, ``json`` elsewhere."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from respan_router._json import loads

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # past 64 bits too: orjson would read them as floats
    st.floats(),  # NaN and infinity too: json writes them, orjson refuses them
    st.text(),  # lone surrogates too
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)


def _same(data: bytes) -> None:
    try:
        expected: Any = json.loads(data)
    except (ValueError, RecursionError) as exc:
        with pytest.raises(type(exc)):
            loads(data)
        return
    got = loads(data)
    assert repr(got) == repr(expected)  # repr: 1 is not 1.0, -0.0 is not 0.0, NaN is NaN


@settings(max_examples=400)
@given(_values, st.booleans())
def test_reads_what_json_writes_as_json_reads_it(value: Any, ascii_only: bool) -> None:
    _same(json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass"))


@pytest.mark.parametrize(
    "data",
    [
        b"18446744073709551615",  # the largest 64-bit unsigned integer: orjson reads it
        b"18446744073709551616",  # one past it
        b"-9223372036854775808",
        b"-9223372036854775809",  # 19 digits, past the smallest 64-bit integer
        b'{"n": 123456789012345678901234567890}',
        b"1.7976931348623159e308",  # past a float's range: json reads infinity
        b"1e-400",
        b"-0",
        b"-0.0",
        b"NaN",
        b"[Infinity, -Infinity]",
        b'"\\ud800"',  # a lone surrogate, escaped
        b'"\xed\xa0\x80"',  # a lone surrogate, in bytes
        b"\xef\xbb\xbf{}",  # a UTF-8 byte order mark
        '{"a": 1}'.encode("utf-16"),
        b"\xff",
        b"",
        b"{",
        b'{"a": 1, "a": 2}',
        b"[" * 2000 + b"]" * 2000,
    ],
)
def test_edges_read_as_json_reads_them(data: bytes) -> None:
    _same(data)
