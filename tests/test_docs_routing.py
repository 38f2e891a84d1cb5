"""docs/routing.md runs as written and prints what it shows."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "routing.md"
BLOCK = re.compile(r"```(python|text)\n(.*?)```", re.DOTALL)


def test_routing_doc_examples_run_and_print_the_shown_output() -> None:
    blocks = BLOCK.findall(DOC.read_text(encoding="utf-8"))
    assert sum(1 for kind, _ in blocks if kind == "python") >= 5
    namespace: dict[str, object] = {"__name__": "routing_doc"}
    printed = ""
    checked = 0
    for kind, body in blocks:
        if kind == "python":
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(body, str(DOC), "exec"), namespace)
            printed = out.getvalue()
        else:
            assert printed == body, (
                f"docs/routing.md shows:\n{body}\nbut the code printed:\n{printed}"
            )
            checked += 1
            printed = ""
    assert checked >= 4
