"""Stage 1: keyword arguments -> one validated :class:`ChatRequest`.

The three sources of Respan parameters are merged (top-level keywords and ``extra_body``
> ``respan_params`` > the ``X-Data-Respan-Params`` header), validated with pydantic, and
what must not pass is rejected here, before anything else happens.
"""

from respan_router.request._merge import HEADER, LEGACY_HEADER, merge_sources
from respan_router.request._params import (
    MAX_CACHE_TTL,
    CacheOptions,
    Customer,
    CustomerSettings,
    LoadBalanceGroup,
    LoadBalanceModel,
    OpenAIParams,
    OverrideConfig,
    PromptParam,
    RespanParams,
    RetryBackoff,
    RetryParams,
    WeightedCredentials,
    parse_moment,
)
from respan_router.request._rendered import RenderedPrompt
from respan_router.request._request import ChatRequest, build_request
from respan_router.request._request import _check_messages as check_messages
from respan_router.request._request import _validated as validated

__all__ = [
    "HEADER",
    "LEGACY_HEADER",
    "MAX_CACHE_TTL",
    "CacheOptions",
    "ChatRequest",
    "Customer",
    "CustomerSettings",
    "LoadBalanceGroup",
    "LoadBalanceModel",
    "OpenAIParams",
    "OverrideConfig",
    "PromptParam",
    "RenderedPrompt",
    "RespanParams",
    "RetryBackoff",
    "RetryParams",
    "WeightedCredentials",
    "build_request",
    "check_messages",
    "merge_sources",
    "parse_moment",
    "validated",
]
