"""Typed request parameters: the OpenAI chat-completion ones and the Respan ones.

Validated with pydantic v2. Numbers and booleans are strict (``"0.5"`` is not a
temperature, ``1`` is not ``True``); NaN and infinity are rejected; unknown Respan fields
are rejected (a typo in ``respan_params`` is an error, not a silent no-op). ``None``
means absent in every Respan object: a field set to None takes its default.

Credentials keyed by provider (``customer_credentials``) or by model
(``credential_override``) may be a dict of settings or, as Respan documents, just the API
key: ``{"openai": "sk-..."}`` is ``{"openai": {"api_key": "sk-..."}}``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

__all__ = [
    "MAX_CACHE_TTL",
    "CacheOptions",
    "Customer",
    "CustomerSettings",
    "LoadBalanceGroup",
    "LoadBalanceModel",
    "OpenAIParams",
    "OverrideConfig",
    "PromptParam",
    "RespanParams",
    "RetryBackoff",
    "RetryParams",
    "WeightedCredentials",
    "parse_moment",
]

#: The longest ``cache_ttl`` accepted: one year, in seconds. Longer values are refused
#: (a store could not keep them: Redis rejects an expiry past its limit).
MAX_CACHE_TTL: float = 365 * 24 * 3600

Float = Annotated[float, Field(strict=True, allow_inf_nan=False)]
NonEmptyStr = Annotated[str, Field(strict=True, min_length=1)]
Identifier = Annotated[StrictStr | StrictInt, Field(union_mode="left_to_right")]
CredentialDict = dict[NonEmptyStr, Any]


def _key_shorthand(value: Any) -> Any:
    """``{"openai": "sk-..."}`` -> ``{"openai": {"api_key": "sk-..."}}`` (Respan's shape)."""
    if not isinstance(value, dict):
        return value
    return {k: {"api_key": v} if isinstance(v, str) and v else v for k, v in value.items()}


#: Credentials by provider or model: a settings dict each, or the API key alone.
CredentialsBy = Annotated[dict[NonEmptyStr, CredentialDict], BeforeValidator(_key_shorthand)]


class _Strict(BaseModel):
    # Schemas are built on first use (the Router builds them), keeping the import light.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True)

    @model_validator(mode="before")
    @classmethod
    def _none_is_absent(cls, data: Any) -> Any:
        if isinstance(data, dict) and None in data.values():
            return {k: v for k, v in data.items() if v is not None}
        return data


class LoadBalanceModel(_Strict):
    """One weighted entry of a load-balance list."""

    model: NonEmptyStr
    weight: Annotated[Float, Field(gt=0)] = 1.0
    credentials: CredentialDict | None = Field(default=None, repr=False)


class LoadBalanceGroup(_Strict):
    """A load-balance group configured on the Router; ``models`` replaces its list."""

    group_id: NonEmptyStr
    models: Annotated[list[LoadBalanceModel], Field(min_length=1)] | None = None


#: How waits between tries grow: ``"constant"`` (every wait is ``retry_after``, Respan's
#: meaning) or ``"exponential"`` (``retry_after`` doubling, with jitter; a Router setting).
RetryBackoff = Literal["constant", "exponential"]


class RetryParams(_Strict):
    """Respan's retry parameters (defaults apply when ``retry_params`` is given).

    The one declaration of their bounds: the request's ``retry_params`` and the Router's
    are validated here, and the retry policy is built from the validated values.
    ``retry_after`` is the number of seconds between tries.
    """

    retry_enabled: StrictBool = True
    num_retries: Annotated[StrictInt, Field(ge=0, le=100)] = 3
    retry_after: Annotated[Float, Field(gt=0, le=3600)] = 0.2


class CacheOptions(_Strict):
    cache_by_customer: StrictBool | None = None
    is_cached_by_model: StrictBool | None = None
    omit_log: StrictBool | None = None


class WeightedCredentials(_Strict):
    """One credential set of a weighted ``customer_credentials`` list."""

    credentials: CredentialsBy = Field(repr=False)
    weight: Annotated[Float, Field(gt=0)] = 1.0


class OverrideConfig(_Strict):
    """How a schema-1 prompt combines its messages with the request's."""

    messages_override_mode: Literal["append", "override"] = "append"


# Keys the prompt stage owns: an override or patch may not set them.
_PROMPT_OWNED = ("messages", "input", "stream", "prompt")


def _no_owned_keys(values: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
    for key in _PROMPT_OWNED:
        if values is not None and key in values:
            raise PydanticCustomError("prompt_owned", f"{name} may not contain '{key}'")
    return values


class PromptParam(_Strict):
    """The ``prompt`` parameter: a registered prompt template, its variables and merge rules.

    ``version``: absent means the deployed version, ``"latest"`` the newest (a draft
    included). ``schema_version`` 1 merges by ``override`` / ``override_params`` /
    ``override_config``; 2 lets the prompt's configuration win and applies ``patch``.
    """

    prompt_id: NonEmptyStr
    version: Annotated[StrictInt, Field(ge=1)] | Literal["latest"] | None = None
    variables: dict[StrictStr, Any] | None = None
    echo: StrictBool = True
    override: StrictBool = False
    override_params: dict[StrictStr, Any] | None = None
    override_config: OverrideConfig | None = None
    schema_version: Literal[1, 2] = 1
    patch: dict[StrictStr, Any] | None = None

    @field_validator("override_params")
    @classmethod
    def _override_params(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _no_owned_keys(value, "override_params")

    @field_validator("patch")
    @classmethod
    def _patch(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _no_owned_keys(value, "patch")

    @model_validator(mode="after")
    def _one_schema(self) -> PromptParam:
        if self.schema_version == 1 and self.patch is not None:
            raise PydanticCustomError(
                "prompt_schema", "patch needs schema_version 2 (schema 1 uses override_params)"
            )
        if self.schema_version == 2 and (
            self.override or self.override_params is not None or self.override_config is not None
        ):
            raise PydanticCustomError(
                "prompt_schema",
                "override, override_params and override_config are schema_version 1 "
                "settings; with schema_version 2 the prompt's configuration wins and patch "
                "applies on top",
            )
        return self


def parse_moment(text: str) -> datetime:
    """A ``YYYY-MM-DD`` date (midnight UTC) or an ISO datetime (naive = UTC), in UTC.

    Raises:
        ValueError: the text is neither.
    """
    if len(text) == 10:
        day = date.fromisoformat(text)
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _moment(text: str) -> str:
    try:
        parse_moment(text)
    except ValueError:
        raise ValueError("must be a date YYYY-MM-DD (or an ISO datetime, UTC)") from None
    return text


Moment = Annotated[StrictStr, AfterValidator(_moment)]
Usd = Annotated[Float, Field(ge=0, le=1e9)]


class CustomerSettings(_Strict):
    """A customer's budget, markup and rate limit (``customer_params`` without its id).

    Money is in USD; ``markup_percentage`` 20 means a price x 1.2; ``rate_limit`` is
    requests per minute.
    """

    name: StrictStr | None = None
    email: StrictStr | None = Field(default=None, repr=False)
    group_identifier: Identifier | None = None
    period_budget: Usd | None = None
    budget_duration: Literal["daily", "weekly", "monthly", "yearly"] | None = None
    period_start: Moment | None = None
    period_end: Moment | None = None
    total_budget: Usd | None = None
    markup_percentage: Annotated[Float, Field(ge=0, le=100_000)] | None = None
    rate_limit: Annotated[StrictInt, Field(ge=1, le=10_000_000)] | None = None
    metadata: dict[StrictStr, Any] | None = None

    @model_validator(mode="after")
    def _coherent(self) -> CustomerSettings:
        if (
            self.period_start
            and self.period_end
            and parse_moment(self.period_start) >= parse_moment(self.period_end)
        ):
            raise ValueError("period_end must be after period_start")
        # That a period_budget has a period (budget_duration or period_end) is checked by
        # the budget stage once an update is merged with the stored settings: raising a
        # monthly customer's period_budget alone keeps its budget_duration.
        return self


class Customer(CustomerSettings):
    """``customer_params``: a customer's identity, budget, markup and rate limit."""

    customer_identifier: Identifier


class RespanParams(_Strict):
    """Every Respan parameter, after the three sources were merged."""

    # routing
    load_balance_group: LoadBalanceGroup | None = None
    load_balance_models: Annotated[list[LoadBalanceModel], Field(min_length=1)] | None = None
    models: list[NonEmptyStr] | None = None
    fallback_models: list[NonEmptyStr] | None = None
    disable_fallback: StrictBool = False
    exclude_providers: list[NonEmptyStr] | None = None
    exclude_models: list[NonEmptyStr] | None = None
    routing_strategy: Literal["ordered", "cheapest", "fastest"] | None = None
    # credentials
    customer_credentials: (
        CredentialsBy | Annotated[list[WeightedCredentials], Field(min_length=1)] | None
    ) = Field(default=None, repr=False)  # secrets: never in a repr
    credential_override: CredentialsBy | None = Field(default=None, repr=False)
    model_name_map: dict[NonEmptyStr, NonEmptyStr] | None = None
    # resilience
    retry_params: RetryParams | None = None
    retries: Annotated[StrictInt, Field(ge=0, le=100)] | None = None
    total_timeout: Annotated[Float, Field(gt=0)] | None = None
    first_token_timeout: Annotated[Float, Field(gt=0)] | None = None
    # cache
    cache_enabled: StrictBool | None = None
    cache_ttl: Annotated[Float, Field(gt=0, le=MAX_CACHE_TTL)] | None = None
    cache_options: CacheOptions | None = None
    # identity and logging
    customer_identifier: Annotated[Identifier, Field()] | None = None
    customer_params: Customer | None = None
    metadata: dict[StrictStr, Any] | None = None
    properties: dict[StrictStr, Any] | None = None
    custom_identifier: Identifier | None = None
    thread_identifier: Identifier | None = None
    span_name: NonEmptyStr | None = None
    disable_log: StrictBool = False
    request_breakdown: StrictBool = False
    positive_feedback: StrictBool | None = None
    # prompt templates
    prompt: PromptParam | None = None


RESPAN_FIELDS: frozenset[str] = frozenset(RespanParams.model_fields)


class OpenAIParams(BaseModel):
    """The OpenAI chat-completion parameters the router understands.

    Parameters it does not know are kept (``extra="allow"``) and passed to the backend
    unchanged, so provider-specific options and litellm's ``mock_response`` work.
    """

    model_config = ConfigDict(extra="allow", allow_inf_nan=False, defer_build=True)

    messages: list[Any]
    model: NonEmptyStr | None = None
    stream: StrictBool = False
    stream_options: dict[str, Any] | None = None
    temperature: Annotated[Float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[Float, Field(ge=0, le=1)] | None = None
    n: Annotated[StrictInt, Field(ge=1, le=128)] | None = None
    max_tokens: Annotated[StrictInt, Field(ge=1)] | None = None
    max_completion_tokens: Annotated[StrictInt, Field(ge=1)] | None = None
    frequency_penalty: Annotated[Float, Field(ge=-2, le=2)] | None = None
    presence_penalty: Annotated[Float, Field(ge=-2, le=2)] | None = None
    logprobs: StrictBool | None = None
    top_logprobs: Annotated[StrictInt, Field(ge=0, le=20)] | None = None
    echo: StrictBool | None = None
    stop: StrictStr | Annotated[list[StrictStr], Field(max_length=4)] | None = None
    logit_bias: dict[StrictStr, Annotated[Float, Field(ge=-100, le=100)]] | None = None
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: StrictStr | dict[str, Any] | None = None
    parallel_tool_calls: StrictBool | None = None
    functions: list[dict[str, Any]] | None = None
    function_call: StrictStr | dict[str, Any] | None = None
    seed: StrictInt | None = None
    user: StrictStr | None = None
    timeout: Annotated[Float, Field(gt=0)] | None = None


def build_schemas() -> None:
    """Build the deferred validation schemas now (the Router does, before its first call)."""
    PromptParam.model_rebuild()
    Customer.model_rebuild()
    RespanParams.model_rebuild()
    OpenAIParams.model_rebuild()
