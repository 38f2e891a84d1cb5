"""The sync lean call against a bare urllib3 post of the same body (client CPU per call),
and the verdicts of the lean benchmark's targets.

Run by ``benchmarks/lean.py`` against its upstream (another process), variants
interleaved round by round in this process; medians per call.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from benchmarks.common import MSG


def cpu_sync(variants: dict[str, Callable[[], Any]], rounds: int, batch: int) -> dict[str, float]:
    """Median client CPU µs per call of each variant, interleaved rounds."""
    import statistics

    samples: dict[str, list[float]] = {n: [] for n in variants}
    for fn in variants.values():
        for _ in range(20):
            fn()
    for _ in range(rounds):
        for name, fn in variants.items():
            clock = time.process_time_ns
            for _ in range(batch):
                t = clock()
                fn()
                samples[name].append((clock() - t) / 1000)
    return {n: statistics.median(s) for n, s in samples.items()}


def sync_variants(
    base_url: str, model: str, key: str, lean: Any
) -> tuple[dict[str, Callable[[], Any]], Callable[[], None]]:
    """The bare urllib3 post, the routed sync lean call and ``litellm.completion``, and
    a closer for the baseline's pool."""
    import litellm
    import urllib3

    pool = urllib3.PoolManager(retries=False)
    body = json.dumps({"model": model, "messages": MSG}).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    url = base_url + "/chat/completions"

    def raw_post() -> Any:
        return json.loads(pool.request("POST", url, body=body, headers=headers).data)

    variants: dict[str, Callable[[], Any]] = {
        "urllib3 post + json": raw_post,
        "routed sync, lean": lambda: lean.complete(model=f"openai/{model}", messages=MSG),
        "litellm.completion": lambda: litellm.completion(
            model=f"openai/{model}",
            messages=MSG,
            api_key=key,
            api_base=base_url,
            num_retries=0,
            max_retries=0,
        ),
    }
    return variants, pool.clear


def verdicts(result: dict[str, Any]) -> None:
    ratios, per_cpu = result["ratios"], result["throughput"]["calls_per_cpu_s_both"]
    checks = [  # this benchmark's targets, from this run's figures
        ("routed lean / aiohttp post <= 1.3", ratios["lean / aiohttp post"] <= 1.3),
        ("routed sync lean / urllib3 post <= 1.3", ratios["sync lean / urllib3 post"] <= 1.3),
        ("1,000 concurrent calls >= 2,000 per CPU second (two gathers)", per_cpu >= 2000),
    ]
    for name, met in checks:
        print(f"target {name}: {'met' if met else 'MISSED'}")
