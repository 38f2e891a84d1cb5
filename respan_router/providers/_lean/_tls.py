"""TLS settings as litellm resolves them (``SSL_VERIFY``, ``SSL_CERT_FILE``, certifi)."""

from __future__ import annotations

import ssl
from typing import Any

__all__ = ["ssl_setting"]


def ssl_setting() -> ssl.SSLContext | bool:
    """What litellm would verify TLS with: an SSL context, or False when turned off."""
    from litellm.llms.custom_httpx.http_handler import get_ssl_configuration

    setting: Any = get_ssl_configuration()
    if isinstance(setting, ssl.SSLContext):
        return setting
    if setting is False:
        return False
    return ssl.create_default_context()
