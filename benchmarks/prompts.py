"""Prompt templates: the cost of rendering a warm prompt, next to a call without one.

Variants, interleaved in one run (FakeProvider, zero latency, tracing off):

- ``call without prompt``: ``model=`` and the already-rendered messages (the baseline);
- ``call with prompt``: the same request as ``prompt=`` (two messages, three variables,
  an ``if``, a filter, a dict variable), merged by schema 1 with a caller parameter;
- ``render only``: the warm prompt's messages rendered (the compiled templates' work);
- ``prompt stage``: stage 2 alone on a validated request (render + merge + validation
  of the rendered request).

The prompt's templates are compiled when it is registered, so every call renders a warm
prompt; the difference of the first two rows is what a prompt adds to a call.
"""

from __future__ import annotations

from typing import Any

from benchmarks.common import run_async, run_sync, table
from respan_router import Router
from respan_router.request._request import build_request
from respan_router.testing import FakeProvider, Reply

PROMPT = {
    "model": "gpt-4o",
    "temperature": 0.2,
    "messages": [
        {"role": "system", "content": "You are {{ persona }}{% if vip %}, for a VIP{% endif %}."},
        {"role": "user", "content": "{{ question | trim }} (from {{ input.city }})"},
    ],
}
VARIABLES = {
    "persona": "a support agent",
    "vip": True,
    "question": "  Where is my order?  ",
    "input": {"city": "Paris"},
}
RENDERED = [
    {"role": "system", "content": "You are a support agent, for a VIP."},
    {"role": "user", "content": "Where is my order? (from Paris)"},
]
# Render only: well under the cost of a call without a prompt (microseconds).
RENDER_TARGET_US = 25.0


def run(quick: bool = False) -> dict[str, Any]:
    rounds, batch = (8, 400) if quick else (30, 1000)
    router = Router(provider=FakeProvider(Reply("ok", usage=(3, 1))), prompts={"support": PROMPT})
    ask = {"prompt": {"prompt_id": "support", "variables": VARIABLES}, "seed": 7}
    plain = {"model": "gpt-4o", "messages": RENDERED, "temperature": 0.2, "seed": 7}
    assert router.complete(**ask).prompt_message == RENDERED  # the same request is sent
    version = router.prompts.select("support")
    stage = router._prompts
    request = build_request(ask)

    series = run_sync(
        {
            "call without prompt": lambda: router.complete(**plain),
            "call with prompt": lambda: router.complete(**ask),
            "render only": lambda: version.render(VARIABLES),
            "prompt stage": lambda: stage.apply(request),
        },
        rounds=rounds,
        batch=batch,
    )
    aseries = run_async(
        {
            "call without prompt": lambda: router.acomplete(**plain),
            "call with prompt": lambda: router.acomplete(**ask),
        },
        rounds=rounds,
        batch=batch,
    )
    base = series["call without prompt"].median_us
    rows = [
        (name, f"{s.median_us:.2f}", f"{s.p99_us:.2f}",
         f"{s.median_us - base:+.2f}" if name == "call with prompt" else "")
        for name, s in series.items()
    ]  # fmt: skip
    print(table("prompts: sync (µs per call)", rows, ("variant", "median", "p99", "added")))
    abase = aseries["call without prompt"].median_us
    arows = [
        (name, f"{s.median_us:.2f}", f"{s.p99_us:.2f}",
         f"{s.median_us - abase:+.2f}" if name == "call with prompt" else "")
        for name, s in aseries.items()
    ]  # fmt: skip
    print(table("prompts: async (µs per call)", arows, ("variant", "median", "p99", "added")))
    render = series["render only"].median_us
    verdict = "met" if render <= RENDER_TARGET_US else "MISSED"
    print(f"render a warm prompt: {render:.2f} µs (target <= {RENDER_TARGET_US} µs): {verdict}")
    return {
        "sync": {n: s.summary() for n, s in series.items()},
        "async": {n: s.summary() for n, s in aseries.items()},
        "added_median_us": round(series["call with prompt"].median_us - base, 2),
        "async_added_median_us": round(aseries["call with prompt"].median_us - abase, 2),
        "render_median_us": round(render, 2),
        "render_target_us": RENDER_TARGET_US,
    }
