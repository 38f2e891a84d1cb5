"""The health bus on Redis: a :class:`~respan_router.resilience.HealthStore` for the
breakers of many processes (see the resilience stage for the events and the rules).

:class:`RedisHealthStore` sends events with Redis pub/sub from a background thread (the
call never waits for it) and receives them on another, applying them to the local view
within the pub/sub latency (well under a millisecond on one host; the documented
staleness bound is one network round trip while Redis is up). The breakers open now are
also kept in a hash, read when a process (re)connects. While Redis is down each process
is on its own view; when it returns, the listener reconnects and resynchronises.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from respan_router._loops import after_fork
from respan_router.redis._clients import is_cluster
from respan_router.redis._shared import SharedRedis
from respan_router.resilience import HealthEvent

__all__ = ["RedisHealthStore"]

logger = logging.getLogger("respan_router.redis")

# Delete a probe claim only if it is still this process's.  KEYS: 1 claim.  ARGV: 1 origin
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisHealthStore:
    """A :class:`HealthStore` on Redis pub/sub, with the open breakers in a hash.

    Args:
        redis: the Router's :class:`SharedRedis`.
    """

    def __init__(self, redis: SharedRedis) -> None:
        self.redis = redis
        self.origin = os.urandom(8).hex()
        self.channel = redis.prefix + "health"
        self._open_key = redis.key("health", "open")
        self._outbox: queue.SimpleQueue[HealthEvent | None] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._apply: Callable[[HealthEvent], None] | None = None
        self.connected = threading.Event()  # set while the listener is subscribed
        after_fork(self, RedisHealthStore._after_fork)

    # -- sending ----------------------------------------------------------------------
    def publish(self, event: HealthEvent) -> None:
        self._outbox.put(event)

    def _send(self) -> None:
        while not self._stop.is_set():
            event = self._outbox.get()
            batch = [event]
            while not self._outbox.empty():
                batch.append(self._outbox.get())
            events = [e for e in batch if e is not None]
            if events:
                try:
                    self.redis.run(lambda c, ev=events: self._write(c, ev), None)  # type: ignore[misc]
                except Exception:  # never let the sender die: the events are only lost
                    logger.warning("health events not sent", exc_info=True)
            if None in batch:
                return

    def _write(self, client: Any, events: list[HealthEvent]) -> None:
        """One round trip for a batch of events: the open breakers' hash, the probes that
        are over, and one message carrying every event."""
        for e in events:  # our probe claims given up (only if still ours)
            if e.kind == "release":
                client.eval(_RELEASE, 1, self.redis.key("health", e.key, "probe"), self.origin)
        events = [e for e in events if e.kind != "release"]
        if not events:
            return
        pipe = client.pipeline(transaction=False)
        for e in events:
            if e.kind == "open":
                pipe.hset(self._open_key, e.key, repr(e.until))
            elif e.kind == "close":
                pipe.hdel(self._open_key, e.key)
            if e.kind != "failure":  # the probe, if any, is over
                pipe.delete(self.redis.key("health", e.key, "probe"))
        body = [{"k": e.kind, "d": e.key, "o": e.origin, "u": e.until} for e in events]
        message = json.dumps(body, separators=(",", ":"))
        if is_cluster(client):  # redis-py sends no PUBLISH in a Cluster pipeline
            if len(pipe):
                pipe.execute()
            client.publish(self.channel, message)
            return
        pipe.publish(self.channel, message)
        pipe.execute()

    # -- probes -----------------------------------------------------------------------
    def claim_probe(self, key: str, ttl: float) -> bool:
        probe_key = self.redis.key("health", key, "probe")
        ms = max(1, int(ttl * 1000))
        # Redis down: this process probes for itself (its own view).
        return bool(self.redis.run(lambda c: c.set(probe_key, self.origin, nx=True, px=ms), True))

    async def aclaim_probe(self, key: str, ttl: float) -> bool:
        probe_key = self.redis.key("health", key, "probe")
        ms = max(1, int(ttl * 1000))

        async def claim(c: Any) -> bool:
            return bool(await c.set(probe_key, self.origin, nx=True, px=ms))

        return await self.redis.arun(claim, True)

    def release_probe(self, key: str) -> None:
        self._outbox.put(HealthEvent("release", key, self.origin))

    # -- receiving --------------------------------------------------------------------
    def listen(self, apply: Callable[[HealthEvent], None]) -> None:
        if self._threads:
            raise RuntimeError("this health store already listens")
        self._apply = apply
        self._start(apply)

    def _start(self, apply: Callable[[HealthEvent], None]) -> None:
        for target, name in ((self._send, "sender"), (lambda: self._listen(apply), "listener")):
            thread = threading.Thread(target=target, name=f"respan-health-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _listen(self, apply: Callable[[HealthEvent], None]) -> None:
        outage = self.redis.outage
        while not self._stop.is_set():
            pubsub = None
            try:
                pubsub = self.redis.client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
                self._resync(apply)
                self.connected.set()
                outage.succeeded()
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.2)
                    if message is not None and message.get("type") == "message":
                        _deliver(apply, message["data"])
            except Exception as exc:
                self.connected.clear()
                outage.failed(exc)
                self._stop.wait(max(outage.retry_interval, 0.05))
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):  # a dead connection closes as it can
                        pubsub.close()
        self.connected.clear()

    def _resync(self, apply: Callable[[HealthEvent], None]) -> None:
        for event in _open_events(self.redis.client.hgetall(self._open_key)):
            apply(event)

    def open_breakers(self) -> list[HealthEvent]:
        """The breakers open now (one read; none when Redis does not answer in time)."""
        return _open_events(self.redis.run(lambda c: c.hgetall(self._open_key), {}))

    def _after_fork(self) -> None:
        """In a forked child: no thread of the parent runs here, and its queue and events
        may be mid-use. The child is a process of its own (its own origin, so its
        siblings apply its events) and listens with threads of its own."""
        self.origin = os.urandom(8).hex()
        self._outbox = queue.SimpleQueue()
        self.connected = threading.Event()
        self._threads = []
        stopped, self._stop = self._stop.is_set(), threading.Event()
        if self._apply is not None and not stopped:
            self._start(self._apply)

    def stop(self) -> None:
        """Ask the threads to stop, without waiting for them."""
        self._stop.set()
        self._outbox.put(None)

    def close(self) -> None:
        """Stop the threads (they are daemons: a process may also just exit)."""
        self.stop()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(2)


def _open_events(found: dict[bytes, bytes]) -> list[HealthEvent]:
    now = time.time()
    events = []
    for key, until in found.items():
        with contextlib.suppress(ValueError):
            if float(until) > now:
                events.append(HealthEvent("open", key.decode(), "", float(until)))
    return events


def _deliver(apply: Callable[[HealthEvent], None], data: bytes) -> None:
    try:
        events = [HealthEvent(b["k"], b["d"], b["o"], float(b["u"])) for b in json.loads(data)]
    except (ValueError, KeyError, TypeError):
        logger.warning("ignored a malformed health message")
        return
    for event in events:
        apply(event)
