"""The examples in docs/telemetry.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "telemetry.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_example_runs(code: str) -> None:
    exec(compile(code, str(DOC), "exec"), {})


def test_every_attribute_the_builders_emit_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    source = "".join(
        (DOC.parent.parent / "respan_router" / name).read_text(encoding="utf-8")
        for name in ("attributes.py", "telemetry.py", "metrics.py")
    )
    names = set(re.findall(r'"((?:gen_ai|respan|error|exception)\.[a-z_.]+[a-z_])"', source))
    missing = sorted(n for n in names if f"`{n}`" not in text)
    assert missing == []
