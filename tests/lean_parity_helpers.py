"""What every lean parity test does: one call through litellm, the same through the lean path.

A parity test builds a fresh ``ProviderCall`` for each side (``build``), queues the same
upstream behaviour before each, and compares what the upstream received (``seen``: method,
path, headers but transport ones and the openai SDK's ``x-stainless-*``, JSON body) and
what the caller got (the response's or each chunk's ``model_dump()`` through a ``scrub``,
or the router error's ``error_view``). litellm's side must not say a dispatch path; the
lean side must say ``lean``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import pytest

from respan_router.errors import RouterError
from respan_router.providers import LEAN, LeanProvider, LiteLLMProvider, ProviderCall
from tests.upstream import Behaviour, RecordedRequest

# The deployments' timeout in the parity tests. The slow fault cases answer 0.3 s after it;
# every other call must finish well within it on a loaded machine (litellm's first call
# of a provider imports and builds its modules), so it is generous.
TIMEOUT = 1.5
TRANSPORT_HEADERS = frozenset(
    {"user-agent", "host", "content-length", "accept-encoding", "connection"}
)

Scrub = Callable[[Any], Any]


class Upstream(Protocol):
    """Any of the fake upstreams: they record requests and replay queued behaviours."""

    requests: list[RecordedRequest]

    def reset(self) -> None: ...

    def enqueue(self, behaviour: Any) -> None: ...


def without_keys(*keys: str) -> Scrub:
    """A scrub that drops these keys at every depth (ids and times litellm makes up)."""
    dropped = frozenset(keys)

    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items() if k not in dropped}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    return scrub


scrub_ids = without_keys("id", "created")


_IDS = re.compile(r"chatcmpl-[0-9a-f]+")


def scrub_openai(value: Any) -> Any:
    """A response dictionary without what differs between two upstream replies."""
    if isinstance(value, dict):
        # "model": litellm's stream wrapper names the model as called, the lean path (and
        # the OpenAI SDK) as the upstream answered.
        return {k: scrub_openai(v) for k, v in value.items() if k not in ("created", "model")}
    if isinstance(value, list):
        return [scrub_openai(v) for v in value]
    if isinstance(value, str):
        return _IDS.sub("ID", value)
    return value


def seen(
    request: RecordedRequest, ignore: Iterable[str] = ()
) -> tuple[str, str, dict[str, str], Any]:
    """A request as parity compares it: transport headers (and ``ignore``) left out."""
    skip = TRANSPORT_HEADERS.union(ignore)
    headers = {
        k: v
        for k, v in request.headers.items()
        if k not in skip and not k.startswith("x-stainless")
    }
    return request.method, request.path, headers, request.body


def arrived(upstream: Upstream, wait: float = 2.0, ignore: Iterable[str] = ()) -> list[Any]:
    """The requests the upstream received. A client that gave up first (a timeout) has
    sent its request; on a loaded machine the server's thread may read it a moment later."""
    end = time.monotonic() + wait
    while not upstream.requests and time.monotonic() < end:
        time.sleep(0.01)
    return [seen(r, ignore) for r in upstream.requests]


def error_view(err: RouterError) -> dict[str, Any]:
    return {
        "type": type(err).__name__,
        "status": err.status_code,
        "retryable": err.retryable,
        "retry_after": getattr(err, "retry_after", None),
        "model": err.model,
        "provider": err.provider,
        "chained": err.__cause__ is not None,
    }


def outcome_sync(
    provider: Any, call: ProviderCall, *, stream: bool = False, scrub: Scrub = scrub_ids
) -> Any:
    chunks: list[Any] = []
    try:
        if stream:
            for chunk in provider.stream(call):
                chunks.append(scrub(chunk.model_dump()))
            return ("chunks", chunks)
        return ("completion", scrub(provider.complete(call).model_dump()))
    except RouterError as err:
        return ("error", chunks, error_view(err))


