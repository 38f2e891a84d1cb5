"""A call naming only its customer is typed without a validation, to the same result."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from respan_router.errors import InvalidRequestError
from respan_router.request._customer_only import customer_only
from respan_router.request._params import RespanParams, build_schemas
from respan_router.request._request import build_request

build_schemas()
MSG = [{"role": "user", "content": "hi"}]


def _same(fast: RespanParams, validated: RespanParams) -> None:
    assert type(fast) is type(validated)
    assert fast == validated
    assert fast.model_fields_set == validated.model_fields_set
    assert fast.model_dump() == validated.model_dump()
    assert fast.model_dump(exclude_unset=True) == validated.model_dump(exclude_unset=True)
    assert repr(fast) == repr(validated)
    assert hash(fast) == hash(validated)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(min_size=1, max_size=254), st.integers(-(10**17), 10**17)))
def test_the_same_parameters_as_the_validation(cid: str | int) -> None:
    raw = {"customer_identifier": cid}
    fast = customer_only(raw, 254)
    assert fast is not None
    validated = RespanParams.model_validate(raw)
    _same(fast, validated)
    _same(build_request({"model": "m", "messages": MSG, **raw}).respan, validated)


def test_each_call_gets_its_own_parameters() -> None:
    a = customer_only({"customer_identifier": "a"}, 254)
    b = customer_only({"customer_identifier": "a"}, 254)
    assert a is not None and b is not None and a is not b
    assert a.__dict__ is not b.__dict__
    assert a.model_fields_set is not b.model_fields_set
    assert RespanParams().customer_identifier is None  # the defaults were not touched


class _Str(str):
    pass


@pytest.mark.parametrize(
    "raw",
    [
        {"customer_identifier": ""},
        {"customer_identifier": "x" * 255},
        {"customer_identifier": True},
        {"customer_identifier": 1.5},
        {"customer_identifier": None},
        {"customer_identifier": _Str("a")},
        {"customer_identifier": 10**30},
        {"customer_identifier": ["a"]},
        {"customer_identifier": "a", "span_name": "s"},
        {"customer_identifer": "a"},
    ],
)
def test_anything_else_is_validated(raw: dict[str, Any]) -> None:
    assert customer_only(raw, 254) is None


@pytest.mark.parametrize(
    ("cid", "field"),
    [
        ("x" * 255, "customer_identifier"),
        (True, "customer_identifier"),
        (1.5, "customer_identifier"),
        (["a"], "customer_identifier"),
    ],
)
def test_bad_identifiers_keep_their_errors(cid: Any, field: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        build_request({"model": "m", "messages": MSG, "customer_identifier": cid})
    assert caught.value.field is not None and caught.value.field.startswith(field)
