"""respan_router: the Respan gateway's routing engine, in-process.

``Router.complete`` / ``Router.acomplete`` replace a provider SDK call and add load
balancing, fallbacks, retries, caching and tracing. litellm is imported lazily, on the
first call that dispatches through it.

``ChatCompletion``, ``ChatCompletionChunk`` and ``Usage`` are the OpenAI SDK's own types
(``openai.types.chat``), loaded when first named: ``import respan_router`` stays light.
"""

from typing import TYPE_CHECKING, Any

from respan_router._secrets import Credentials
from respan_router._version import __version__
from respan_router.config import Deployment, RouterConfig
from respan_router.errors import (
    AllAttemptsFailedError,
    AttemptFailure,
    AuthenticationError,
    BudgetExceededError,
    BudgetUnavailableError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    CustomerRateLimitError,
    FeatureNotAvailableError,
    InvalidRequestError,
    NoCandidateError,
    NotFoundError,
    PermissionDeniedError,
    PromptLoadError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    RouterError,
    StreamInterruptedError,
)
from respan_router.providers import Provider, ProviderCall
from respan_router.request import (
    CacheOptions,
    ChatRequest,
    Customer,
    LoadBalanceGroup,
    LoadBalanceModel,
    RespanParams,
    RetryParams,
)
from respan_router.router import Router
from respan_router.routing import Attempt

if TYPE_CHECKING:
    from openai.types import CompletionUsage as Usage
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

__all__ = [
    "AllAttemptsFailedError",
    "Attempt",
    "AttemptFailure",
    "AuthenticationError",
    "BudgetExceededError",
    "BudgetUnavailableError",
    "CacheOptions",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatRequest",
    "ContentPolicyViolationError",
    "ContextWindowExceededError",
    "Credentials",
    "Customer",
    "CustomerRateLimitError",
    "Deployment",
    "FeatureNotAvailableError",
    "InvalidRequestError",
    "LoadBalanceGroup",
    "LoadBalanceModel",
    "NoCandidateError",
    "NotFoundError",
    "PermissionDeniedError",
    "PromptLoadError",
    "Provider",
    "ProviderBadRequestError",
    "ProviderCall",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeoutError",
    "RateLimitError",
    "RespanParams",
    "RetryParams",
    "Router",
    "RouterConfig",
    "RouterError",
    "StreamInterruptedError",
    "Usage",
    "__version__",
]


def __getattr__(name: str) -> Any:
    """The OpenAI SDK's response types, imported when first named."""
    from respan_router import responses

    if name == "Usage":
        return responses.usage_type()
    if name in ("ChatCompletion", "ChatCompletionChunk"):
        return getattr(responses, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
