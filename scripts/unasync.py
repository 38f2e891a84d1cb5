"""Generate the sync modules from their async sources (the way httpcore keeps its two).

Each I/O path that is the same but for ``await`` is written once, async, in a module named
``_<name>_async.py`` (or listed in ``FILES``); this script rewrites it into its sync twin:
``async def`` -> ``def``, ``await x`` -> ``x``, ``async with``/``async for`` -> ``with``/``for``,
``AsyncIterator`` -> ``Iterator``, ``Awaitable[T]`` -> ``T``, and the names of ``RENAMES``.
A line whose sync form differs otherwise ends with ``# unasync: <sync code>`` (or
``# unasync: remove``). The generated files are committed; a test checks they are current.

Usage: ``python scripts/unasync.py`` (write) or ``python scripts/unasync.py --check``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "respan_router"

# (async source, generated sync module), relative to the package.
FILES = [
    ("cache/_lead_async.py", "cache/_lead_sync.py"),
    ("redis/_budget_async.py", "redis/_budget_sync.py"),
    ("redis/_cache_async.py", "redis/_cache_sync.py"),
    ("execution/_hooked_async.py", "execution/_hooked_sync.py"),
    ("execution/_stream_async.py", "execution/_stream_sync.py"),
    ("execution/_walk_async.py", "execution/_walk_sync.py"),
    ("redis/_io_async.py", "redis/_io_sync.py"),
    ("providers/_lean/_wrapped_async.py", "providers/_lean/_wrapped_sync.py"),
]

# Whole-word renames, async name -> sync name.
RENAMES = {
    "AsyncCacheOps": "SyncCacheOps",
    "AsyncIO": "SyncIO",
    "AsyncLedger": "SyncLedger",
    "AsyncStream": "SyncStream",
    "StopAsyncIteration": "StopIteration",
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "__aiter__": "__iter__",
    "__anext__": "__next__",
    "AsyncIterator": "Iterator",
    "AsyncIterable": "Iterable",
    "AsyncSend": "Send",
    "_aclose": "_close",
    "_aclose_now": "_close_now",
    "_aend": "_end",
    "_alast": "_last",
    "aend": "end",
    "_aflush": "_flush",
    "_arelease_lease": "_release_lease",
    "_atry": "_try",
    "aafter": "after",
    "abatch": "batch",
    "abefore": "before",
    "aclaim": "claim",
    "aconfigure": "configure",
    "acustomer": "customer",
    "adelete": "delete",
    "afill": "fill",
    "aget": "get",
    "aget_or_lease": "get_or_lease",
    "aset": "set",
    "aclose": "close",
    "aclose_quietly": "close_quietly",
    "afill_completion": "fill_completion",
    "alead_across": "lead_across",
    "alease_completion": "lease_completion",
    "anext": "next",
    "aeval": "eval",
    "ahit": "hit",
    "ahit_and_reserve": "hit_and_reserve",
    "arelease": "release",
    "areserve": "reserve",
    "areset": "reset",
    "asettle": "settle",
    "ausage": "usage",
    "arun": "run",
    "arun_plan": "run_plan",
    "areplay": "replay",
    "asynccontextmanager": "contextmanager",
    "async_retrying": "retrying",
    "async_sleep": "sleep",
    "awith_hooks": "with_hooks",
    "_async_calls": "_sync_calls",
    "aiter_sse_lines": "iter_sse_lines",
    "atext_of": "text_of",
}

_MARK = re.compile(r"^(?P<indent>\s*)(?P<code>.*?)\s*# unasync: (?P<sync>.*)$")
_AWAITABLE = re.compile(r"\bAwaitable\[([^\[\]]*(?:\[[^\[\]]*\][^\[\]]*)*)\]")
_SHIELDED = re.compile(r"\bawait (?:self\.)?(?:redis\.)?shielded\((.*)\)(?=\s*(?:#.*)?$)")
_WORDS = re.compile(r"\b(" + "|".join(sorted(RENAMES, key=len, reverse=True)) + r")\b")


def unasync_line(line: str) -> str | None:
    """The sync form of one source line (None: the line has no sync form)."""
    marked = _MARK.match(line)
    if marked is not None:
        sync = marked.group("sync").strip()
        return None if sync == "remove" else marked.group("indent") + sync
    if line.startswith(("from ", "import ")):  # names only the async form needs
        line = re.sub(r"\bAwaitable, |, Awaitable\b", "", line)
    # A cleanup shielded from cancellation (``await <redis>.shielded(x)``) is just ``x``.
    line = _SHIELDED.sub(r"await \1", line)
    line = re.sub(r"\basync def\b", "def", line)
    line = re.sub(r"\basync (with|for)\b", r"\1", line)
    line = re.sub(r"\bawait ", "", line)
    while _AWAITABLE.search(line):
        line = _AWAITABLE.sub(r"\1", line)
    line = _WORDS.sub(lambda m: RENAMES[m.group(1)], line)
    return _sorted_import(line)


def _sorted_import(line: str) -> str:
    """A one-line ``from m import a, b`` with its names in isort's order (renames move them)."""
    found = re.match(r"^(from \S+ import )([\w, ]+)$", line)
    if found is None or "," not in found.group(2):
        return line
    names = [n.strip() for n in found.group(2).split(",")]
    kind = {True: 0, False: 1}  # CONSTANTS, then Classes, then functions (ruff's order)
    names.sort(key=lambda n: (0 if n.isupper() else kind[n[0].isupper()] + 1, n))
    return found.group(1) + ", ".join(names)


def unasync(source: str, name: str) -> str:
    """The generated sync module for an async ``source`` (named ``name``)."""
    out = [f"# Generated from {name} by scripts/unasync.py: edit that file, not this one.\n"]
    for line in source.splitlines(keepends=True):
        sync = unasync_line(line.rstrip("\n"))
        if sync is not None:
            out.append(sync.rstrip() + "\n")
    return "".join(out)


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for source, target in FILES:
        text = unasync((ROOT / source).read_text(), Path(source).name)
        path = ROOT / target
        if path.exists() and path.read_text() == text:
            continue
        stale.append(target)
        if not check:
            path.write_text(text)
    if check and stale:
        print("stale generated sync modules (run scripts/unasync.py):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
