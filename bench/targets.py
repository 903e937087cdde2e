"""The servers under test, each a subprocess: Kefu, the bare relay and the SQLite relay.

A target starts its server, prepares the agents and visitors the load generator drives (for
Kefu through the real HTTP API), and reports what only the server side knows: its memory, its
CPU time, its log and what it stored.
"""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench import pauses
from bench.loadgen import Fleet

ROOT = Path(__file__).resolve().parents[1]
AGENT_PASSWORD = "Bench-Passw0rd-" + "kefu"  # accounts of a throwaway benchmark tenant


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def proc_status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def sched_seconds(pid: int | str) -> tuple[float, float]:
    """(on-CPU, runnable-but-waiting) seconds summed over the process's threads (schedstat)."""
    run = wait = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as fh:
                fields = fh.read().split()
        except OSError:
            continue
        run += int(fields[0])
        wait += int(fields[1])
    return run / 1e9, wait / 1e9


def descendants(pid: int) -> list[int]:
    """`pid`'s children, their children, and so on (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rpartition(")")[2].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def tree_sched_seconds(pid: int) -> tuple[float, float]:
    """`sched_seconds` summed over the process and its descendants: Kefu on SQLite runs its
    search indexer in a process of its own (kefu.search.indexer_task), and that is the
    server's CPU too. A descendant that has ended is no longer counted."""
    run = wait = 0.0
    for p in [pid, *descendants(pid)]:
        try:
            r, w = sched_seconds(p)
        except OSError:  # ended meanwhile
            continue
        run += r
        wait += w
    return run, wait


def socket_fds(pid: int) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            continue
    return count