async def outcome_async(
    provider: Any, call: ProviderCall, *, stream: bool = False, scrub: Scrub = scrub_ids
) -> Any:
    chunks: list[Any] = []
    try:
        if stream:
            async for chunk in provider.astream(call):
                chunks.append(scrub(chunk.model_dump()))
            return ("chunks", chunks)
        return ("completion", scrub((await provider.acomplete(call)).model_dump()))
    except RouterError as err:
        return ("error", chunks, error_view(err))


def check(results: list[Any]) -> None:
    (ref_out, ref_requests, ref_path), (lean_out, lean_requests, lean_path) = results
    assert ref_path is None  # LiteLLMProvider used directly does not say
    assert lean_path == LEAN
    assert len(ref_requests) == 1
    assert lean_requests == ref_requests
    assert lean_out == ref_out


def run_both_sync(
    upstream: Upstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    behaviour: Behaviour | Any | None,
    build: Callable[[], ProviderCall],
    *,
    stream: bool = False,
    scrub: Scrub = scrub_ids,
    ignore: Iterable[str] = (),
) -> list[Any]:
    """The same call through litellm, then the lean path; both sides must match.

    ``behaviour`` None leaves the upstream's default reply. Returns each side's outcome,
    requests as seen and dispatch path, for further checks.
    """
    results = []
    for which in (reference, lean):
        upstream.reset()
        if behaviour is not None:
            upstream.enqueue(behaviour)
        call = build()
        out = outcome_sync(which, call, stream=stream, scrub=scrub)
        results.append((out, arrived(upstream, ignore=ignore), call.dispatch_path))
    check(results)
    return results


async def run_both_async(
    upstream: Upstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    behaviour: Behaviour | Any | None,
    build: Callable[[], ProviderCall],
    *,
    stream: bool = False,
    scrub: Scrub = scrub_ids,
    ignore: Iterable[str] = (),
) -> list[Any]:
    """``run_both_sync`` through ``acomplete`` / ``astream``."""
    results = []
    for which in (reference, lean):
        upstream.reset()
        if behaviour is not None:
            upstream.enqueue(behaviour)
        call = build()
        out = await outcome_async(which, call, stream=stream, scrub=scrub)
        results.append((out, arrived(upstream, ignore=ignore), call.dispatch_path))
    check(results)
    return results


async def close_two_streams_early(
    upstream: Any, lean: LeanProvider, build: Callable[[], ProviderCall]
) -> None:
    """One async and one sync stream, each closed after its first chunk: each close must
    drop its connection (the upstream sees the disconnect)."""
    from tests.upstream import Reply

    upstream.enqueue(Reply("a b c d e f", pieces=6, chunk_delay=0.2))
    chunks = lean.astream(build())
    assert await chunks.__anext__()
    await chunks.aclose()  # type: ignore[attr-defined]
    assert await upstream.async_wait_for(lambda: upstream.disconnects == 1)
    upstream.enqueue(Reply("a b c d e f", pieces=6, chunk_delay=0.2))
    sync_chunks = lean.stream(build())
    assert next(sync_chunks)
    sync_chunks.close()  # type: ignore[attr-defined]
    assert upstream.wait_for(lambda: upstream.disconnects == 2)


def count_wrappers(monkeypatch: pytest.MonkeyPatch, counts: dict[str, int], key: str) -> None:
    """Count in ``counts[key]`` each stream handed to litellm's stream wrapper, by either
    wrapped driver (async, and its generated sync form)."""
    from respan_router.providers._lean import _wrapped_async, _wrapped_sync

    new_wrapper = _wrapped_async.new_wrapper

    def counted(*args: Any, **kwargs: Any) -> Any:
        counts[key] += 1
        return new_wrapper(*args, **kwargs)

    for driver in (_wrapped_async, _wrapped_sync):
        monkeypatch.setattr(driver, "new_wrapper", counted)
