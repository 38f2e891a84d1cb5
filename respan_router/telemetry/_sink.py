"""Stage 8, best effort: record a finished call as spans and metrics.

Spans are emitted when the call ends, from its :class:`~respan_router.record.CallRecord`,
with their true start and end times: one INTERNAL span for the call and one CLIENT child
per candidate tried, retry waits as events on the candidate's span. During the call the
router only fills the small record.

The tracer comes from ``Router(tracer_provider=...)``, else the global provider. When
tracing is a no-op (no SDK provider configured, an explicit ``NoOpTracerProvider``, or a
span the sampler drops) no attribute is built. OpenTelemetry is never imported here
unless the application already did: a process that does not use it pays nothing.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback
from collections.abc import Mapping
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING, Any

from respan_router._version import __version__
from respan_router.config import RouterConfig
from respan_router.errors import RouterError
from respan_router.execution import (
    AttemptRecord,
    CallRecord,
    call_cost,
    token_breakdown,
    wants_token_breakdown,
)
from respan_router.request import ChatRequest
from respan_router.routing import Pricing
from respan_router.telemetry import _attributes as attributes
from respan_router.telemetry._metrics import Metrics
from respan_router.telemetry._sampling import UNKNOWN, Rule, records_now, rule_of

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletion

__all__ = ["Telemetry"]

_log = logging.getLogger(__name__)

_TRACE_MODULE = "opentelemetry.trace"
# The API reads this variable to load a provider when none was set in code.
_PROVIDER_ENV = "OTEL_PYTHON_TRACER_PROVIDER"
_RETRY_EVENT = "respan.retry"
_NAMES_LIMIT = 1024  # span names remembered (one per model name)


def _trace_api(*, force: bool = False) -> ModuleType | None:
    """The OpenTelemetry trace API if the process has imported it (or ``force``).

    A module another thread is still importing is in ``sys.modules`` half made: then
    the import is waited for (the import system's lock), never read half made."""
    module = sys.modules.get(_TRACE_MODULE)
    if module is not None and getattr(getattr(module, "__spec__", None), "_initializing", False):
        module = importlib.import_module(_TRACE_MODULE)
    if module is None and force:
        import opentelemetry.trace as module
    return module


class Telemetry:
    """Records finished calls for one Router.

    Args:
        config: the Router's configuration (tracer and meter providers, content and
            email switches).
        pricing: prices the call's usage for ``respan.cost`` and the breakdown.
    """

    def __init__(self, config: RouterConfig, pricing: Pricing) -> None:
        self._pricing = pricing
        self._record_content = config.record_content
        self._record_email = config.record_customer_email
        self._tracer: Any = None
        self._trace: Any = None  # the trace API, held with the tracer
        self._rule: Rule = UNKNOWN  # how to know first whether a span will record
        self._names: dict[str | None, str] = {}  # span names by model
        # A candidate span's name and attributes by what they are made of: most calls'
        # candidates succeed at their first try, so the same few are reused as they are.
        self._attempts: dict[tuple[Any, ...], tuple[str, Mapping[str, Any]]] = {}
        self._internal: Any = None  # the trace API's span kinds, read with the tracer
        self._client: Any = None
        self._current: Any = None  # the context API's get_current, read with the tracer
        self._tracing_off = False
        self._provider: Any = None  # an explicit provider, else None for the global one
        self._env_provider = _PROVIDER_ENV in os.environ
        tracer_provider = config.tracer_provider
        if tracer_provider is not None:
            trace = _trace_api(force=True)
            assert trace is not None
            if isinstance(tracer_provider, trace.NoOpTracerProvider):
                self._tracing_off = True
            elif not isinstance(tracer_provider, trace.ProxyTracerProvider):
                self._provider = tracer_provider
        self._metrics: Any = None
        if config.meter_provider is not None:
            self._metrics = Metrics(config.meter_provider, __version__)

    # -- the tracer, resolved lazily ---------------------------------------------------
    def tracer(self) -> Any:
        """The tracer to use, or None while tracing is a no-op. Cheap when it is."""
        if self._tracer is not None:
            return self._tracer
        if self._tracing_off or not (self._env_provider or _TRACE_MODULE in sys.modules):
            return None  # nothing imported OpenTelemetry: no provider can be set
        trace = _trace_api(force=self._env_provider)
        if trace is None:
            return None
        provider = self._provider
        if provider is None:
            provider = trace.get_tracer_provider()
            if isinstance(provider, trace.ProxyTracerProvider):
                return None  # no global provider yet; one may be set later
        if isinstance(provider, trace.NoOpTracerProvider):
            self._tracing_off = True
            return None
        tracer = provider.get_tracer("respan_router", __version__)
        if isinstance(tracer, trace.NoOpTracer):  # e.g. the SDK disabled by environment
            self._tracing_off = True
            return None
        self._trace, self._rule = trace, rule_of(tracer)
        self._internal, self._client = trace.SpanKind.INTERNAL, trace.SpanKind.CLIENT
        self._current = importlib.import_module("opentelemetry.context").get_current
        self._tracer = tracer
        return tracer

    # -- the end of a call -------------------------------------------------------------
    def finish(
        self,
        record: CallRecord,
        request: ChatRequest,
        response: ChatCompletion | None,
        error: BaseException | None,
    ) -> None:
        """Record a finished call. Never raises: telemetry must not fail a call."""
        try:
            tracer = self._tracer if self._tracer is not None else self.tracer()
            if tracer is not None and not (record.cache_hit and _omit_log(request)):
                self._emit(tracer, record, request, response, error)
            if self._metrics is not None:
                self._metrics.record(record, request, response, error)
        except Exception:  # a bug here must not replace the call's own outcome
            _log.warning("recording a call failed", exc_info=True)

    # -- spans -------------------------------------------------------------------------
    def _name(self, model: str | None) -> str:
        """``chat {model}``: built once per model name."""
        name = self._names.get(model)
        if name is None:
            name = f"chat {model}" if model else "chat"
            if len(self._names) < _NAMES_LIMIT:
                self._names[model] = name
        return name

    def _attempt(self, attempt: AttemptRecord) -> tuple[str, Mapping[str, Any]]:
        """A candidate span's name and attributes; a failed candidate's are its own, the
        others' are remembered (read-only: the SDK copies what it is given)."""
        if attempt.error is not None:
            return self._name(attempt.model), attributes.attempt_attributes(attempt)
        key = (attempt.provider, attempt.model, attempt.outcome, attempt.tries,
               attempt.dispatch_path)  # fmt: skip
        known = self._attempts.get(key)
        if known is None:
            attrs = MappingProxyType(attributes.attempt_attributes(attempt))
            known = (self._name(attempt.model), attrs)
            if len(self._attempts) < _NAMES_LIMIT:
                self._attempts[key] = known
        return known

    def _attributes(
        self,
        record: CallRecord,
        request: ChatRequest,
        response: ChatCompletion | None,
        error: BaseException | None,
    ) -> dict[str, Any]:
        """The call span's attributes, the token breakdown's included: one dict."""
        out = attributes.call_attributes(
            record,
            request,
            response,
            error,
            cost=call_cost(record, response, self._pricing),
            record_content=self._record_content,
            record_customer_email=self._record_email,
        )
        if response is not None and request.beta and wants_token_breakdown(request):
            kinds = token_breakdown(record, response, self._pricing)
            if kinds is not None:
                out.update(attributes.token_breakdown_attributes(kinds))
        return out

    def _emit(
        self,
        tracer: Any,
        record: CallRecord,
        request: ChatRequest,
        response: ChatCompletion | None,
        error: BaseException | None,
    ) -> None:
        """The call's spans. The current context is read once and handed to the SDK,
        which would otherwise read it again for the parent, the sampler and the child's
        context (the same context: the spans are the same)."""
        trace = self._trace
        end_ns = record.end_ns
        name = request.respan.span_name
        if name is None:
            model = attributes.requested_model(request, record)
            name = self._names.get(model) or self._name(model)
        internal = self._internal
        current = self._current()
        if records_now(self._rule, trace, current):  # known to record: attributes at start
            span = tracer.start_span(
                name,
                context=current,
                kind=internal,
                attributes=self._attributes(record, request, response, error),
                start_time=record.start_ns,
            )
            if not span.is_recording():  # the tracer is disabled
                span.end(end_time=end_ns)
                return
        else:  # dropped, or only the span knows: nothing is built for a dropped span
            span = tracer.start_span(
                name, context=current, kind=internal, start_time=record.start_ns
            )
            if not span.is_recording():
                span.end(end_time=end_ns)
                return
            span.set_attributes(self._attributes(record, request, response, error))
        context = trace.set_span_in_context(span, current)
        client = self._client
        for attempt in record.attempts:
            name, attrs = self._attempt(attempt)
            child = tracer.start_span(
                name, context=context, kind=client, start_time=attempt.start_ns, attributes=attrs
            )
            for wait in attempt.waits:
                child.add_event(
                    _RETRY_EVENT,
                    {
                        "respan.retry.try": wait.try_number,
                        "respan.retry.wait_seconds": wait.seconds,
                        "error.type": wait.error_type,
                    },
                    timestamp=wait.at_ns,
                )
            attempt_end = attempt.end_ns or end_ns
            if attempt.error is not None:
                _set_error(trace, child, attempt.error, attempt_end, stacktrace=False)
            child.end(end_time=attempt_end)
        if error is not None:
            _set_error(trace, span, error, end_ns, stacktrace=True)
        span.end(end_time=end_ns)


def _omit_log(request: ChatRequest) -> bool:
    """``cache_options.omit_log``: a cache hit records no span (metrics still count it)."""
    options = request.respan.cache_options
    return options is not None and options.omit_log is True


def _set_error(
    trace: ModuleType, span: Any, error: BaseException, at_ns: int, *, stacktrace: bool
) -> None:
    """Status ERROR and an ``exception`` event (``error.type`` is among the attributes).

    The event is built here rather than with ``record_exception``, which would format
    the whole ``__cause__`` chain, including third-party errors the router wrapped.
    """
    message = error.message if isinstance(error, RouterError) else str(error)
    span.set_status(trace.Status(trace.StatusCode.ERROR, message))
    cls = type(error)
    module, qualname = cls.__module__, cls.__qualname__
    event = {
        "exception.type": qualname if module == "builtins" else f"{module}.{qualname}",
        "exception.message": message,
    }
    if stacktrace:
        event["exception.stacktrace"] = "".join(traceback.format_exception(error, chain=False))
    span.add_event("exception", event, timestamp=at_ns)
