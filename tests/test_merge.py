"""Stage 1a: the three sources of Respan parameters merge per field, highest first."""

from __future__ import annotations

import base64

import pytest

from respan_router.errors import InvalidRequestError
from respan_router.request._merge import merge_sources
from respan_router.request._request import build_request
from tests.helpers import MSG, header

# Each level that can carry a field, highest first. extra_body and keywords are both
# "top level"; as with the OpenAI SDK, extra_body is merged over the keywords.
LEVELS = ["extra_body", "top", "respan_params", "keywordsai_params", "header", "legacy_header"]


def _call(levels: dict[str, dict]) -> dict:
    kwargs: dict = {"model": "m", "messages": MSG}
    headers: dict = {}
    for level, values in levels.items():
        if level == "top":
            kwargs.update(values)
        elif level == "extra_body":
            kwargs["extra_body"] = values
        elif level in ("respan_params", "keywordsai_params"):
            kwargs[level] = values
        elif level == "header":
            headers["X-Data-Respan-Params"] = header(values)
        elif level == "legacy_header":
            headers["X-Data-Keywordsai-Params"] = header(values)
    if headers:
        kwargs["extra_headers"] = headers
    return kwargs


@pytest.mark.parametrize("winner", range(len(LEVELS)))
def test_precedence_per_field(winner: int) -> None:
    # Every level from `winner` down sets customer_identifier; the highest must win.
    levels = {name: {"customer_identifier": f"from-{name}"} for name in LEVELS[winner:]}
    request = build_request(_call(levels))
    assert request.respan.customer_identifier == f"from-{LEVELS[winner]}"


@pytest.mark.parametrize("level", LEVELS)
def test_each_source_alone_is_read(level: str) -> None:
    request = build_request(_call({level: {"thread_identifier": "t-1", "span_name": "s"}}))
    assert request.respan.thread_identifier == "t-1"
    assert request.respan.span_name == "s"


def test_fields_from_different_levels_combine() -> None:
    request = build_request(
        _call(
            {
                "top": {"customer_identifier": "top"},
                "respan_params": {"thread_identifier": "nested", "customer_identifier": "x"},
                "header": {"span_name": "hdr", "thread_identifier": "y"},
                "legacy_header": {"custom_identifier": "legacy", "span_name": "z"},
            }
        )
    )
    r = request.respan
    assert (r.customer_identifier, r.thread_identifier, r.span_name, r.custom_identifier) == (
        "top",
        "nested",
        "hdr",
        "legacy",
    )


def test_higher_level_replaces_whole_field_no_deep_merge() -> None:
    request = build_request(
        _call(
            {
                "top": {"metadata": {"a": 1}},
                "respan_params": {"metadata": {"b": 2}},
            }
        )
    )
    assert request.respan.metadata == {"a": 1}


def test_extra_body_overrides_explicit_keyword_like_openai_sdk() -> None:
    request = build_request(
        {"model": "m", "messages": MSG, "temperature": 0.1, "extra_body": {"temperature": 0.7}}
    )
    assert request.params["temperature"] == 0.7


def test_header_names_are_case_insensitive_and_come_via_headers_too() -> None:
    request = build_request(
        {
            "model": "m",
            "messages": MSG,
            "headers": {"x-DATA-respan-PARAMS": header({"span_name": "h"})},
        }
    )
    assert request.respan.span_name == "h"


def test_a_header_in_both_header_arguments_merges_extra_headers_over_headers() -> None:
    request = build_request(
        {
            "model": "m",
            "messages": MSG,
            "headers": {
                "X-Data-Respan-Params": header({"span_name": "h", "custom_identifier": "c"})
            },
            "extra_headers": {"x-data-respan-params": header({"span_name": "e"})},
        }
    )
    assert request.respan.span_name == "e" and request.respan.custom_identifier == "c"


@pytest.mark.parametrize("broken_in", ["headers", "extra_headers"])
def test_a_broken_copy_of_a_header_is_an_error_even_beside_a_valid_one(broken_in: str) -> None:
    valid_in = "extra_headers" if broken_in == "headers" else "headers"
    with pytest.raises(InvalidRequestError) as info:
        build_request(
            {
                "model": "m",
                "messages": MSG,
                broken_in: {"X-Data-Respan-Params": "not base64!"},
                valid_in: {"X-Data-Respan-Params": header({"span_name": "ok"})},
            }
        )
    assert info.value.field == "X-Data-Respan-Params"


def test_other_headers_are_forwarded_and_respan_headers_are_not() -> None:
    request = build_request(
        {
            "model": "m",
            "messages": MSG,
            "extra_headers": {"X-Trace": "1", "X-Data-Respan-Params": header({"span_name": "s"})},
        }
    )
    assert request.headers == {"X-Trace": "1"}


def test_respan_params_inside_extra_body() -> None:
    request = build_request(
        {"model": "m", "messages": MSG, "extra_body": {"respan_params": {"span_name": "eb"}}}
    )
    assert request.respan.span_name == "eb"


def test_non_respan_fields_stay_in_body() -> None:
    merged = merge_sources({"model": "m", "messages": MSG, "mock_response": "x", "span_name": "s"})
    assert merged.body == {"model": "m", "messages": MSG, "mock_response": "x"}
    assert merged.respan == {"span_name": "s"}


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("not base64 !!", "base64"),
        (base64.b64encode(b"{not json").decode(), "JSON"),
        (base64.b64encode(b"[1, 2]").decode(), "object"),
        (base64.b64encode(b"\xff\xfe").decode(), "JSON"),
        (12, "string"),
    ],
)
@pytest.mark.parametrize("name", ["X-Data-Respan-Params", "X-Data-Keywordsai-Params"])
def test_malformed_header_is_an_error_naming_it(name: str, value: object, why: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        build_request({"model": "m", "messages": MSG, "headers": {name: value}})
    assert name in str(info.value)
    assert why in str(info.value)
    assert info.value.field == name


@pytest.mark.parametrize("key", ["respan_params", "keywordsai_params", "extra_body", "headers"])
def test_source_that_is_not_an_object_is_rejected(key: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        build_request({"model": "m", "messages": MSG, key: ["x"]})
    assert info.value.field == key


def test_unknown_field_in_respan_params_is_rejected() -> None:
    with pytest.raises(InvalidRequestError) as info:
        build_request({"model": "m", "messages": MSG, "respan_params": {"custmer_identifier": 1}})
    assert info.value.field == "custmer_identifier"
    assert "not a Respan parameter" in str(info.value)
