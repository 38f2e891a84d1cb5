"""The demo: routes a few calls through FakeProvider and prints what happened.

Needs no API key and no network.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from respan_router.errors import RouterError
from respan_router.router import Router
from respan_router.testing import Failure, FakeProvider, Reply

USER = [{"role": "user", "content": "Say hello to the router."}]


def _router() -> tuple[Router, FakeProvider]:
    fake = FakeProvider(Reply("Hello from the fake provider!", usage=(6, 5)))
    fake.set_default("flaky", Failure(503, "upstream overloaded"))
    router = Router(
        provider=fake,
        providers={"openai": {"api_key": "sk-demo-not-a-real-key"}},
        deployments={"fast": {"model": "openai/gpt-4o-mini"}},
        seed=7,
    )
    return router, fake


def main(argv: Sequence[str] = ()) -> int:
    if list(argv) not in ([], ["demo"]):
        print("usage: python -m respan_router demo")
        return 2
    router, fake = _router()
    print("plan for model='fast':")
    for attempt in router.plan(model="fast", messages=USER):
        print("  ", attempt)

    out = router.complete(model="fast", messages=USER, customer_identifier="demo-customer")
    print(f"sync  -> {out.model}: {out.choices[0].message.content!r} usage={out.usage}")

    out = asyncio.run(router.acomplete(model="fast", messages=USER))
    print(f"async -> {out.model}: {out.choices[0].message.content!r}")

    try:
        router.complete(model="flaky", messages=USER)
    except RouterError as exc:
        print(f"error -> {type(exc).__name__} (status {exc.status_code}): {exc.message}")

    print(f"provider calls recorded: {len(fake.calls)}")
    return 0
