import importlib

import respan_router.cache as cache

MODULES = ["_backend", "_codec", "_keys", "_lease", "_response_cache", "_singleflight", "_stage"]


def isort_key(name: str) -> tuple[int, str]:
    # Constants, then classes, then functions: the order ruff's RUF022 keeps.
    kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return kind, name


def test_all_is_sorted() -> None:
    assert cache.__all__ == sorted(cache.__all__, key=isort_key)


def test_all_is_complete() -> None:
    public: set[str] = set()
    for name in MODULES:
        module = importlib.import_module(f"respan_router.cache.{name}")
        assert module.__all__ == sorted(module.__all__, key=isort_key), name
        public.update(module.__all__)
    assert set(cache.__all__) == public
    for name in cache.__all__:
        assert getattr(cache, name) is not None
