"""The package's version, apart from ``respan_router/__init__.py`` so stages can read it
without importing the whole package (and the Router above them)."""

__version__ = "0.1.0"
