"""Stage 7: the :class:`Provider` protocol, the litellm adapter and error mapping.

The litellm adapter (``respan_router.providers.litellm``) imports litellm on first use.
"""

from respan_router.providers.base import Provider, ProviderCall

__all__ = ["Provider", "ProviderCall"]
