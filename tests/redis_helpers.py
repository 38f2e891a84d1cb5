"""Shared pieces of the Redis tests: a prefix per test, cleanup, a private redis-server."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

REDIS_URL = os.environ.get("RESPAN_TEST_REDIS", "redis://127.0.0.1:6379/0")


def redis_available() -> bool:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
    except Exception:
        return False
    return True


def new_prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}:"


def wipe(prefix: str, url: str = REDIS_URL) -> None:
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RedisServer:
    """A redis-server of the test's own on a free port: start, kill, restart.

    With an append-only file synced at every write (as a budget ledger should run), so a
    killed and restarted server keeps what it acknowledged."""

    def __init__(self, port: int | None = None) -> None:
        self.port = free_port() if port is None else port
        self.dir = tempfile.mkdtemp(prefix="respan-redis-")
        self.proc: subprocess.Popen[bytes] | None = None
        self.extra: list[str] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is not installed"
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                self.dir,
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port, socket_connect_timeout=0.2).ping()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


def counted(client: Any) -> Any:
    """Wrap a sync client so each round trip (a command or a pipeline) is counted."""
    client.round_trips = 0
    execute = client.execute_command

    def execute_command(*args: Any, **kwargs: Any) -> Any:
        client.round_trips += 1
        return execute(*args, **kwargs)

    client.execute_command = execute_command
    make_pipeline = client.pipeline

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = make_pipeline(*args, **kwargs)
        run = pipe.execute

        def execute_pipe(*a: Any, **k: Any) -> Any:
            client.round_trips += 1
            return run(*a, **k)

        pipe.execute = execute_pipe
        return pipe

    client.pipeline = pipeline
    return client


class RedisCluster:
    """Three redis-server nodes of the test's own in cluster mode (no replicas)."""

    def __init__(self) -> None:
        self.servers = [RedisServer(_cluster_port()) for _ in range(3)]

    def start(self) -> None:
        for server in self.servers:
            server.extra = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
            server.start()
        cli = shutil.which("redis-cli")
        assert cli is not None, "redis-cli is not installed"
        nodes = [f"127.0.0.1:{s.port}" for s in self.servers]
        subprocess.run(
            [cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
        )
        import redis

        deadline = time.monotonic() + 15
        client = redis.Redis(port=self.servers[0].port)
        while not _cluster_ok(client.execute_command("CLUSTER INFO")):
            if time.monotonic() > deadline:
                raise TimeoutError("the test cluster did not come up")
            time.sleep(0.05)

    @property
    def port(self) -> int:
        return self.servers[0].port

    def close(self) -> None:
        for server in self.servers:
            server.close()


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    import random

    for _ in range(200):
        port = random.randint(20000, 45000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


def _cluster_ok(info: Any) -> bool:
    if isinstance(info, dict):  # parsed by redis-py
        return str(info.get("cluster_state")) == "ok"
    text = info.decode() if isinstance(info, bytes) else str(info)
    return "cluster_state:ok" in text
