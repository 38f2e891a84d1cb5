"""Chaos over real HTTP (short form for CI); the long form is in benchmarks/."""

from __future__ import annotations

import gc

from tests.chaos import open_fds, our_threads, run_chaos, start_upstreams

CALLS = 600


def test_chaos_every_call_answers_or_fails_typed_within_the_bound() -> None:
    upstreams = start_upstreams()
    try:
        run_chaos(60, seed=1, upstreams=upstreams)  # warm up: litellm's import and pools
        gc.collect()
        fds_before, threads_before = open_fds(), our_threads()
        report = run_chaos(CALLS, upstreams=upstreams)
        gc.collect()
        fds_after, threads_after = open_fds(), our_threads()
    finally:
        for up in upstreams:
            up.close()
    print("\nchaos:", report.summary(), f"fds {fds_before}->{fds_after}",
          f"threads {threads_before}->{threads_after}")  # fmt: skip
    assert report.calls == CALLS
    assert report.other_errors == []
    assert report.successes + report.all_failed + report.interrupted_streams == CALLS
    assert report.upstream_requests <= report.bound
    faults = sum(v for k, v in report.injected.items() if k != "ok")
    assert faults > 0.2 * report.upstream_requests
    assert report.successes > 0.9 * CALLS  # three candidates at 30 % faults rarely all fail
    # Nothing left behind: no thread of ours; sockets bounded by litellm's per-loop client
    # pools (one new event loop per run), never growing with the number of calls.
    assert threads_after <= threads_before
    assert fds_after - fds_before < 40
