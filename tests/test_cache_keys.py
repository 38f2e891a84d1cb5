import json
import math
import random
import re
from typing import Any

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from respan_router.cache import KEY_EXCLUDED, cache_key, key_fields
from respan_router.cache._keys import messages_key
from respan_router.errors import InvalidRequestError

KEY = re.compile(r"^respan:chat:[0-9a-f]{64}$")

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Hi"},
]


def key(fields: dict[str, Any], model: str | None = None, customer: Any = None, **kw: Any) -> str:
    return cache_key(fields, model=model, customer=customer, **kw)


# JSON values without floats (1 and 1.0 are the same JSON number, not the same text).
json_leaves = st.none() | st.booleans() | st.text(max_size=8) | st.integers(-(2**40), 2**40)
json_values = st.recursive(
    json_leaves,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)
# Shared machines can be slow: no deadline, and no complaint about slow generation.
relaxed = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

SOME_FIELDS = (
    "messages", "tools", "temperature", "stop", "logit_bias", "top_k", "safety_settings",
    "response_format", "n", "seed",
)  # fmt: skip
json_fields = st.dictionaries(st.sampled_from(SOME_FIELDS), json_values, max_size=6)


def reorder(value: Any, rnd: random.Random) -> Any:
    """The same value with every dict's keys in a shuffled insertion order."""
    if isinstance(value, dict):
        items = list(value.items())
        rnd.shuffle(items)
        return {k: reorder(v, rnd) for k, v in items}
    if isinstance(value, list):
        return [reorder(v, rnd) for v in value]
    return value


def test_key_shape() -> None:
    k = key({"messages": MESSAGES})
    assert KEY.match(k)
    assert k == key({"messages": MESSAGES})


def test_namespace_prefixes_the_key() -> None:
    k = key({"messages": MESSAGES}, namespace="app1")
    assert k.startswith("app1:chat:")
    assert k.split(":")[-1] == key({"messages": MESSAGES}).split(":")[-1]
    assert k != key({"messages": MESSAGES}, namespace="app2")


@relaxed
@given(json_fields, st.randoms(use_true_random=False))
def test_dict_order_never_matters(fields: dict[str, Any], rnd: random.Random) -> None:
    assert key(fields) == key(reorder(fields, rnd))


@relaxed
@given(json_fields, json_fields)
def test_distinct_fields_give_distinct_keys(a: dict[str, Any], b: dict[str, Any]) -> None:
    # Compared as JSON, not by Python equality (where False == 0 and True == 1).
    def canonical(d: dict[str, Any]) -> str:
        return json.dumps({k: v for k, v in d.items() if v is not None}, sort_keys=True)

    assert (key(a) == key(b)) == (canonical(a) == canonical(b))


def test_nested_order_does_not_matter() -> None:
    tools_a = [{"type": "function", "function": {"name": "f", "parameters": {"a": 1, "b": 2}}}]
    tools_b = [{"function": {"parameters": {"b": 2, "a": 1}, "name": "f"}, "type": "function"}]
    assert key({"messages": MESSAGES, "tools": tools_a}) == key(
        {"tools": tools_b, "messages": MESSAGES}
    )


def test_list_order_matters() -> None:
    assert key({"messages": MESSAGES}) != key({"messages": MESSAGES[::-1]})


def test_every_answer_field_changes_the_key() -> None:
    base = key({"messages": MESSAGES})
    seen = {base}
    for name in SOME_FIELDS[1:]:
        k = key({"messages": MESSAGES, name: 1})
        assert k not in seen
        seen.add(k)


def test_model_and_customer_separate_entries() -> None:
    fields = {"messages": MESSAGES}
    keys = {
        key(fields),
        key(fields, model="gpt-4o"),
        key(fields, model="None"),
        key(fields, model="null"),
        key(fields, model=""),
        key(fields, customer="None"),
        key(fields, customer="gpt-4o"),
        key(fields, customer="alice"),
        key(fields, customer="bob"),
        key(fields, model="gpt-4o", customer="alice"),
        key(fields, model="alice", customer="gpt-4o"),
    }
    assert len(keys) == 11


