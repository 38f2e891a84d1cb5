"""The sync modules generated from their async sources are current, and the rewrite is right."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "unasync.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("unasync_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_generated_sync_modules_are_current() -> None:
    script = _script()
    stale = [
        target
        for source, target in script.FILES
        if (script.ROOT / target).read_text()
        != script.unasync((script.ROOT / source).read_text(), Path(source).name)
    ]
    assert not stale, f"run scripts/unasync.py: {stale}"
    assert script.main(["--check"]) == 0


def test_every_generated_module_names_its_source() -> None:
    script = _script()
    for source, target in script.FILES:
        first = (script.ROOT / target).read_text().splitlines()[0]
        assert Path(source).name in first and "generated" in first.lower()


def test_the_rewrite() -> None:
    script = _script()
    source = (
        "from collections.abc import AsyncIterator, Awaitable, Callable\n"
        "async def alead_across(f: Callable[[], Awaitable[list[int]]]) -> AsyncIterator[int]:\n"
        "    import asyncio  # unasync: remove\n"
        "    async with lock:\n"
        "        x = await f()\n"
        "    await asyncio.sleep(1)  # unasync: time.sleep(1)\n"
        "    async for y in x:\n"
        "        yield await hooks.abefore(y)\n"
    )
    assert script.unasync(source, "_x_async.py").splitlines()[1:] == [
        "from collections.abc import Callable, Iterator",
        "def lead_across(f: Callable[[], list[int]]) -> Iterator[int]:",
        "    with lock:",
        "        x = f()",
        "    time.sleep(1)",
        "    for y in x:",
        "        yield hooks.before(y)",
    ]
