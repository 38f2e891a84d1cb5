"""6. Memory: RSS over 100k calls with the cache on (bounded) and off, in fresh processes.

With the cache on, every call asks something new, so the cache fills to its bound and
then evicts; RSS must level off, not grow with the number of calls.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from benchmarks.common import table

CHILD = r"""
import gc, json, resource, sys
from respan_router import Router
from respan_router.testing import FakeProvider, Reply
calls, cache = int(sys.argv[1]), sys.argv[2] == "on"
fake = FakeProvider(Reply("an answer of some length " * 4, usage=(5, 20)))
router = Router(provider=fake, cache_enabled=cache, cache_maxsize=10_000)
def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20
marks = {}
for i in range(1, calls + 1):
    router.complete(model="m", messages=[{"role": "user", "content": f"question {i}"}])
    if i % 1000 == 0:
        fake.calls.clear()  # the fake's own call log is not the router's memory
    if i in (10_000, 25_000, 50_000, calls):
        gc.collect()
        marks[i] = round(rss_mb(), 1)
print(json.dumps({"marks": marks, "entries": router.cache.stats.entries}))
"""


def _child(calls: int, cache: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(calls), cache],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(out.stdout)


def run(quick: bool = False) -> dict[str, Any]:
    calls = 50_000 if quick else 100_000
    result = {mode: _child(calls, mode) for mode in ("off", "on")}
    rows = []
    for mode, data in result.items():
        marks = data["marks"]
        first, last = marks[min(marks, key=int)], marks[max(marks, key=int)]
        rows.append((f"cache {mode}", *(f"{marks[k]:.1f}" for k in sorted(marks, key=int)),
                     f"{last - first:+.1f}", str(data["entries"])))  # fmt: skip
    header = ("run", *(f"RSS@{int(k) // 1000}k MB" for k in sorted(result["on"]["marks"], key=int)),
              "growth after 10k", "cache entries")  # fmt: skip
    print(table(f"memory over {calls} calls (fresh processes)", rows, header))
    return result