def test_int_customer_is_its_decimal_string() -> None:
    assert key({"messages": MESSAGES}, customer=123) == key({"messages": MESSAGES}, customer="123")


def test_model_is_not_a_field() -> None:
    # A field named "model" and the model argument are kept apart.
    assert key({"model": "gpt-4o"}) != key({}, model="gpt-4o")


def test_top_level_none_is_absent_but_nested_none_counts() -> None:
    assert key({"messages": MESSAGES, "temperature": None}) == key({"messages": MESSAGES})
    with_none = [{"role": "assistant", "content": None, "tool_calls": []}]
    without = [{"role": "assistant", "tool_calls": []}]
    assert key({"messages": with_none}) != key({"messages": without})


def test_distinct_numbers_never_share_a_key() -> None:
    # Plain JSON is hashed as encoded (the fast path): 1 and 1.0 may differ, which costs
    # a miss, never a wrong hit. Distinct values never share a key.
    assert key({"temperature": 1}) == key({"temperature": 1})
    assert key({"temperature": 0.5}) != key({"temperature": 1})
    assert key({"seed": 1}) != key({"seed": True})
    assert key({"seed": 1}) != key({"seed": "1"})


def test_int_dict_keys_are_their_json_strings() -> None:
    assert key({"logit_bias": {50256: -100}}) == key({"logit_bias": {"50256": -100}})
    assert key({"logit_bias": {50256: -100}}) != key({"logit_bias": {"50257": -100}})


def test_colliding_dict_keys_are_rejected() -> None:
    with pytest.raises(InvalidRequestError) as info:
        key({"logit_bias": {1: 5, "1": 6}})
    assert info.value.field == "logit_bias"


def test_tuples_are_lists() -> None:
    assert key({"stop": ("a", "b")}) == key({"stop": ["a", "b"]})


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_rejected_with_their_path(bad: float) -> None:
    fields = {"messages": [{"role": "user", "content": "x"}, {"role": "user", "x": [0, bad]}]}
    with pytest.raises(InvalidRequestError) as info:
        key(fields)
    assert info.value.field == "messages[1].x[1]"
    assert info.value.status_code == 400
    with pytest.raises(InvalidRequestError):
        key({"temperature": bad})


def test_values_without_json_form_are_rejected() -> None:
    with pytest.raises(InvalidRequestError) as info:
        key({"tools": [{"f": object()}]})
    assert info.value.field == "tools[0].f"
    with pytest.raises(InvalidRequestError):
        key({"stop": {"a", "b"}})
    with pytest.raises(InvalidRequestError):
        key({"logit_bias": {(1, 2): 3}})


def test_pydantic_models_are_their_json() -> None:
    class Answer(pydantic.BaseModel):
        city: str
        population: int

    schema = Answer.model_json_schema()
    assert key({"response_format": Answer}) == key({"response_format": schema})
    assert key({"x": Answer(city="Oslo", population=1)}) == key(
        {"x": {"population": 1, "city": "Oslo"}}
    )


def test_str_subclasses_and_enums_are_their_value() -> None:
    import enum

    class Effort(str, enum.Enum):  # noqa: UP042  (str() of it is "Effort.LOW", not "low")
        LOW = "low"

    class N(enum.IntEnum):
        TWO = 2

    assert key({"reasoning_effort": Effort.LOW}) == key({"reasoning_effort": "low"})
    assert key({"n": N.TWO}) == key({"n": 2})


def test_unicode_is_kept_and_lone_surrogates_do_not_crash() -> None:
    assert key({"messages": [{"content": "é"}]}) != key({"messages": [{"content": "e"}]})
    assert key({"messages": [{"content": "\ud800"}]}) != key({"messages": [{"content": ""}]})
    assert KEY.match(key({"messages": [{"content": "日本語 🎉"}]}))


def test_a_secret_in_the_fields_never_shows_in_the_key() -> None:
    secret = "sk-live-0123456789abcdefSECRET"
    k = key({"messages": MESSAGES, "api_key": secret, "extra": {"authorization": secret}})
    assert secret not in k
    assert "SECRET" not in k
    assert KEY.match(k)
    # ... nor in the error raised for a bad value next to it.
    with pytest.raises(InvalidRequestError) as info:
        key({"api_key": secret, "temperature": math.nan})
    assert secret not in str(info.value)


