"""Stage 5, pure: a validated request -> the ordered attempts, each with its credentials.

Load balancing, model lists, fallbacks, exclusions, ``model_name_map`` and credential
resolution; prices for the ``cheapest`` strategy and the cost of a call.
"""

from respan_router.routing._plan import Attempt, Planner
from respan_router.routing._pricing import ModelPricing, Pricing
from respan_router.routing._selection import LatencyTracker
from respan_router.routing._usage_kinds import cached_prompt_tokens, cost_by_kind, tokens_by_kind

__all__ = [
    "Attempt",
    "LatencyTracker",
    "ModelPricing",
    "Planner",
    "Pricing",
    "cached_prompt_tokens",
    "cost_by_kind",
    "tokens_by_kind",
]
