"""Stage 7: the :class:`Provider` protocol, the litellm adapter, the lean path, error mapping.

:class:`LiteLLMProvider` imports litellm on first use; :class:`LeanProvider` (litellm's
per-provider translations over the router's own HTTP clients, see
``docs/lean-dispatch.md``) and the adapter load on first access to their names here, so
``import respan_router`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from respan_router.providers._base import KindPrices, PriceInfo, Provider, ProviderCall

if TYPE_CHECKING:
    from respan_router.providers._lean import LEAN, LITELLM, LeanProvider
    from respan_router.providers._litellm import LiteLLMProvider

__all__ = [
    "LEAN",
    "LITELLM",
    "KindPrices",
    "LeanProvider",
    "LiteLLMProvider",
    "PriceInfo",
    "Provider",
    "ProviderCall",
]

_LAZY = {
    "LEAN": "respan_router.providers._lean",
    "LITELLM": "respan_router.providers._lean",
    "LeanProvider": "respan_router.providers._lean",
    "LiteLLMProvider": "respan_router.providers._litellm",
}


def __getattr__(name: str) -> Any:
    """The dispatch backends, imported on first access (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
