"""Small helpers shared by the tests."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest

MSG = [{"role": "user", "content": "hello"}]


def header(params: dict[str, Any]) -> str:
    """Encode Respan params as the X-Data-Respan-Params header value."""
    return base64.b64encode(json.dumps(params).encode()).decode()


# Critical values of the chi-square distribution at p = 0.001, by degrees of freedom.
CHI2_CRITICAL_P001 = {1: 10.828, 2: 13.816, 3: 16.266, 4: 18.467, 5: 20.515}


def chi_square(counts: dict[Any, int], weights: dict[Any, float]) -> tuple[float, int]:
    """Pearson's statistic of observed counts against weights, and its degrees of freedom."""
    n = sum(counts.values())
    total = sum(weights.values())
    assert set(counts) <= set(weights), f"unexpected outcomes: {set(counts) - set(weights)}"
    stat = 0.0
    for key, weight in weights.items():
        expected = n * weight / total
        stat += (counts.get(key, 0) - expected) ** 2 / expected
    return stat, len(weights) - 1


def assert_matches_weights(counts: dict[Any, int], weights: dict[Any, float]) -> None:
    """Fail when the counts are unlikely (p < 0.001) under the weights."""
    stat, df = chi_square(counts, weights)
    assert stat < CHI2_CRITICAL_P001[df], f"chi2={stat:.2f} (df={df}) for {counts}"


async def cancel_consumer_after_first_chunk(router: Any, **kwargs: Any) -> None:
    """Consume ``router.acomplete(stream=True, **kwargs)`` in a task; cancel it once a
    chunk has arrived, and check the task ends cancelled."""
    started = asyncio.Event()

    async def consume() -> None:
        async for _ in await router.acomplete(stream=True, **kwargs):
            started.set()

    task = asyncio.create_task(consume())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def completion(
    content: str | None = "hello there",
    *,
    model: str = "gpt-4o",
    usage: tuple[int, int] | None = (10, 4),
    finish_reason: str = "stop",
    id: str = "chatcmpl-fixed",
    created: int = 1_700_000_000,
    choices: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> Any:
    """An OpenAI ChatCompletion built from its wire shape (one text choice by default)."""
    from respan_router.responses import completion_from_dict

    data: dict[str, Any] = {
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices
        if choices is not None
        else [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
        **fields,
    }
    if usage is not None:
        data["usage"] = {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": sum(usage),
        }
    return completion_from_dict(data)


def chunk(
    delta: dict[str, Any] | None = None,
    *,
    index: int = 0,
    finish_reason: str | None = None,
    model: str = "gpt-4o",
    id: str = "chatcmpl-1",
    created: int = 1,
    **fields: Any,
) -> Any:
    """An OpenAI ChatCompletionChunk with one choice (none when ``delta`` is None)."""
    from respan_router.responses import chunk_from_dict

    choices = []
    if delta is not None:
        choices = [{"index": index, "delta": delta, "finish_reason": finish_reason}]
    return chunk_from_dict(
        {
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": choices,
            **fields,
        }
    )


class Clock:
    """A clock a test moves by hand (``clock.now += seconds``)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
