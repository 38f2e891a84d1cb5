"""Chaos, the long run: 10,000 mixed calls over three local upstreams failing at 30 %.

The CI test (tests/test_chaos.py) runs the short form; this one prints the figures of a
longer run: calls by kind, faults injected by kind, outcomes, upstream requests against
the plan's bound, spans, and what was left behind.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from benchmarks.common import table
from tests.chaos import open_fds, our_threads, run_chaos, start_upstreams


def run(quick: bool = False) -> dict[str, Any]:
    calls = 2_000 if quick else 10_000
    upstreams = start_upstreams()
    try:
        run_chaos(30, seed=1, upstreams=upstreams)  # warm up
        gc.collect()
        fds_before, threads_before = open_fds(), our_threads()
        started = time.perf_counter()
        report = run_chaos(calls, upstreams=upstreams)
        wall = time.perf_counter() - started
        gc.collect()
        fds_after, threads_after = open_fds(), our_threads()
    finally:
        for up in upstreams:
            up.close()
    result = {
        "calls": report.calls,
        "calls_by_kind": dict(report.kinds),
        "faults_injected": report.faults,
        "faults_by_kind": {k: v for k, v in report.injected.items() if k != "ok"},
        "successes": report.successes,
        "typed_failures_all_candidates": report.all_failed,
        "typed_failures_by_last_error": dict(report.typed),
        "streams_interrupted_after_first_chunk": report.interrupted_streams,
        "other_errors": len(report.other_errors),
        "upstream_requests": report.upstream_requests,
        "bound": report.bound,
        "call_spans": report.call_spans,
        "leaked_tasks": len(report.leaked_tasks),
        "threads_before_after": [threads_before, threads_after],
        "fds_before_after": [fds_before, fds_after],
        "wall_s": round(wall, 1),
    }
    rows = [
        ("calls", f"{report.calls} {dict(report.kinds)}"),
        ("faults injected", f"{report.faults} of {report.upstream_requests} requests"),
        *[(f"  {k}", str(v)) for k, v in sorted(result["faults_by_kind"].items())],
        ("successes", str(report.successes)),
        ("typed failures (all candidates failed)", f"{report.all_failed} {dict(report.typed)}"),
        ("streams interrupted after first chunk", str(report.interrupted_streams)),
        ("other errors", str(len(report.other_errors))),
        ("upstream requests / bound", f"{report.upstream_requests} / {report.bound}"),
        ("call spans", str(report.call_spans)),
        (
            "leaked tasks / threads / fds",
            f"{len(report.leaked_tasks)} / {threads_after - threads_before} / "
            f"{fds_after - fds_before}",
        ),
        ("wall time", f"{wall:.1f} s"),
    ]
    print(table(f"chaos: {calls} calls, 3 upstreams failing at 30 %", rows, ("what", "value")))
    return result
