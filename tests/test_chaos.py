"""Chaos over real HTTP (short form for CI); the long form is ``python -m benchmarks chaos``."""

from __future__ import annotations

import gc

from tests import figures
from tests.chaos import FAULTS, open_fds, our_threads, run_chaos, start_upstreams

CALLS = 2_000


def test_chaos_every_call_answers_or_fails_typed_within_the_bound() -> None:
    upstreams = start_upstreams()
    try:
        run_chaos(30, seed=1, upstreams=upstreams)  # warm up: litellm's import and pools
        gc.collect()
        fds_before, threads_before = open_fds(), our_threads()
        report = run_chaos(CALLS, upstreams=upstreams)
        gc.collect()
        fds_after, threads_after = open_fds(), our_threads()
    finally:
        for up in upstreams:
            up.close()
    figures.report("chaos over real HTTP", f"{report.summary()}, fds {fds_before}->{fds_after},"
                   f" threads {threads_before}->{threads_after}")  # fmt: skip
    assert report.calls == CALLS
    assert min(report.kinds[k] for k in ("sync", "sync-stream", "async", "async-stream")) > 300
    assert report.other_errors == []
    assert report.successes + report.all_failed + report.interrupted_streams == CALLS
    assert report.upstream_requests <= report.bound
    assert report.call_spans == CALLS
    # Every fault kind was injected, at about the configured rate.
    assert all(report.injected[kind] > 10 for kind in FAULTS), report.injected
    assert report.faults > 0.2 * report.upstream_requests
    assert report.successes > 0.9 * CALLS  # three candidates at 30 % faults rarely all fail
    # Nothing left behind: no task, no thread of ours; sockets bounded by litellm's
    # per-loop client pools (one new event loop per run), never growing with the calls:
    # a socket leaked per failed request would add hundreds here.
    assert report.leaked_tasks == []
    assert threads_after <= threads_before
    assert fds_after - fds_before < min(100, report.faults // 4)
