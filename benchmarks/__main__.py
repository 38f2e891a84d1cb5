"""``python -m benchmarks [--quick] [name ...]``: run the benchmarks, print tables, write JSON.

Each benchmark compares against its baseline in the same process, interleaved. With no
name, the cost benchmarks run (a few minutes); the long chaos run over real HTTP
(``python -m benchmarks chaos``, several minutes more) and the shared-state run on Redis
(``python -m benchmarks redis_state``) run only when named.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import time
from pathlib import Path

ALL = [
    "overhead",
    "litellm_path",
    "lean",
    "lean_providers",
    "cache",
    "import_time",
    "concurrency",
    "memory",
    "telemetry",
    "prompts",
    "budgets",
    "wire",
]
LONG = ["chaos", "redis_state"]
RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("names", nargs="*", choices=[*ALL, *LONG, []], help="benchmarks to run")
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    names = args.names or ALL
    started = time.perf_counter()
    report = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "quick": args.quick,
        "results": {},
    }
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        report["results"][name] = module.run(quick=args.quick)
    report["seconds"] = round(time.perf_counter() - started, 1)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "latest.json"
    if args.names and out.exists():  # a subset updates its own entries, keeps the others
        previous = json.loads(out.read_text())
        report["results"] = {**previous.get("results", {}), **report["results"]}
    out.write_text(json.dumps(report, indent=1))
    print(f"\nall done in {report['seconds']} s; results in {out}")


if __name__ == "__main__":
    main()