def test_key_fields_are_everything_sent_but_the_deny_list() -> None:
    params = {
        "temperature": 0.5, "echo": True, "min_p": 0.1, "repetition_penalty": 1.1,
        "safety_settings": [{"category": "x"}], "mock_response": "hi", "brand_new_option": 1,
        "metadata": {"a": 1}, "user": "u", "store": True, "request_timeout": 3,
        "stream_timeout": 3, "litellm_metadata": {},
    }  # fmt: skip
    fields = key_fields(MESSAGES, params, {"Anthropic-Beta": "x", "traceparent": "00-1"})
    assert set(fields) == {
        "messages", "temperature", "echo", "min_p", "repetition_penalty", "safety_settings",
        "mock_response", "brand_new_option", "headers",
    }  # fmt: skip
    assert fields["headers"] == {"anthropic-beta": "x"}
    assert key_fields(MESSAGES, {}, None) == {"messages": MESSAGES}
    # A credential's name is never keyed; a name that only contains "token" is.
    named = key_fields(MESSAGES, {"max_tokens": 5, "azure_ad_token": "t", "vertex_credentials": "c",
                                  "aws_secret_access_key": "s"}, None)  # fmt: skip
    assert set(named) == {"messages", "max_tokens"}
    for name in ("metadata", "user", "store", "timeout", "extra_headers", "stream_timeout"):
        assert name in KEY_EXCLUDED


def test_canonical_form_is_json_of_the_fields() -> None:
    # The hash covers exactly the canonical JSON; a known value pins the format, so a
    # change that would orphan a shared store's entries shows up here.
    k = key({"messages": [{"role": "user", "content": "hi"}], "temperature": 0.0})
    import hashlib

    text = json.dumps(
        [4, {"messages": [{"content": "hi", "role": "user"}], "temperature": 0.0}, None, None],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    assert k == "respan:chat:" + hashlib.sha256(text.encode()).hexdigest()


@relaxed
@given(
    json_fields,
    st.none() | st.text(max_size=8),
    st.none() | st.text(max_size=8) | st.integers(-(2**40), 2**40),
)
def test_every_path_hashes_the_standard_json_of_the_fields(
    fields: dict[str, Any], model: str | None, customer: str | int | None
) -> None:
    """Whichever path writes the key (orjson's bytes, the encoder's text, the canonical
    walk: a ``null`` anywhere sends plain data down the slower ones), it hashes the
    standard library's compact sorted JSON of the fields."""
    import hashlib

    body = {k: v for k, v in fields.items() if v is not None}
    who = str(customer) if isinstance(customer, int) else customer
    text = json.dumps(
        [4, body, model, who], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    expected = "respan:chat:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    assert key(fields, model, customer) == expected


@relaxed
@given(
    json_values | st.lists(st.dictionaries(st.text(max_size=6), json_values)), st.text(max_size=8)
)
def test_a_messages_only_key_is_the_key_of_its_fields(messages: Any, model: str) -> None:
    """A request sending only messages (the cache stage's short way) gets the key the
    general path gives its fields, whatever the messages hold (a null or text orjson
    refuses included)."""
    assert messages_key(messages, model) == key(key_fields(messages, {}, None), model)


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": "null"}],
        [{"role": "user", "content": "caf\u00e9 \U0001f600", "name": "n"}],
        [{"role": "user", "content": "a\ud800b"}],  # a lone surrogate: orjson refuses it
        [{"role": "user", "content": [{"type": "text", "text": "hi"}], "x": 1.5}],
        [{"role": "user", "content": "hi", "x": 2**70}],
    ],
)
def test_messages_key_on_the_edges(messages: Any) -> None:
    assert messages_key(messages, "m") == key(key_fields(messages, {}, None), "m")


def test_messages_key_refuses_what_the_key_refuses() -> None:
    messages = [{"role": "user", "content": "hi", "x": math.nan}]
    with pytest.raises(InvalidRequestError) as general:
        key(key_fields(messages, {}, None), "m")
    with pytest.raises(InvalidRequestError) as short:
        messages_key(messages, "m")
    assert str(short.value) == str(general.value)
