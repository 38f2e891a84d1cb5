"""Credentials: an immutable mapping whose repr never shows a secret.

A credential set is what a provider needs to authenticate and route a call
(``api_key``, ``api_base``, ``api_version``, ``aws_secret_access_key``, ...). Values whose
names look secret are masked in ``repr``/``str``; :meth:`Credentials.secret_values` feeds
the redaction of provider error messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

__all__ = ["Credentials", "is_secret_name", "masked_params", "param_secrets", "redact"]

# Names of settings that authenticate or identify the caller: masked in reprs, their
# values redacted from messages, and (in routing) taken together from one source only.
_SECRET_NAME = re.compile(
    r"key|secret|token|password|credential|auth|organi[sz]ation|project|profile|role",
    re.IGNORECASE,
)
_MASK = "***"
_MIN_SECRET_LEN = 4
_HEADER_KEYS = ("extra_headers", "headers")


def is_secret_name(name: str) -> bool:
    """Whether a setting or header named ``name`` authenticates or identifies the caller
    (``api_key``, ``Authorization``, ``organization``, ``vertex_project``, ...)."""
    return bool(_SECRET_NAME.search(name))


class Credentials(Mapping[str, Any]):
    """An immutable credential set with a masked repr."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._data: dict[str, Any] = {k: v for k, v in (data or {}).items() if v is not None}

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(tuple(sorted((k, repr(v)) for k, v in self._data.items())))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Credentials):
            return self._data == other._data
        if isinstance(other, Mapping):
            return self._data == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{k}={_MASK if is_secret_name(k) else v!r}" for k, v in self._data.items()
        )
        return f"Credentials({shown})"

    __str__ = __repr__

    def as_kwargs(self) -> dict[str, Any]:
        """The raw values, for the provider call only. Never log the result."""
        return dict(self._data)

    def secret_values(self) -> tuple[str, ...]:
        """Every value held under a secret-looking name (for redaction), and every string
        inside one given as a mapping or list (a service account's ``private_key``)."""
        found: list[str] = []
        for k, v in self._data.items():
            if is_secret_name(k):
                _strings(v, found)
        return tuple(found)


def _strings(value: Any, found: list[str], depth: int = 0) -> None:
    """The strings in ``value`` long enough to redact, nested ones included."""
    if isinstance(value, str):
        if len(value) >= _MIN_SECRET_LEN:
            found.append(value)
    elif depth < 8 and isinstance(value, Mapping):
        for item in value.values():
            _strings(item, found, depth + 1)
    elif depth < 8 and isinstance(value, list | tuple):
        for item in value:
            _strings(item, found, depth + 1)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each secret in ``text`` with ``***``."""
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET_LEN and secret in text:
            text = text.replace(secret, _MASK)
    return text


def _header_secrets(value: str) -> list[str]:
    """A secret header's value, and its token without the scheme (``Bearer <token>``)."""
    token = value.strip().partition(" ")[2].strip()
    return [value, token] if token else [value]


def param_secrets(params: Mapping[str, Any]) -> tuple[str, ...]:
    """Secrets a caller passed per call among the parameters (for redaction).

    The string values of secret-looking names (``api_key=``, ``aws_secret_access_key=``)
    and of secret-looking headers in ``extra_headers`` / ``headers`` (``Authorization``,
    ``api-key``), with and without their ``Bearer`` scheme.
    """
    found: list[str] = []
    for name, value in params.items():
        if name in _HEADER_KEYS and isinstance(value, Mapping):
            for header, text in value.items():
                if isinstance(header, str) and is_secret_name(header) and isinstance(text, str):
                    found.extend(_header_secrets(text))
        elif isinstance(value, str) and is_secret_name(name):
            found.append(value)
    return tuple(s for s in found if len(s) >= _MIN_SECRET_LEN)


def masked_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` for a repr: secret-looking values (and secret headers) shown as ``***``."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        if name in _HEADER_KEYS and isinstance(value, Mapping):
            out[name] = {
                h: _MASK if isinstance(h, str) and is_secret_name(h) and v else v
                for h, v in value.items()
            }
        else:
            out[name] = _MASK if isinstance(value, str) and is_secret_name(name) else value
    return out
