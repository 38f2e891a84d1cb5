"""Chaos over real HTTP: three local upstreams failing at random behind one Router.

Shared by the CI test (a short run) and the benchmark (a longer one). Every call must end
in an answer or a typed error; upstream requests never exceed the plan's bound; nothing
is left behind.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from respan_router import AllAttemptsFailedError, Router, RouterError, StreamInterruptedError
from tests.upstream import Behaviour, Drop, Error, FakeUpstream, Reply

FAULT_RATE = 0.3
RETRIES = 1
CANDIDATES = 3
TIMEOUT = 0.25
MSG = [{"role": "user", "content": "chaos"}]


def faults(seed: int, rate: float = FAULT_RATE) -> tuple[Callable[[str], Behaviour], Counter[str]]:
    """A behaviour chooser failing at ``rate``, and the count of what it injected."""
    rng = random.Random(seed)
    injected: Counter[str] = Counter()
    choices: list[tuple[str, Behaviour]] = [
        ("429", Error(429, headers={"retry-after-ms": "5"})),
        ("500", Error(500)),
        ("503", Error(503)),
        ("timeout", Reply("slow", delay=TIMEOUT + 0.1)),
        ("drop", Drop()),
        ("broken-stream", Reply("one two three", pieces=3, break_after=1)),
    ]
    ok = Reply("fine answer", pieces=3)

    def choose(model: str) -> Behaviour:
        if rng.random() < rate:
            name, behaviour = choices[rng.randrange(len(choices))]
            injected[name] += 1
            return behaviour
        injected["ok"] += 1
        return ok

    return choose, injected


@dataclass
class ChaosReport:
    calls: int = 0
    successes: int = 0
    all_failed: int = 0
    interrupted_streams: int = 0
    other_errors: list[str] = field(default_factory=list)
    upstream_requests: int = 0
    bound: int = 0
    injected: Counter[str] = field(default_factory=Counter)
    typed: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        return (
            f"calls={self.calls} successes={self.successes} typed_failures={self.all_failed} "
            f"interrupted_streams={self.interrupted_streams} "
            f"upstream_requests={self.upstream_requests} bound={self.bound} "
            f"faults_injected={sum(v for k, v in self.injected.items() if k != 'ok')} "
            f"({dict(self.injected)}) other_errors={len(self.other_errors)}"
        )


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0


def start_upstreams() -> list[FakeUpstream]:
    return [FakeUpstream().start() for _ in range(CANDIDATES)]


def run_chaos(
    calls: int,
    *,
    seed: int = 7,
    tracer_provider: Any = None,
    upstreams: list[FakeUpstream] | None = None,
) -> ChaosReport:
    """Run ``calls`` mixed sync/async/stream calls; return what happened.

    Upstreams given by the caller are reset and left running; otherwise three are
    started and closed here.
    """
    own = upstreams is None
    ups = start_upstreams() if upstreams is None else upstreams
    report = ChaosReport()
    counters = []
    for i, up in enumerate(ups):
        up.reset()
        chooser, injected = faults(seed + i)
        up.chooser = chooser
        counters.append(injected)
    upstreams = ups
    try:
        router = Router(
            deployments={
                f"u{i}": {
                    "model": "openai/chaos",
                    "api_key": f"sk-chaos-{i}-secret",
                    "api_base": up.base_url,
                }
                for i, up in enumerate(upstreams)
            },
            timeout=TIMEOUT,
            sleep=lambda s: None,
            seed=seed,
            tracer_provider=tracer_provider,
            circuit_breaker={"consecutive_failures": 50},
        )
        kwargs = {
            "messages": MSG,
            "load_balance_models": [{"model": "u0", "weight": 2}, {"model": "u1", "weight": 1}],
            "fallback_models": ["u2"],
            "retries": RETRIES,
        }

        def outcome(fn: Callable[[], Any], stream: bool) -> None:
            report.calls += 1
            try:
                result = fn()
                if stream:
                    for _ in result:
                        pass
            except StreamInterruptedError:
                report.interrupted_streams += 1
            except AllAttemptsFailedError as exc:
                if len(exc.attempts) != CANDIDATES:
                    report.other_errors.append(f"gave up after {len(exc.attempts)} candidates")
                report.all_failed += 1
                report.typed[type(exc.last_error).__name__] += 1
            except RouterError as exc:
                report.other_errors.append(f"{type(exc).__name__}: {exc}")
            except Exception as exc:  # the point: catch anything else
                report.other_errors.append(f"{type(exc).__name__}: {exc}")
            else:
                report.successes += 1

        async def one_async(i: int) -> None:
            report.calls += 1
            try:
                if i % 2:
                    stream = await router.acomplete(stream=True, **kwargs)
                    async for _ in stream:
                        pass
                else:
                    await router.acomplete(**kwargs)
            except StreamInterruptedError:
                report.interrupted_streams += 1
            except AllAttemptsFailedError as exc:
                if len(exc.attempts) != CANDIDATES:
                    report.other_errors.append(f"gave up after {len(exc.attempts)}")
                report.all_failed += 1
                report.typed[type(exc.last_error).__name__] += 1
            except Exception as exc:  # the point: catch anything else
                report.other_errors.append(f"{type(exc).__name__}: {exc}")
            else:
                report.successes += 1

        async def main() -> None:
            # One event loop for the whole run, as in a service; sync calls run inline.
            done = 0
            while done < calls:
                n = min(20, calls - done)
                third = n // 3
                for _ in range(third):
                    outcome(lambda: router.complete(**kwargs), stream=False)
                for _ in range(third):
                    outcome(lambda: router.complete(stream=True, **kwargs), stream=True)
                await asyncio.gather(*(one_async(i) for i in range(n - 2 * third)))
                done += n

        asyncio.run(main())
        report.upstream_requests = sum(len(u.requests) for u in upstreams)
        report.bound = calls * CANDIDATES * (1 + RETRIES)
        for c in counters:
            report.injected.update(c)
    finally:
        if own:
            for up in upstreams:
                up.close()
    return report


def our_threads() -> int:
    """Live threads, not counting the fake upstreams' own server threads."""
    return sum(
        1
        for t in threading.enumerate()
        if t.is_alive()
        and "process_request" not in t.name
        and t.name != "fake-upstream"
        and not t.name.startswith("litellm-")  # litellm's own bounded worker pool
    )
