"""The package's shape: few top-level modules, private modules behind each package's
``__init__``, small modules, and every Redis module inside the adapter package."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "respan_router"

# Over the ~300-line mark, to be split (each is two concepts; see docs/architecture.md).
TOO_LONG_YET = {"request/_params.py", "request/_request.py"}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_at_most_twelve_top_level_modules() -> None:
    top = [p.name for p in PACKAGE.glob("*.py")]
    assert len(top) <= 12, top


def test_every_module_in_a_package_is_private_behind_its_init() -> None:
    public = [
        str(p.relative_to(PACKAGE))
        for p in _modules()
        if p.parent != PACKAGE and p.name != "__init__.py" and not p.name.startswith("_")
    ]
    assert public == []


def test_no_module_over_300_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)) for p in _modules() if len(p.read_text().splitlines()) > 300
    }
    assert long <= TOO_LONG_YET, long - TOO_LONG_YET


def test_redis_lives_in_the_adapter_only() -> None:
    outside = [
        str(p.relative_to(PACKAGE))
        for p in _modules()
        if p.parent.name != "redis"
        and any(
            line.strip().startswith(("import redis", "from redis"))
            for line in p.read_text().splitlines()
        )
    ]
    assert outside == []
