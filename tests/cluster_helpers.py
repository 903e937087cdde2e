"""Several `kefu serve` nodes on one PostgreSQL + a throwaway Redis (issue 7, docs/cluster.md).

For tests/test_cluster.py and any test that needs real nodes (deploy and fault tests):

- `RedisServer`: `redis-server` on a free port, no persistence; `stop()` / `start()` again on
  the same port simulate an outage (a restarted Redis is empty, as in production).
- `NodeProcess`: one `kefu serve` process on the test database with extra environment (the
  Redis URL, short heartbeat/dead times); `kill()` is SIGKILL, `stop()` a clean SIGTERM,
  `start()` again works after either.
- fixtures `redis_server` (one per test) and `nodes` (two nodes on the test's database and
  `redis_server`, heartbeat 0.5 s, dead after 5 s). `start_nodes(...)` builds other layouts.
- `needs_cluster`: skip unless the suite runs on PostgreSQL and `redis-server` exists (so such
  tests run once in CI, on the PostgreSQL run).
- `sql(settings, query, **params)`: run SQL against the test database (e.g. make a timer due).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kefu.core.config import Settings
from kefu.core.db import make_engine
from tests.conftest import PG_URL, free_port
from tests.helpers import PLATFORM_KEY

ROOT = Path(__file__).resolve().parents[1]
REDIS_SERVER = shutil.which("redis-server") or (
    "/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK) else None
)

needs_cluster = pytest.mark.skipif(
    not PG_URL.startswith("postgresql") or REDIS_SERVER is None,
    reason="needs KEFU_TEST_DATABASE_URL (PostgreSQL) and redis-server",
)

# Short cluster timings for tests (the defaults are 10 s / 30 s).
# Nodes under test also log an event loop held for 2 s with its stack (KEFU_LOOP_STALL_SECONDS).
FAST_NODES = {
    "KEFU_NODE_HEARTBEAT_SECONDS": "0.5",
    "KEFU_NODE_DEAD_SECONDS": "5",
    "KEFU_LOOP_STALL_SECONDS": "2",
}


class RedisServer:
    """A throwaway redis-server (never the system one) on a free port."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.workdir = workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert REDIS_SERVER is not None
        self.workdir.mkdir(parents=True, exist_ok=True)
        with (self.workdir / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    REDIS_SERVER,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.workdir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 10
        while True:
            assert self.proc.poll() is None, (self.workdir / "redis.log").read_text()
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # an outage, not a shutdown
            self.proc.wait(timeout=10)
        self.proc = None


class NodeProcess:
    """One `kefu serve` process; `env` adds or overrides KEFU_* variables (Redis URL, timings,
    `KEFU_PUBLIC_BASE_URL` behind a proxy)."""

    def __init__(
        self, settings: Settings, env: dict[str, str] | None = None, args: list[str] | None = None
    ) -> None:
        self.settings = settings
        self.env = env or {}
        self.args = args or []  # more `kefu serve` options, e.g. ["--workers", "2"]
        self.base_url = f"http://127.0.0.1:{settings.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = settings.data_dir / "server.log"

    def start(self) -> None:
        self.spawn()
        self.wait_ready()

    def spawn(self) -> None:
        """Start the process without waiting for it (see `wait_ready`)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
        env.update(
            KEFU_DATA_DIR=str(self.settings.data_dir),
            KEFU_DATABASE_URL=self.settings.database_url,
            KEFU_PLATFORM_KEY=PLATFORM_KEY,
            KEFU_PUBLIC_BASE_URL=self.base_url,
            KEFU_INSECURE_FAST_HASH="1",
        )
        env.update(self.env)  # the caller's variables win (e.g. a proxy's public URL)
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    *(sys.executable, "-m", "kefu", "serve", "--host", "127.0.0.1"),
                    *("--port", str(self.settings.port), *self.args),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )

    def wait_ready(self, timeout: float = 90) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, self.log.read_text(errors="replace")
            try:
                if httpx.get(self.base_url + "/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def node_settings(settings: Settings, name: str) -> Settings:
    """The test's settings for one more node: its own data dir and port."""
    data_dir = settings.data_dir / name
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    return settings.model_copy(
        update={"data_dir": data_dir, "port": port, "public_base_url": f"http://127.0.0.1:{port}"}
    )


def start_nodes(
    settings: Settings, count: int, env: dict[str, str] | None = None
) -> list[NodeProcess]:
    """`count` started nodes on the test database (stop them yourself, or use `nodes`)."""
    out: list[NodeProcess] = []
    try:
        for i in range(count):  # started together: start-up is seconds each
            node = NodeProcess(node_settings(settings, f"node{i}"), env)
            out.append(node)
            node.spawn()
        for node in out:
            node.wait_ready()
    except BaseException:
        for node in out:
            node.stop()
        raise
    return out


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def nodes(settings: Settings, redis_server: RedisServer) -> Iterator[list[NodeProcess]]:
    """Two nodes on the test database and `redis_server`, with short cluster timings."""
    started = start_nodes(settings, 2, {"KEFU_REDIS_URL": redis_server.url, **FAST_NODES})
    yield started
    for node in started:
        node.stop()


def sql(settings: Settings, query: str, **params: Any) -> list[Any]:
    """Run one statement on the test database (committed); its rows, if any."""
    return run_sql(make_engine(settings), query, params)


def run_sql(engine: AsyncEngine, query: str, params: dict[str, Any]) -> list[Any]:
    """One committed statement on a fresh engine (disposed after); its rows, if any."""

    async def run() -> list[Any]:
        try:
            async with engine.begin() as conn:
                result = await conn.execute(text(query), params)
                return list(result.all()) if result.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(run())
