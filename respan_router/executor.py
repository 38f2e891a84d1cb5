"""Stage 6: walk the plan's attempts, falling back on provider errors.

Only this module (and the providers) does I/O: once for sync, once for async. Everything
the two share (building the provider call, deciding what an outcome means) is written
once in :class:`_ExecutorBase`.
"""

from __future__ import annotations

from collections.abc import Sequence

from respan_router.errors import (
    AllAttemptsFailedError,
    AttemptFailure,
    ProviderError,
    RouterError,
)
from respan_router.plan import Attempt
from respan_router.providers.base import Provider, ProviderCall
from respan_router.record import AttemptRecord, CallRecord
from respan_router.request import ChatRequest
from respan_router.responses import ChatCompletion
from respan_router.selection import LatencyTracker

__all__ = ["Executor"]


class _ExecutorBase:
    def __init__(
        self,
        provider: Provider,
        *,
        default_timeout: float | None = None,
        latency: LatencyTracker | None = None,
    ) -> None:
        self.provider = provider
        self._default_timeout = default_timeout
        self.latency = latency if latency is not None else LatencyTracker()

    def _call_for(self, attempt: Attempt, request: ChatRequest) -> ProviderCall:
        params = request.params
        if request.headers:
            params = {**params, "extra_headers": request.headers}
        return ProviderCall(
            model=attempt.model,
            litellm_model=attempt.litellm_model,
            provider=attempt.provider,
            messages=request.messages,
            params=params,
            credentials=attempt.credentials,
            credential_source=attempt.credential_source,
            timeout=request.timeout if request.timeout is not None else self._default_timeout,
        )

    @staticmethod
    def _start(attempt: Attempt, record: CallRecord) -> AttemptRecord:
        arec = AttemptRecord(
            attempt.model, attempt.provider, attempt.litellm_model, attempt.credential_source
        )
        record.attempts.append(arec)
        return arec

    @staticmethod
    def _failed(
        attempt: Attempt, arec: AttemptRecord, error: ProviderError, failures: list[AttemptFailure]
    ) -> None:
        arec.finish(error)
        failures.append(
            AttemptFailure(attempt.model, attempt.provider, error, attempt.credential_source)
        )

    @staticmethod
    def _give_up(failures: list[AttemptFailure]) -> RouterError:
        """The single attempt's own error, or every attempt's when there were several."""
        if len(failures) == 1:
            return failures[0].error
        error = AllAttemptsFailedError(failures)
        error.__cause__ = failures[-1].error
        return error


class Executor(_ExecutorBase):
    """Runs a plan against a provider, sync and async."""

    def run(
        self, request: ChatRequest, attempts: Sequence[Attempt], record: CallRecord
    ) -> ChatCompletion:
        failures: list[AttemptFailure] = []
        for attempt in attempts:
            arec = self._start(attempt, record)
            call = self._call_for(attempt, request)
            try:
                arec.tries += 1
                response = self.provider.complete(call)
            except ProviderError as exc:
                self._failed(attempt, arec, exc, failures)
                continue
            arec.finish()
            self.latency.observe(attempt.model, (arec.end_ns - arec.start_ns) / 1e9)
            return response
        raise self._give_up(failures)

    async def arun(
        self, request: ChatRequest, attempts: Sequence[Attempt], record: CallRecord
    ) -> ChatCompletion:
        failures: list[AttemptFailure] = []
        for attempt in attempts:
            arec = self._start(attempt, record)
            call = self._call_for(attempt, request)
            try:
                arec.tries += 1
                response = await self.provider.acomplete(call)
            except ProviderError as exc:
                self._failed(attempt, arec, exc, failures)
                continue
            arec.finish()
            self.latency.observe(attempt.model, (arec.end_ns - arec.start_ns) / 1e9)
            return response
        raise self._give_up(failures)
