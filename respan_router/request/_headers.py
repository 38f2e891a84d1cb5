"""Stage 1b: one check for every header a call asks to forward upstream.

Both dispatch paths (litellm's and the lean one) send the headers this check let through,
so a header is judged once, here, with a typed error:

- a name must be an HTTP token (RFC 9110: letters, digits and ``!#$%&'*+-.^_`|~``), so
  ``"Authorization "``, ``" Authorization"``, ``"Authorization:"`` or a trailing NUL
  is refused instead of slipping past the credential check and reaching the provider;
- a name that carries a credential (``Authorization``, ``api-key``, ...) is refused;
- a value must be a string of latin-1 characters without control characters (tab
  allowed): no CR/LF (header injection), no NUL. The value is never echoed.
"""

from __future__ import annotations

import re
from typing import Any

from respan_router.errors import InvalidRequestError

__all__ = ["check_forwarded_header", "is_credential_header"]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Control characters other than horizontal tab, and DEL.
_BAD_VALUE_CHAR = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

# Headers that carry a credential: the provider's key goes through credentials, never a
# forwarded header (code ported from the gateway would send its Respan key upstream).
_CREDENTIAL_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "api-key",
        "x-api-key",
        "x-goog-api-key",
        "ocp-apim-subscription-key",
        "x-amz-security-token",
        "cookie",
    }
)
_CREDENTIAL_HEADER = re.compile(r"api[-_]?key|secret|password|access[-_]?token|auth[-_]?token")
_PADDING = " \t\r\n\x00:"


def is_credential_header(name: str) -> bool:
    """Whether a header carries a credential (case-insensitive, padding ignored)."""
    lowered = name.strip(_PADDING).lower()
    return lowered in _CREDENTIAL_HEADERS or bool(_CREDENTIAL_HEADER.search(lowered))


def check_forwarded_header(name: Any, value: Any, where: str) -> None:
    """Raise :class:`InvalidRequestError` unless ``name: value`` may be sent upstream.

    Args:
        name: the header's name as given.
        value: its value as given (never quoted in the error).
        where: the keyword the header came in (``headers`` / ``extra_headers``).
    """
    if not isinstance(name, str) or not name:
        raise InvalidRequestError(f"{where}: a header name must be a non-empty string", field=where)
    if is_credential_header(name):
        shown = name.strip(_PADDING)
        raise InvalidRequestError(
            f"header {shown!r} carries a credential and is never forwarded: set the "
            "provider's key in Router(providers=...) or deployments, or per call with "
            "credential_override or customer_credentials",
            field=shown,
        )
    if _TOKEN.fullmatch(name) is None:
        raise InvalidRequestError(
            f"{where}: a header name may hold only letters, digits and !#$%&'*+-.^_`|~ "
            "(no spaces, colons or control characters)",
            field=where,
        )
    if not isinstance(value, str):
        raise InvalidRequestError(
            f"header {name!r} must be a string, got {type(value).__name__}", field=name
        )
    if _BAD_VALUE_CHAR.search(value) is not None:
        raise InvalidRequestError(
            f"header {name!r} holds a control character (CR, LF, NUL...)", field=name
        )
    if not value.isascii() and not _latin1(value):
        # Raised outside the ``except``: the encoder's exception holds the whole value.
        raise InvalidRequestError(
            f"header {name!r} holds characters outside latin-1; encode the value "
            "(e.g. percent-encoding) before sending it",
            field=name,
        )


def _latin1(value: str) -> bool:
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True
