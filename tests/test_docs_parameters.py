"""docs/parameters.md: each Respan parameter's "where" names a module that handles it."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parent.parent / "docs" / "parameters.md"


def _rows() -> list[tuple[list[str], str]]:
    rows = []
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        if line.startswith("| `") and len(cells) == 4:
            names = re.findall(r"`(\w+)`", cells[0])
            rows.append((names, cells[3].strip("`")))
    return rows


def test_the_table_has_a_where_for_every_parameter() -> None:
    rows = _rows()
    assert len(rows) >= 20
    assert all(names and where for names, where in rows)


@pytest.mark.parametrize(("names", "where"), _rows(), ids=lambda v: str(v))
def test_where_names_a_module_that_reads_the_parameter(names: list[str], where: str) -> None:
    spec = importlib.util.find_spec(where)
    assert spec is not None and spec.origin is not None, f"{where} is not a module"
    source = Path(spec.origin).read_text(encoding="utf-8")
    for name in names:
        assert re.search(rf"\b{name}\b", source), f"{name} does not appear in {where}"
