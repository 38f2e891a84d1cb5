"""Failures of a lean attempt, as litellm would have raised them, then as the router's.

An error status goes through the provider config's ``get_error_class`` and litellm's
``exception_type`` (the same two steps litellm's HTTP handler takes), then through the
router's one mapping (:func:`~respan_router.providers._litellm_errors.map_litellm_error`).
Transport failures become litellm's ``Timeout`` / ``APIConnectionError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from respan_router.errors import RouterError, StreamInterruptedError
from respan_router.providers._base import ProviderCall
from respan_router.providers._lean._deployment import Deployment
from respan_router.providers._litellm_errors import map_litellm_error

__all__ = [
    "connection_error",
    "litellm_error",
    "mapped",
    "status_error",
    "timeout_error",
    "translation_error",
    "unreadable_reply_error",
]


def _provider_label(deployment: Deployment) -> str:
    return "OpenAI" if deployment.sdk_shaped else type(deployment.config).__name__


def status_error(
    litellm: Any,
    deployment: Deployment,
    status: int,
    text: str,
    headers: Mapping[str, str],
) -> BaseException:
    """litellm's exception for an error status answered by the provider."""
    original: BaseException = deployment.config.get_error_class(
        error_message=text, status_code=status, headers=dict(headers)
    )
    return _as_litellm_maps(litellm, deployment, original)


def translation_error(litellm: Any, deployment: Deployment, cause: Exception) -> BaseException:
    """litellm's exception for a reply its config could not translate (as litellm maps it)."""
    return _as_litellm_maps(litellm, deployment, cause)


def unreadable_reply_error(litellm: Any, deployment: Deployment, cause: Exception) -> BaseException:
    """litellm's exception for a 2xx reply whose body is no completion (empty, not JSON,
    not an object), on a provider litellm reaches through the openai SDK: the SDK's
    failure, wrapped by litellm's OpenAI handler as an ``OpenAIError`` with status 500."""
    from litellm.llms.openai.common_utils import OpenAIError

    return _as_litellm_maps(litellm, deployment, OpenAIError(status_code=500, message=str(cause)))


def _as_litellm_maps(litellm: Any, deployment: Deployment, error: BaseException) -> BaseException:
    """What litellm's ``exception_type`` turns ``error`` into (it raises its answer)."""
    return litellm_error(litellm, deployment.model, deployment.provider, error)


def litellm_error(litellm: Any, model: str, provider: str, error: BaseException) -> BaseException:
    """What litellm's ``exception_type`` turns ``error`` into for ``model`` of ``provider``
    (before a deployment exists: a Vertex AI token that could not be had)."""
    try:
        litellm.exception_type(
            model=model,
            original_exception=error,
            custom_llm_provider=provider,
            completion_kwargs={},
            extra_kwargs={},
        )
    except Exception as exc:
        return exc
    return error  # pragma: no cover - exception_type always raises


def timeout_error(litellm: Any, deployment: Deployment, cause: BaseException) -> BaseException:
    """litellm's ``Timeout`` for an attempt slower than its timeout."""
    error: BaseException = litellm.Timeout(
        message=f"{_provider_label(deployment)}Exception - Request timed out.",
        model=deployment.model,
        llm_provider=deployment.provider,
    )
    error.__cause__ = cause
    return error


def connection_error(litellm: Any, deployment: Deployment, cause: BaseException) -> BaseException:
    """litellm's ``APIConnectionError`` for a refused, reset or dropped connection."""
    error: BaseException = litellm.APIConnectionError(
        message=f"{_provider_label(deployment)}Exception - Connection error.",
        llm_provider=deployment.provider,
        model=deployment.model,
    )
    error.__cause__ = cause
    return error


def mapped(exc: BaseException, call: ProviderCall, *, delivered: int = 0) -> RouterError:
    """The router error for ``exc``; a stream that already delivered chunks is interrupted."""
    error = map_litellm_error(
        exc, model=call.model, provider=call.provider, secrets=call.secret_values()
    )
    if delivered and not isinstance(error, StreamInterruptedError):
        error = StreamInterruptedError(
            f"stream interrupted after {delivered} chunk(s): {error.message}",
            model=call.model,
            provider=call.provider,
        )
    return error
