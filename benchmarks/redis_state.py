"""Shared state on Redis: per-call cost and round trips next to in-memory state, and the
throughput of 4 processes on one Redis (FakeProvider, zero latency).

Needs a Redis (``RESPAN_BENCH_REDIS``, default ``redis://127.0.0.1:6379/0``); every key is
under a prefix of its own, removed at the end. Run with ``python -m benchmarks redis_state``.

"miss + budget + rate limit" is a cache miss of a customer with a budget and a rate limit:
on Redis the rate-limit hit and the reservation are one script, the cache lookup and its
lease another, and the cache fill and the settle one pipeline at the call's end.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import time
import uuid
from typing import Any

from benchmarks.common import MSG, run_sync, table
from respan_router import Router
from respan_router.testing import FakeProvider, Reply

URL = os.environ.get("RESPAN_BENCH_REDIS", "redis://127.0.0.1:6379/0")


def _counted(client: Any) -> Any:
    client.round_trips = 0
    execute, make_pipeline = client.execute_command, client.pipeline

    def execute_command(*args: Any, **kwargs: Any) -> Any:
        client.round_trips += 1
        return execute(*args, **kwargs)

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = make_pipeline(*args, **kwargs)
        run = pipe.execute

        def execute_pipe(*a: Any, **k: Any) -> Any:
            client.round_trips += 1
            return run(*a, **k)

        pipe.execute = execute_pipe
        return pipe

    client.execute_command, client.pipeline = execute_command, pipeline
    return client


PRICES = {"m": (1e-6, 4e-6)}
CUSTOMER = {"bench": {"total_budget": 10**6, "rate_limit": 10**6}}


def _router(**settings: Any) -> Router:
    fake = FakeProvider(Reply("a shared answer", usage=(5, 4)), prices=PRICES)
    return Router(provider=fake, customers=CUSTOMER, **settings)


def _variants(prefix: str, client: Any) -> dict[str, Any]:
    redis = {"redis": client, "redis_prefix": prefix, "redis_timeout": 1.0}
    memory, shared = (
        _router(cache_enabled=True, cache_maxsize=10**6),
        _router(cache_enabled=True, **redis),
    )
    plain_memory, plain_shared = _router(), _router(**redis)
    counter = itertools.count()
    memory.complete(model="m", messages=MSG)
    shared.complete(model="m", messages=MSG)

    def fresh() -> list[dict[str, str]]:
        return [{"role": "user", "content": f"q{next(counter)}"}]

    def budgeted(router: Router) -> Any:
        return router.complete(
            model="m", messages=fresh(), max_tokens=10, customer_identifier="bench"
        )

    return {
        "no cache, memory": lambda: plain_memory.complete(model="m", messages=MSG),
        "no cache, redis (health shared)": lambda: plain_shared.complete(model="m", messages=MSG),
        "cache hit, memory": lambda: memory.complete(model="m", messages=MSG),
        "cache hit, redis": lambda: shared.complete(model="m", messages=MSG),
        "cache miss, memory": lambda: memory.complete(model="m", messages=fresh()),
        "cache miss, redis": lambda: shared.complete(model="m", messages=fresh()),
        "miss + budget + rate limit, memory": lambda: budgeted(memory),
        "miss + budget + rate limit, redis": lambda: budgeted(shared),
    }


def _round_trips(variants: dict[str, Any], client: Any) -> dict[str, float]:
    out = {}
    for name, fn in variants.items():
        if "redis" not in name:
            continue
        client.round_trips = 0
        for _ in range(100):
            fn()
        out[name] = client.round_trips / 100
    return out


def _worker(prefix: str, seconds: float, start: Any, results: Any) -> None:
    router = _router(cache_enabled=True, redis=URL, redis_prefix=prefix, redis_timeout=1.0)
    tag = uuid.uuid4().hex
    start.wait()
    done, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        question = [{"role": "user", "content": f"{tag}{done}"}]
        router.complete(model="m", messages=question, max_tokens=10, customer_identifier="bench")
        done += 1
    results.put(done)


def _throughput(prefix: str, processes: int, seconds: float) -> float:
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(f"{prefix}t{processes}:", seconds, start,
                                               results)) for _ in range(processes)]  # fmt: skip
    for p in procs:
        p.start()
    time.sleep(1.5)  # let every process import and connect
    start.set()
    total = sum(results.get(timeout=60 + seconds) for _ in procs)
    for p in procs:
        p.join(30)
    return total / seconds


def _wipe(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(URL)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    for i in range(0, len(keys), 1000):
        client.delete(*keys[i : i + 1000])


def run(quick: bool = False) -> dict[str, Any]:
    import redis

    try:
        redis.Redis.from_url(URL, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        print(f"\n== redis_state: no Redis at {URL}; skipped")
        return {"skipped": True}
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    client = _counted(redis.Redis.from_url(URL, socket_timeout=1.0))
    try:
        variants = _variants(prefix, client)
        trips = _round_trips(variants, client)
        rounds, batch = (5, 200) if quick else (15, 500)
        series = run_sync(variants, rounds=rounds, batch=batch)
        seconds = 2.0 if quick else 5.0
        one, four = _throughput(prefix, 1, seconds), _throughput(prefix, 4, seconds)
    finally:
        _wipe(prefix)
    rows = [(n, f"{s.median_us:.1f}", f"{s.p99_us:.1f}", f"{trips[n]:.2f}" if n in trips else "0")
            for n, s in series.items()]  # fmt: skip
    print(table("shared state: per-call cost (µs) and Redis round trips per call", rows,
                ("variant", "median", "p99", "round trips")))  # fmt: skip
    print(table("budgeted cache misses per second on one Redis", [
        ("1 process", f"{one:.0f}"), ("4 processes", f"{four:.0f}"),
        ("cores", str(os.cpu_count()))], ("processes", "calls/s")))  # fmt: skip
    return {
        "per_call": {
            n: {**s.summary(), "round_trips": trips.get(n, 0.0)} for n, s in series.items()
        },
        "throughput": {"1": round(one), "4": round(four), "cores": os.cpu_count()},
    }
