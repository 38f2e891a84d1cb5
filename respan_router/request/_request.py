"""Stage 1: turn a call's keywords into one validated, typed :class:`ChatRequest`.

Bad input stops here with an :class:`~respan_router.errors.InvalidRequestError` naming
the field and the reason, before anything else happens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from respan_router._secrets import masked_params
from respan_router.errors import FeatureNotAvailableError, InvalidRequestError
from respan_router.request._customer_only import customer_only
from respan_router.request._known import KNOWN_CHAT_PARAMS, did_you_mean
from respan_router.request._memo import memo_key, remember, remembered
from respan_router.request._merge import merge_sources
from respan_router.request._params import RESPAN_FIELDS, OpenAIParams, RespanParams
from respan_router.request._plain import PLAIN_KEYS, plain_parts
from respan_router.request._rendered import RenderedPrompt
from respan_router.request._text import check_encodable, may_fail_checks

__all__ = ["RESERVED", "UNIMPLEMENTED", "ChatRequest", "build_request"]

# Parameters accepted by the schema whose behaviour is not built yet: rejected clearly.
UNIMPLEMENTED: dict[str, str] = {}

_CREDENTIAL = (
    "is a credential or connection setting: set it in Router(providers=...) or "
    "deployments, or per call with credential_override or customer_credentials"
)
# litellm keywords the router owns: passing them through would be silently overridden
# (or would bypass routing, retries and redaction), so they are rejected with a pointer.
RESERVED: dict[str, str] = {
    "num_retries": "the router retries: use retries or retry_params",
    "max_retries": "the router retries: use retries or retry_params",
    "fallbacks": "the router falls back: use fallback_models",
    "context_window_fallback_dict": "the router falls back: use fallback_models",
    "weight": "a weight belongs to a load-balanced model: use load_balance_models[].weight",
    **dict.fromkeys(
        (
            "api_key",
            "api_base",
            "base_url",
            "api_version",
            "organization",
            "azure_ad_token",
            "aws_access_key_id",
            "aws_secret_access_key",
            "aws_session_token",
            "vertex_credentials",
        ),
        _CREDENTIAL,
    ),
}

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_CORE = frozenset({"messages", "model", "stream", "timeout"})
_MAX_CUSTOMER_ID = 254
MAX_DEPTH = 32  # nesting of any parameter value; deeper input is rejected, not recursed
_EMPTY_RESPAN = RespanParams()  # the Respan parameters of a call that gives none
_NO_BETA: frozenset[str] = frozenset()
_plain_names = PLAIN_KEYS.issuperset  # whether a call's keywords are all of the common shape
M = TypeVar("M", bound=BaseModel)


@dataclass(slots=True)
class ChatRequest:
    """A validated request.

    Attributes:
        messages: the conversation, validated.
        model: the ``model`` parameter, or None when routing supplies one.
        stream: whether the caller asked for a stream.
        timeout: seconds one attempt may take, or None.
        params: every other OpenAI or pass-through parameter, as given.
        respan: the merged, validated Respan parameters.
        headers: headers to forward upstream, or None.
        prompt: the prompt this request was rendered from (stage 2), or None.
        beta: the ``X-Respan-Beta`` flags the call turned on.
        bare: the call gave no Respan parameter at all (so no stage that only a Respan
            parameter turns on -- prompt, customer -- applies to it).
    """

    messages: list[dict[str, Any]]
    model: str | None
    stream: bool
    timeout: float | None
    params: dict[str, Any]
    respan: RespanParams
    headers: dict[str, str] | None = None
    prompt: RenderedPrompt | None = None
    beta: frozenset[str] = frozenset()
    bare: bool = False

    def __repr__(self) -> str:
        # Never a secret: a per-call api_key= or Authorization header shows as ***.
        headers = masked_params({"headers": self.headers})["headers"] if self.headers else None
        return (
            f"ChatRequest(model={self.model!r}, stream={self.stream}, timeout={self.timeout}, "
            f"messages=[{len(self.messages)} message(s)], params={masked_params(self.params)}, "
            f"respan={self.respan!r}, headers={headers}, beta={sorted(self.beta)})"
        )


_UNION_TAGS = frozenset({"str", "int", "float", "bool", "none", "list", "dict"})


def _is_union_tag(part: int | str) -> bool:
    """pydantic names union members in error locations ('str', 'list[str]', ...)."""
    return isinstance(part, str) and (part in _UNION_TAGS or "[" in part or "-" in part)


def _loc(loc: tuple[int | str, ...], prefix: str = "") -> str:
    out = prefix
    for part in loc:
        if _is_union_tag(part):
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _from_validation(exc: ValidationError, prefix: str = "") -> InvalidRequestError:
    errors = exc.errors(include_url=False, include_input=False)

    def specificity(err: Any) -> tuple[int, int]:
        # Deepest location first; a constraint beats a plain type mismatch of a union member.
        depth = sum(1 for p in err["loc"] if not _is_union_tag(p))
        return depth, 0 if err["type"].endswith("_type") else 1

    first = max(errors, key=specificity)
    field = _loc(tuple(first["loc"]), prefix)
    if first["type"] == "extra_forbidden" and len(first["loc"]) == 1:
        reason = "is not a Respan parameter"
    else:
        reason = first["msg"]
    return InvalidRequestError(f"invalid parameter {field}: {reason}", field=field)


def _validated(schema: type[M], values: Mapping[str, Any]) -> M:
    """``schema`` validated over ``values``; a failure raised outside the ``except``.

    pydantic's ValidationError quotes the rejected input (possibly a secret): the typed
    error must not carry it as ``__context__``, which ``from None`` only hides.
    """
    error: InvalidRequestError | None = None
    try:
        return schema.model_validate(values)
    except ValidationError as exc:
        error = _from_validation(exc)
    raise error


def _check_message(i: int, message: Any) -> None:
    where = f"messages[{i}]"
    if not isinstance(message, Mapping):
        raise InvalidRequestError(f"{where} must be an object", field=where)
    role = message.get("role")
    if not isinstance(role, str) or role not in _ROLES:
        raise InvalidRequestError(
            f"{where}.role must be one of {sorted(_ROLES)}", field=f"{where}.role"
        )
    content = message.get("content")
    if content is None:
        if role != "assistant" or not (message.get("tool_calls") or message.get("function_call")):
            raise InvalidRequestError(
                f"{where}.content is required for a {role} message", field=f"{where}.content"
            )
    elif isinstance(content, list):
        for j, part in enumerate(content):
            if not isinstance(part, Mapping) or not isinstance(part.get("type"), str):
                raise InvalidRequestError(
                    f"{where}.content[{j}] must be an object with a 'type'",
                    field=f"{where}.content[{j}]",
                )
    elif not isinstance(content, str):
        raise InvalidRequestError(
            f"{where}.content must be a string or a list of parts", field=f"{where}.content"
        )
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise InvalidRequestError(
            f"{where}.tool_call_id is required for a tool message", field=f"{where}.tool_call_id"
        )


def _check_messages(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError("messages must be a non-empty list", field="messages")
    for i, message in enumerate(messages):
        _check_message(i, message)
    return messages


_LEAVES = frozenset({str, int, float, bool, type(None), bytes})


def _too_deep(value: Any) -> bool:
    """Whether a value nests lists/dicts deeper than MAX_DEPTH (iterative, no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        item, depth = pop()
        if depth > MAX_DEPTH:
            return True
        kind = type(item)
        children = (
            item.values()
            if kind is dict or (kind is not list and isinstance(item, Mapping))
            else item
        )
        for child in children:
            ck = type(child)
            if (ck is dict or ck is list or ck is tuple) or (
                ck not in _LEAVES and isinstance(child, Mapping)
            ):
                push((child, depth + 1))
    return False


def _check_depth(values: Mapping[str, Any]) -> None:
    for name, value in values.items():
        kind = type(value)
        if kind is str or value is None or kind is bool or kind is int or kind is float:
            continue
        if (kind is dict or kind is list or kind is tuple or isinstance(value, Mapping)) and (
            _too_deep(value)
        ):
            raise InvalidRequestError(
                f"{name} is nested more than {MAX_DEPTH} levels deep", field=name
            )


def _validate_respan(raw: dict[str, Any]) -> RespanParams:
    if not raw:
        return _EMPTY_RESPAN
    if (known := customer_only(raw, _MAX_CUSTOMER_ID)) is not None:  # the usual customer call
        return known
    respan = _validated(RespanParams, raw)
    for name, why in UNIMPLEMENTED.items():
        if raw.get(name) is not None:
            raise FeatureNotAvailableError(f"{why}; remove '{name}' from the request", field=name)
    cid = respan.customer_identifier
    if cid is not None and len(str(cid)) > _MAX_CUSTOMER_ID:
        raise InvalidRequestError(
            f"customer_identifier must be at most {_MAX_CUSTOMER_ID} characters",
            field="customer_identifier",
        )
    customer = respan.customer_params
    if customer is not None:
        inner = str(customer.customer_identifier)
        if len(inner) > _MAX_CUSTOMER_ID:
            raise InvalidRequestError(
                f"customer_params.customer_identifier must be at most {_MAX_CUSTOMER_ID} "
                "characters",
                field="customer_params.customer_identifier",
            )
        if cid is not None and str(cid) != inner:
            raise InvalidRequestError(
                "customer_identifier and customer_params.customer_identifier name different "
                "customers",
                field="customer_params.customer_identifier",
            )
    return respan


def _check_typos(body: Mapping[str, Any]) -> None:
    """A name that is no OpenAI/litellm parameter but close to a Respan one is a typo:
    sent upstream it would be ignored or rejected there, and the Respan feature skipped."""
    for name in body:
        if name in KNOWN_CHAT_PARAMS:
            continue
        meant = did_you_mean(name, RESPAN_FIELDS)
        if meant is not None:
            raise InvalidRequestError(
                f"{name} is not a parameter; did you mean '{meant}'?", field=name
            )


def _plain_body(body: Mapping[str, Any], model: Any) -> bool:
    """A body of only messages (checked already), a model name and a stream flag: the
    common shape, whose few checks are cheaper here than a schema validation."""
    return (
        body.keys() <= PLAIN_KEYS
        and (model is None or (type(model) is str and model != ""))
        and type(body.get("stream", False)) is bool
    )


def build_request(kwargs: Mapping[str, Any]) -> ChatRequest:
    """Merge, validate and type one call's keywords."""
    if _plain_names(kwargs):  # the common shape: one walk proves every check
        parts = plain_parts(kwargs)
        if parts is not None:
            messages, model, stream = parts
            # messages, model, stream, timeout, params, respan, headers, prompt, beta, bare
            return ChatRequest(
                messages, model, stream, None, {}, _EMPTY_RESPAN, None, None, _NO_BETA, True
            )
    return _build(kwargs)


def _build(kwargs: Mapping[str, Any]) -> ChatRequest:
    """:func:`build_request` for any shape: merge, then every check."""
    merged = merge_sources(kwargs)
    body = merged.body
    # With a prompt, messages and model may come from the template (stage 2 renders the
    # request, which is then validated again, messages and model included).
    templated = merged.respan.get("prompt") is not None
    if "messages" not in body:
        if not templated:
            raise InvalidRequestError("messages is required", field="messages")
        messages: list[dict[str, Any]] = []
    elif templated and body["messages"] == []:
        messages = []
    else:
        messages = _check_messages(body["messages"])
    if may_fail_checks(body, MAX_DEPTH):
        _check_depth(body)
        check_encodable(body)
    raw = merged.respan
    key = memo_key(raw) if raw else None
    known = remembered(key) if key is not None else None  # validated before: no check
    if raw and known is None and may_fail_checks(raw, MAX_DEPTH):
        _check_depth(raw)
        check_encodable(raw)
    model = body.get("model")
    if not _plain_body(body, model):
        if not body.keys().isdisjoint(RESERVED):
            name = next(k for k in body if k in RESERVED)
            raise InvalidRequestError(f"{name} {RESERVED[name]}", field=name)
        _check_typos(body)
        _validated(OpenAIParams, body if "messages" in body else {**body, "messages": messages})
    respan = known if known is not None else _validate_respan(raw)
    if key is not None and known is None:
        remember(key, raw, respan)
    if (
        model is None
        and not templated
        and not (respan.load_balance_models or respan.load_balance_group or respan.models)
    ):
        raise InvalidRequestError(
            "model is required unless load_balance_models, load_balance_group or models "
            "supplies one",
            field="model",
        )
    params = {k: v for k, v in body.items() if k not in _CORE}
    timeout = body.get("timeout")
    return ChatRequest(
        messages=messages,
        model=model,
        stream=bool(body.get("stream", False)),
        timeout=float(timeout) if timeout is not None else None,
        params=params,
        respan=respan,
        headers=merged.headers,
        beta=merged.beta,
        bare=not raw,
    )
