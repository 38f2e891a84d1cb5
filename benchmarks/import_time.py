"""4. Import time: `import respan_router` vs `import litellm`, each in fresh processes."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from typing import Any

from benchmarks.common import table

SNIPPET = (
    "import time, sys; t = time.perf_counter(); import {mod}; "
    "print(time.perf_counter() - t, 'litellm' in sys.modules)"
)


def _measure(mod: str, runs: int) -> tuple[list[float], bool]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    times, leaked = [], False
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", SNIPPET.format(mod=mod)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        ).stdout.split()
        times.append(float(out[0]) * 1000)
        leaked = leaked or out[1] == "True"
    return times, leaked


def run(quick: bool = False) -> dict[str, Any]:
    runs = 3 if quick else 7
    ours, leaked = _measure("respan_router", runs)
    full, _ = _measure("respan_router.router", runs)
    theirs, _ = _measure("litellm", 3 if quick else 5)
    result = {
        "respan_router_ms": round(statistics.median(ours), 1),
        "respan_router_with_router_ms": round(statistics.median(full), 1),
        "litellm_ms": round(statistics.median(theirs), 1),
        "litellm_imported_by_respan_router": leaked,
    }
    print(
        table(
            "import time (fresh processes, median ms)",
            [
                ("import respan_router", f"{result['respan_router_ms']:.1f}"),
                ("import respan_router.router", f"{result['respan_router_with_router_ms']:.1f}"),
                ("import litellm", f"{result['litellm_ms']:.1f}"),
                ("litellm imported by respan_router?", str(leaked)),
            ],
            ("what", "ms"),
        )
    )
    return result
