"""docs/telemetry.md documents every attribute, event and metric the router emits.

(Its examples run with every other page's, in test_docs_examples.py.)
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "respan_router" / "telemetry").glob("*.py"))
NAME = re.compile(r'"((?:gen_ai|respan|error|exception)\.[a-z_.]+[a-z_])"')


def test_every_name_the_builders_emit_is_documented() -> None:
    text = (ROOT / "docs" / "telemetry.md").read_text(encoding="utf-8")
    source = "".join(f.read_text(encoding="utf-8") for f in SOURCES)
    names = set(NAME.findall(source))
    assert len(names) > 40
    assert sorted(n for n in names if f"`{n}`" not in text) == []
