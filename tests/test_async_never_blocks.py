"""The async API awaits every Redis step: a stream's cache fill and budget settle at its
end, its replay, budget-aware fallback's usage read. The blocking detector
(``tests/blocking.py``, active in every test) fails these tests if any step is sync."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from respan_router import Router
from respan_router.testing import FakeProvider, Reply
from tests.redis_helpers import REDIS_URL, new_prefix, redis_available, wipe

pytestmark = pytest.mark.skipif(not redis_available(), reason="no Redis on 127.0.0.1:6379")

ROOT = Path(__file__).resolve().parent.parent
PRICES = {"m": (1e-6, 4e-6), "big": (1e-5, 4e-5), "small": (1e-7, 4e-7)}
MSG = [{"role": "user", "content": "one two three four five"}]


@pytest.fixture
def prefix() -> Iterator[str]:
    p = new_prefix()
    yield p
    wipe(p)


def _router(prefix: str, fake: FakeProvider, **settings: Any) -> Router:
    return Router(
        provider=fake, redis=REDIS_URL, redis_prefix=prefix, redis_timeout=1.0, **settings
    )


async def test_an_async_stream_is_stored_and_replayed_with_the_async_client(prefix: str) -> None:
    fake = FakeProvider(Reply("one two three", usage=(5, 3)))
    router = _router(prefix, fake, cache_enabled=True)
    first = await router.acomplete(model="m", messages=MSG, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in first if c.choices])
    again = await router.acomplete(model="m", messages=MSG, stream=True)
    replayed = "".join([c.choices[0].delta.content or "" async for c in again if c.choices])
    assert replayed == text and len(fake.calls) == 1
    await router.aclose()


async def test_an_async_streams_budget_hold_is_settled_with_the_async_client(
    prefix: str,
) -> None:
    fake = FakeProvider(Reply("paid", usage=(5, 10)), prices=PRICES)
    router = _router(prefix, fake, customers={"acme": {"total_budget": 1.0}})
    stream = await router.acomplete(
        model="m", messages=MSG, max_tokens=10, customer_identifier="acme", stream=True
    )
    async for _ in stream:
        pass
    usage = router.budgets.usage("acme")
    assert usage.total_spent > 0 and usage.open_reservations == 0
    await router.aclose()


async def test_budget_aware_fallback_reads_usage_with_the_async_client(prefix: str) -> None:
    fake = FakeProvider(Reply("ok", usage=(5, 10)), prices=PRICES)
    router = _router(
        prefix, fake, budget_aware_fallback=True, customers={"acme": {"total_budget": 0.0001}}
    )
    response = await router.acomplete(
        model="big", fallback_models=["small"], messages=MSG, max_tokens=10,
        customer_identifier="acme",
    )  # fmt: skip
    assert response.model == "small" and fake.calls_for("big") == []
    await router.aclose()


_DETECTED = """
import redis
from respan_router.redis import SharedRedis

URL = {url!r}

async def test_the_library_blocking_the_loop_fails() -> None:
    shared = SharedRedis(URL, prefix="detector-test:")
    sync = redis.Redis.from_url(URL)
    async def op(client):  # run by library async code (arun) on the loop's thread
        return sync.ping()

    assert await shared.arun(op, None)

async def test_a_tests_own_sync_call_is_not_the_librarys() -> None:
    redis.Redis.from_url(URL).ping()
"""


def test_the_detector_fails_a_test_whose_library_code_blocks_the_loop(tmp_path: Path) -> None:
    test_file = tmp_path / "test_detected.py"
    test_file.write_text(textwrap.dedent(_DETECTED.format(url=REDIS_URL)))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.blocking", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), "-o", "asyncio_mode=auto", str(test_file)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    out = done.stdout
    assert "1 failed, 1 passed" in out, out
    assert "FAILED" in out and "test_the_library_blocking_the_loop_fails" in out
    assert "sync redis-py" in out, out
