"""One lean attempt's state: the call, its deployment and the request built for it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from respan_router._json import loads
from respan_router.errors import RouterError
from respan_router.providers._base import ProviderCall
from respan_router.providers._lean._deployment import Deployment
from respan_router.providers._lean._errors import (
    mapped,
    translation_error,
    unreadable_reply_error,
)
from respan_router.providers._lean._request import BuiltRequest
from respan_router.providers._lean._response import completion_from

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletion

__all__ = ["Attempt"]


@dataclass(frozen=True, slots=True)
class Attempt:
    litellm: Any
    call: ProviderCall
    deployment: Deployment
    request: BuiltRequest
    finish: Callable[[str], str]

    def completion(self, raw: bytes, headers: Mapping[str, str]) -> ChatCompletion:
        """The completion of a 2xx reply; an unreadable body is a failed reply."""
        # A body that is no JSON object fails as it fails in litellm: in the openai SDK
        # (sdk-shaped providers), else in the provider config's transform_response.
        problem: Exception | None = None
        try:
            payload = loads(raw)
        except ValueError as exc:
            payload, problem = None, exc
        if self.deployment.sdk_shaped and not isinstance(payload, dict):
            cause = problem or ValueError("the reply is not a JSON object")
            error = unreadable_reply_error(self.litellm, self.deployment, cause)
            raise mapped(error, self.call) from error
        try:
            return completion_from(
                self.litellm,
                self.deployment,
                payload,
                raw,
                headers=headers,
                request_data=self.request.request_data(),
                messages=self.call.messages,
                optional_params=self.request.optional_params,
                model=self.call.model,
                finish=self.finish,
            )
        except RouterError:
            raise
        except Exception as exc:
            error = translation_error(self.litellm, self.deployment, exc)
            raise mapped(error, self.call) from error

    @property
    def wants_usage(self) -> bool:
        """Whether the caller asked for the usage chunk (litellm drops it otherwise)."""
        if getattr(self.deployment.config, "passes_usage_on", False):
            return True  # litellm passes on whatever usage the provider streams
        options = self.call.params.get("stream_options")
        return bool(isinstance(options, dict) and options.get("include_usage"))
