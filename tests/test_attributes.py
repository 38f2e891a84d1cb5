"""The pure attribute builders: GenAI request/response names, respan.*, content JSON."""

from __future__ import annotations

import json

from respan_router.errors import RateLimitError
from respan_router.execution._record import AttemptRecord
from respan_router.request._params import RespanParams
from respan_router.request._request import build_request
from respan_router.telemetry._attributes import (
    attempt_attributes,
    metadata_attributes,
    property_attributes,
    request_attributes,
    respan_attributes,
    stringify,
)
from respan_router.telemetry._messages import input_messages, output_messages
from tests.helpers import MSG, completion


def test_metadata_values_become_strings() -> None:
    attrs = metadata_attributes(
        {"s": "text", "i": 3, "f": 0.5, "b": True, "l": [1, "a"], "d": {"k": 1}, "n": None}
    )
    assert attrs == {
        "respan.metadata.s": "text",
        "respan.metadata.i": "3",
        "respan.metadata.f": "0.5",
        "respan.metadata.b": "true",
        "respan.metadata.l": '[1,"a"]',
        "respan.metadata.d": '{"k":1}',
    }
    assert stringify("x") == "x"


def test_properties_keep_native_types_and_flatten_objects() -> None:
    attrs = property_attributes(
        {
            "plan": "pro",
            "seats": 12,
            "ratio": 0.25,
            "trial": False,
            "tags": ["a", "b"],
            "scores": [1, 2],
            "mixed_numbers": [1, 2.5],
            "flags": [True, False],
            "mixed": [1, "a"],
            "objects": [{"a": 1}],
            "empty": [],
            "org": {"id": 7, "region": {"name": "eu", "zones": ["x"]}},
            "missing": None,
        }
    )
    assert attrs == {
        "respan.properties.plan": "pro",
        "respan.properties.seats": 12,
        "respan.properties.ratio": 0.25,
        "respan.properties.trial": False,
        "respan.properties.tags": ("a", "b"),
        "respan.properties.scores": (1, 2),
        "respan.properties.mixed_numbers": (1.0, 2.5),
        "respan.properties.flags": (True, False),
        "respan.properties.mixed": '[1,"a"]',
        "respan.properties.objects": '[{"a":1}]',
        "respan.properties.empty": (),
        "respan.properties.org.id": 7,
        "respan.properties.org.region.name": "eu",
        "respan.properties.org.region.zones": ("x",),
    }
    assert type(attrs["respan.properties.trial"]) is bool
    assert type(attrs["respan.properties.seats"]) is int


def test_request_parameters_map_to_gen_ai_request_attributes() -> None:
    request = build_request(
        {
            "model": "m",
            "messages": MSG,
            "temperature": 0.3,
            "max_tokens": 100,
            "top_p": 0.9,
            "stop": "END",
            "frequency_penalty": 0.1,
            "presence_penalty": -0.2,
            "seed": 42,
            "n": 2,
            "user": "not-recorded",
        }
    )
    assert request_attributes(request) == {
        "gen_ai.request.temperature": 0.3,
        "gen_ai.request.max_tokens": 100,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.stop_sequences": ("END",),
        "gen_ai.request.frequency_penalty": 0.1,
        "gen_ai.request.presence_penalty": -0.2,
        "gen_ai.request.seed": 42,
        "gen_ai.request.choice.count": 2,
    }


def test_max_completion_tokens_and_a_single_choice() -> None:
    request = build_request(
        {"model": "m", "messages": MSG, "max_completion_tokens": 9, "n": 1, "stop": ["a", "b"]}
    )
    assert request_attributes(request) == {
        "gen_ai.request.max_tokens": 9,
        "gen_ai.request.stop_sequences": ("a", "b"),
    }


def test_customer_email_only_when_configured() -> None:
    respan = RespanParams(
        customer_params={"customer_identifier": 42, "name": "Ada", "email": "ada@example.com"},
        custom_identifier="req-1",
        thread_identifier="t-9",
        positive_feedback=True,
    )
    expected = {
        "respan.customer_params.customer_identifier": "42",
        "respan.customer_params.name": "Ada",
        "respan.span_params.custom_identifier": "req-1",
        "respan.threads.thread_identifier": "t-9",
        "gen_ai.conversation.id": "t-9",
        "respan.positive_feedback": True,
    }
    assert respan_attributes(respan) == expected
    with_email = respan_attributes(respan, record_customer_email=True)
    assert with_email == {**expected, "respan.customer_params.email": "ada@example.com"}


def test_top_level_customer_identifier_wins_over_customer_params() -> None:
    respan = RespanParams(customer_identifier="top", customer_params={"customer_identifier": "x"})
    assert respan_attributes(respan) == {"respan.customer_params.customer_identifier": "top"}


def test_input_messages_follow_the_gen_ai_schema() -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "weather?"}], "name": "ada"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "rainy"},
    ]
    assert json.loads(input_messages(messages)) == [
        {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
        {"role": "user", "parts": [{"type": "text", "content": "weather?"}], "name": "ada"},
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_1",
                    "name": "weather",
                    "arguments": '{"city":"Paris"}',
                }
            ],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "call_1", "result": "rainy"}],
        },
    ]


def test_output_messages_one_per_choice_with_schema_finish_reasons() -> None:
    call = {"id": "call_2", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
    response = completion(
        model="m",
        choices=[
            {
                "index": 0,
                "message": {"role": "assistant", "content": "hello"},
                "finish_reason": "stop",
            },
            {
                "index": 1,
                "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                "finish_reason": "tool_calls",
            },
        ],
    )
    assert json.loads(output_messages(response)) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "hello"}],
            "finish_reason": "stop",
        },
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call_2", "name": "lookup", "arguments": "{}"}],
            "finish_reason": "tool_call",
        },
    ]


# Texts the common shape writes itself: quotes, backslashes, control characters, non-ASCII,
# separators JavaScript refuses, and lone surrogates (orjson refuses them).
_TEXTS = [
    'say "hi"\\n',
    "tab\there\x00\x1f\x7f",
    "héllo ✓ 😀",
    "\u2028\u2029",
    "a\ud800b",
    "\udfff",
    "",
]


def _standard(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def test_plain_texts_are_written_as_the_standard_encoder_writes_them() -> None:
    for text in _TEXTS:
        messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]
        assert input_messages(messages) == _standard(
            [{"role": m["role"], "parts": [{"type": "text", "content": m["content"]}]}
             for m in messages]
        )  # fmt: skip
        assert input_messages(messages[1:]) == _standard(
            [{"role": "user", "parts": [{"type": "text", "content": text}]}]
        )
        response = completion(
            model="m",
            choices=[{"index": 0, "message": {"role": "assistant", "content": text},
                      "finish_reason": "length"}],
        )  # fmt: skip
        assert output_messages(response) == _standard(
            [{"role": "assistant", "parts": [{"type": "text", "content": text}],
              "finish_reason": "length"}]
        )  # fmt: skip
    assert input_messages([]) == "[]"


def test_attempt_attributes_name_provider_outcome_and_error() -> None:
    attempt = AttemptRecord("gpt-4o", "openai", "openai/gpt-4o", "provider", tries=2)
    attempt.finish(RateLimitError("slow down"))
    assert attempt_attributes(attempt) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "respan.attempt.outcome": "error",
        "respan.attempt.tries": 2,
        "error.type": "RateLimitError",
    }
    interrupted = AttemptRecord("m", "p", "m", "environment", tries=1)
    assert attempt_attributes(interrupted)["respan.attempt.outcome"] == "interrupted"