class Target:
    """A server subprocess plus the sockets (`fleet`) the generator drives against it."""

    name = "target"

    def __init__(self, workdir: Path, *, cpu: int | None, compression: str | None) -> None:
        self.workdir = workdir / self.name
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.cpu = cpu
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.fleet = Fleet(self.name, f"ws://127.0.0.1:{self.port}", compression)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / "server.log"
        self.setup_info: dict[str, Any] = {}
        self.prepare_info: dict[str, Any] = {}
        self.widget_key = "bench"
        self.tokens: list[str] = []
        self.heartbeat_task: asyncio.Task[None] | None = None

    # -- process ----------------------------------------------------------------------------

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}

    def _pinned(self, cmd: list[str]) -> list[str]:
        taskset = shutil.which("taskset")
        if self.cpu is None or taskset is None:
            return cmd
        return [taskset, "-c", str(self.cpu), *cmd]

    def _launch(self) -> subprocess.Popen[bytes]:
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                self._pinned(self.command()),
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )

    async def start(self) -> None:
        self.proc = self._launch()
        deadline = time.monotonic() + 90
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited: {self.log_tail()}")
                try:
                    r = await client.get(self.base_url + "/api/v1/health")
                    if r.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} did not start: {self.log_tail()}")
                await asyncio.sleep(0.2)

    async def stop(self) -> None:
        await self.fleet.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss_kb(self) -> int:
        return proc_status_kb(self.pid, "VmRSS")

    def sched(self) -> tuple[float, float]:
        return tree_sched_seconds(self.pid)

    async def send_batches(self) -> tuple[float, float] | None:
        """(sends, group commits) so far, where the server reports them (Kefu's /metrics)."""
        return None

    async def pause_totals(self) -> pauses.Totals | None:
        """Loop lag, collector and checkpoint figures so far (bench.pauses), where reported."""
        return None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def log_problems(self) -> dict[str, Any]:
        """Errors the server logged: tracebacks, ERROR lines, 5xx responses."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return {"error_lines": 0, "samples": []}
        bad = [
            line
            for line in text.splitlines()
            if "Traceback" in line
            or " ERROR " in line
            or "ERROR:" in line
            or " 500 " in line
            or "Exception" in line
        ]
        return {"error_lines": len(bad), "samples": bad[:8]}

    # -- sockets ----------------------------------------------------------------------------

    async def prepare(self, visitors: int, agents: int) -> None:
        """Create accounts and open agent sockets; visitors ready to connect (not yet open)."""
        raise NotImplementedError

    async def open_visitor_sockets(self, concurrency: int = 50) -> None:
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int, token: str) -> None:
            async with sem:
                await self.fleet.add_visitor(i, self.widget_key, token)

        await asyncio.gather(*(one(i, t) for i, t in enumerate(self.tokens)))
        self.fleet.visitors.sort(key=lambda v: v.index)

    async def probe_sockets(self, compression: str | None, concurrency: int = 50) -> list[Any]:
        """A second socket per visitor (a second browser tab), with other compression."""
        sem = asyncio.Semaphore(concurrency)

        async def one(token: str) -> Any:
            async with sem:
                return await self.fleet.open_probe(self.widget_key, token, compression)

        return list(await asyncio.gather(*(one(t) for t in self.tokens)))

    def stored_client_ids(self) -> list[str] | None:
        """client_msg_ids of the visitor messages the server stored (None: stores nothing)."""
        return None


class RelayTarget(Target):
    name = "relay_bare"
    module = "bench.relay_bare"

    def command(self) -> list[str]:
        return [sys.executable, "-m", self.module, "--port", str(self.port)]

    async def prepare(self, visitors: int, agents: int) -> None:
        for _ in range(agents):
            await self.fleet.add_agent({}, None)
        self.tokens = [secrets.token_urlsafe(24) for _ in range(visitors)]

    async def server_stats(self) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=5) as client:
            body: dict[str, Any] = (await client.get(self.base_url + "/api/v1/health")).json()
        return body


class SqliteRelayTarget(RelayTarget):
    name = "relay_sqlite"
    module = "bench.relay_sqlite"

    def __init__(self, workdir: Path, *, cpu: int | None, compression: str | None) -> None:
        super().__init__(workdir, cpu=cpu, compression=compression)
        self.db_path = self.workdir / "relay.db"

    def command(self) -> list[str]:
        return [*super().command(), "--db", str(self.db_path)]

    def stored_client_ids(self) -> list[str] | None:
        return _read_ids(self.db_path, "SELECT client_msg_id FROM messages")


def _read_ids(path: Path, sql: str) -> list[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return [row[0] for row in conn.execute(sql) if row[0] is not None]
    finally:
        conn.close()


class KefuTarget(Target):
    name = "kefu"
    # postgresql+asyncpg://… (set by bench.chat_load --database-url): the server runs on it and
    # its `public` schema is DROPPED and recreated before migrating. Empty: SQLite in data_dir.
    database_url = ""

    def __init__(self, workdir: Path, *, cpu: int | None, compression: str | None) -> None:
        super().__init__(workdir, cpu=cpu, compression=compression)
        self.data_dir = self.workdir / "data"
        self.platform_key = secrets.token_urlsafe(32)
        # Settings for the server under test (bench.chat_load --kefu-setting), e.g.
        # {"KEFU_GC_THRESHOLD": "20000"}: the benchmark's own KEFU_* environment never leaks in.
        self.settings: dict[str, str] = {}

    async def _metrics_text(self) -> str:
        async with httpx.AsyncClient(timeout=5) as client:
            return (await client.get(self.base_url + "/metrics")).text

    async def pause_totals(self) -> pauses.Totals | None:
        return pauses.totals(await self._metrics_text())

    async def send_batches(self) -> tuple[float, float] | None:
        text = await self._metrics_text()
        found = {}
        for line in text.splitlines():
            name, _, number = line.partition(" ")
            if name in ("kefu_send_batch_size_sum", "kefu_send_batch_size_count"):
                found[name] = float(number)
        if len(found) < 2:
            return None
        return found["kefu_send_batch_size_sum"], found["kefu_send_batch_size_count"]

    def env(self) -> dict[str, str]:
        env = super().env()
        env.update(
            KEFU_DATA_DIR=str(self.data_dir),
            KEFU_PLATFORM_KEY=self.platform_key,
            KEFU_PUBLIC_BASE_URL=self.base_url,
        )
        if self.database_url:
            env["KEFU_DATABASE_URL"] = self.database_url
        env.update(self.settings)
        return env

    def _reset_postgres(self) -> None:
        """An empty `public` schema (as bench/dispatch.py does): the database is the bench's."""

        async def reset(conn: Any) -> None:
            await conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
            await conn.execute("CREATE SCHEMA public")

        _with_postgres(self.database_url, reset)

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "kefu",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]

    def _migrate(self) -> None:
        with self.log_path.open("ab") as log:
            subprocess.run(
                [sys.executable, "-m", "kefu", "migrate"],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                check=True,
            )

    async def start(self) -> None:
        if self.database_url:
            await asyncio.to_thread(self._reset_postgres)
        await asyncio.to_thread(self._migrate)
        await super().start()

    async def prepare(self, visitors: int, agents: int) -> None:
        per_agent = math.ceil(visitors / agents) + 5
        if per_agent > 200:
            raise SystemExit(
                f"{visitors} visitors need more than {agents} agents (max 200 chats per agent)"
            )
        api = self.base_url + "/api/v1"
        async with httpx.AsyncClient(base_url=api, timeout=60) as admin:
            r = await admin.post(
                "/platform/tenants",
                json={
                    "name": "Bench Co",
                    "admin_email": "admin@bench.test",
                    "seats": agents + 5,
                    "max_concurrent_ceiling": 200,
                },
                headers={"X-Kefu-Platform-Key": self.platform_key},
            )
            _ok(r)
            admin_password = r.json()["password"]
            _ok(
                await admin.post(
                    "/auth/login", json={"email": "admin@bench.test", "password": admin_password}
                )
            )
            roles = _ok(await admin.get("/roles")).json()
            agent_role = next(x["id"] for x in roles if x.get("builtin") == "agent")
            cookies: list[str] = []
            for i in range(agents):
                email = f"agent{i}@bench.test"
                _ok(
                    await admin.post(
                        "/users",
                        json={
                            "email": email,
                            "password": AGENT_PASSWORD,
                            "nickname": f"Agent {i}",
                            "role_id": agent_role,
                            "max_concurrent": per_agent,
                        },
                    )
                )
                async with httpx.AsyncClient(base_url=api, timeout=60) as c:
                    login = {"email": email, "password": AGENT_PASSWORD}
                    _ok(await c.post("/auth/login", json=login))
                    cookies.append(c.cookies["kefu_session"])
            widget = _ok(await admin.post("/widgets", json={"name": "Bench site"})).json()
        self.widget_key = widget["key"]
        for cookie in cookies:
            await self.fleet.add_agent({"Cookie": f"kefu_session={cookie}"}, self.base_url)
        # Every visitor registers and sends a first message over REST: that opens its
        # conversation, assigned at once to an online agent (all agents are Idle now).
        self.tokens = [secrets.token_urlsafe(24) for _ in range(visitors)]
        sem = asyncio.Semaphore(8)
        started = time.perf_counter()
        async with httpx.AsyncClient(base_url=api, timeout=60) as anon:

            async def register(token: str) -> None:
                async with sem:
                    _ok(
                        await anon.post(
                            "/visitor/session", json={"widget_key": self.widget_key, "token": token}
                        )
                    )
                    _ok(
                        await anon.post(
                            "/visitor/messages",
                            json={
                                "client_msg_id": uuid.uuid4().hex,
                                "kind": "text",
                                "body": {"text": "hello"},
                            },
                            headers={"Authorization": f"Visitor {token}"},
                        )
                    )

            await asyncio.gather(*(register(t) for t in self.tokens))
        spent = time.perf_counter() - started
        self.prepare_info["rest_visitor_sessions_and_first_messages_per_s"] = round(
            visitors / spent, 1
        )

    def stored_client_ids(self) -> list[str] | None:
        sql = "SELECT client_msg_id FROM messages WHERE sender_type = 'visitor'"
        if self.database_url:

            async def read(conn: Any) -> list[str]:
                return [r[0] for r in await conn.fetch(sql) if r[0] is not None]

            ids: list[str] = _with_postgres(self.database_url, read)
            return ids
        return _read_ids(self.data_dir / "kefu.db", sql)


def _with_postgres(url: str, fn: Any) -> Any:
    """fn(asyncpg connection) on its own loop in a thread (callers may be inside a loop)."""
    import concurrent.futures

    import asyncpg  # type: ignore[import-untyped]

    dsn = "postgresql://" + url.split("://", 1)[1]

    async def run() -> Any:
        conn = await asyncpg.connect(dsn)
        try:
            return await fn(conn)
        finally:
            await conn.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def _ok(r: httpx.Response) -> httpx.Response:
    if r.status_code >= 300:
        raise RuntimeError(f"{r.request.method} {r.request.url} -> {r.status_code} {r.text[:300]}")
    return r
