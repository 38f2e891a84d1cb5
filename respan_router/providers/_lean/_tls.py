"""From the environment, as litellm reads it: TLS settings and proxies.

TLS: ``SSL_VERIFY``, ``SSL_CERT_FILE``, else certifi (litellm's own resolution). Proxies:
``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``ALL_PROXY`` and ``NO_PROXY``, as litellm's aiohttp
transport reads them (``urllib.request.getproxies`` and ``proxy_bypass``).
"""

from __future__ import annotations

import ssl
import urllib.request
from typing import Any

__all__ = ["proxy_for", "ssl_setting"]


def ssl_setting() -> ssl.SSLContext | bool:
    """What litellm would verify TLS with: an SSL context, or False when turned off."""
    from litellm.llms.custom_httpx.http_handler import get_ssl_configuration

    setting: Any = get_ssl_configuration()
    if isinstance(setting, ssl.SSLContext):
        return setting
    if setting is False:
        return False
    return ssl.create_default_context()


def proxy_for(scheme: str, host: str) -> str | None:
    """The proxy URL the environment names for ``scheme://host``, or None."""
    if urllib.request.proxy_bypass(host):
        return None
    proxies = urllib.request.getproxies()
    proxy = proxies.get(scheme) or proxies.get("all")
    if proxy and "://" not in proxy:
        proxy = f"http://{proxy}"
    return proxy or None
