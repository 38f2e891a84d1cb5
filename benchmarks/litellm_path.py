"""2. Through litellm with mock responses: our router vs bare litellm vs litellm's Router."""

from __future__ import annotations

import os
from typing import Any

from benchmarks.common import MSG, run_async, table

MODEL = "openai/gpt-4o-mini"
KEY = "sk-benchmark-not-a-real-key"


def run(quick: bool = False) -> dict[str, Any]:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    from respan_router import Router

    ours = Router(providers={"openai": {"api_key": KEY}})
    theirs = litellm.Router(
        model_list=[{"model_name": MODEL, "litellm_params": {"model": MODEL, "api_key": KEY}}]
    )

    def bare() -> Any:
        return litellm.acompletion(model=MODEL, messages=MSG, mock_response="hi", api_key=KEY)

    def litellm_router() -> Any:
        return theirs.acompletion(model=MODEL, messages=MSG, mock_response="hi")

    def respan_router() -> Any:
        return ours.acomplete(model=MODEL, messages=MSG, mock_response="hi")

    rounds, batch = (5, 40) if quick else (15, 100)
    series = run_async(
        {
            "litellm.acompletion": bare,
            "litellm.Router": litellm_router,
            "respan_router": respan_router,
        },
        rounds=rounds,
        batch=batch,
    )
    base = series["litellm.acompletion"].median_us
    lr = series["litellm.Router"].median_us
    ours_us = series["respan_router"].median_us
    result = {
        **{n: s.summary() for n, s in series.items()},
        "ratio_vs_bare": round(ours_us / base, 3),
        "ratio_vs_litellm_router": round(ours_us / lr, 3),
        "samples_ns": {n: s.samples for n, s in series.items()},
    }
    rows = [
        (n, f"{s.median_us:.1f}", f"{s.p99_us:.1f}", f"{s.median_us / base:.3f}")
        for n, s in series.items()
    ]
    print(
        table(
            "through litellm, mock_response (µs per async call)",
            rows,
            ("variant", "median", "p99", "x bare"),
        )
    )
    print(
        f"respan_router / bare litellm = {result['ratio_vs_bare']:.3f}; "
        f"respan_router / litellm.Router = {result['ratio_vs_litellm_router']:.3f}"
    )
    return result
