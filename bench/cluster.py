"""One node against two nodes on the same PostgreSQL + Redis: connections and messages/s.

For each layout (1 node, then 2 nodes; alternating over `--runs`), on a freshly reset database:

* `kefu migrate`, then the nodes (`kefu serve` with `KEFU_DATABASE_URL` and `KEFU_REDIS_URL`);
* a tenant, M agents and V visitors through the HTTP API, the REST calls spread over the nodes;
  agent sockets and visitor sockets are dealt round-robin over the nodes, so with two nodes
  most conversations have their visitor on one node and their agent on the other (every event
  then crosses Redis: the costly case);
* **messages**: a closed loop of `--seconds` where every visitor keeps one send outstanding;
  persisted msgs/s (acks after commit), visitor→agent p50/p99, server CPU per message (all
  nodes), lost messages;
* **connections**: C more visitor sockets (sessions only) dealt over the nodes and held with
  heartbeats for `--hold` seconds; held, KB per connection on each node, sockets opened/s.

`ratios` divide the 2-node figures by the 1-node figures of the same run. On a 2-core machine
both nodes, PostgreSQL, Redis and the load generator share the cores: the ratio then shows the
cost of the Redis leg more than the gain of a second machine (see bench/README.md).

    .venv/bin/python -m bench.cluster --database-url postgresql+asyncpg://…/throwaway
    .venv/bin/python -m bench.cluster --quick --database-url …

WARNING: the `public` schema of `--database-url` is dropped before each layout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.connections import raise_fd_limit
from bench.loadgen import Fleet, summarize
from bench.targets import AGENT_PASSWORD, KefuTarget, _ok, free_port


def log(msg: str) -> None:
    print(f"[cluster {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class ClusterNode(KefuTarget):
    """`kefu serve` on the shared PostgreSQL and Redis."""

    def __init__(self, workdir: Path, name: str, database_url: str, redis_url: str) -> None:
        self.name = name
        super().__init__(workdir, cpu=None, compression=None)
        # Not KefuTarget.database_url: that one resets the schema in start(), and the nodes of a
        # layout share one database (reset and migrated once, before any node starts).
        self.shared_database_url = database_url
        self.redis_url = redis_url

    def env(self) -> dict[str, str]:
        env = super().env()
        env.update(KEFU_DATABASE_URL=self.shared_database_url, KEFU_REDIS_URL=self.redis_url)
        return env


class Redis:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.dir = workdir / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        import socket

        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


async def reset_schema(database_url: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    conn = await asyncpg.connect(dsn)
    try:
        for _ in range(5):
            await conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
            await conn.execute("CREATE SCHEMA IF NOT EXISTS public")
            left = await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname='public'")
            if left == 0:
                return
            await asyncio.sleep(1)  # a node of the previous layout still shutting down
        raise RuntimeError("could not empty the benchmark database")
    finally:
        await conn.close()


async def prepare(nodes: list[ClusterNode], fleet: Fleet, visitors: int, agents: int) -> str:
    """Tenant, agents (sockets dealt over the nodes), visitors with an assigned conversation."""
    first = nodes[0]
    per_agent = math.ceil(visitors / agents) + 5
    async with httpx.AsyncClient(base_url=first.base_url + "/api/v1", timeout=120) as admin:
        r = _ok(
            await admin.post(
                "/platform/tenants",
                json={
                    "name": "Bench Co",
                    "admin_email": "admin@bench.test",
                    "seats": agents + 5,
                    "max_concurrent_ceiling": 200,
                },
                headers={"X-Kefu-Platform-Key": first.platform_key},
            )
        )
        login = {"email": "admin@bench.test", "password": r.json()["password"]}
        _ok(await admin.post("/auth/login", json=login))
        roles = _ok(await admin.get("/roles")).json()
        agent_role = next(x["id"] for x in roles if x.get("builtin") == "agent")
        for i in range(agents):
            _ok(
                await admin.post(
                    "/users",
                    json={
                        "email": f"agent{i}@bench.test",
                        "password": AGENT_PASSWORD,
                        "nickname": f"Agent {i}",
                        "role_id": agent_role,
                        "max_concurrent": per_agent,
                    },
                )
            )
        widget_key: str = _ok(await admin.post("/widgets", json={"name": "Bench"})).json()["key"]
    for i in range(agents):
        node = nodes[i % len(nodes)]
        async with httpx.AsyncClient(base_url=node.base_url + "/api/v1", timeout=60) as c:
            login = {"email": f"agent{i}@bench.test", "password": AGENT_PASSWORD}
            _ok(await c.post("/auth/login", json=login))
            cookie = c.cookies["kefu_session"]
        fleet.ws_base = node.base_url.replace("http://", "ws://")
        await fleet.add_agent({"Cookie": f"kefu_session={cookie}"}, node.base_url)
    tokens = [secrets.token_urlsafe(24) for _ in range(visitors)]
    sem = asyncio.Semaphore(8)

    async def register(i: int, token: str) -> None:
        # The visitor's REST calls go to the node after the one its socket will use.
        node = nodes[(i + 1) % len(nodes)]
        async with sem, httpx.AsyncClient(base_url=node.base_url + "/api/v1", timeout=120) as c:
            _ok(await c.post("/visitor/session", json={"widget_key": widget_key, "token": token}))
            _ok(
                await c.post(
                    "/visitor/messages",
                    json={"client_msg_id": uuid.uuid4().hex, "kind": "text",
                          "body": {"text": "hello"}},
                    headers={"Authorization": f"Visitor {token}"},
                )
            )  # fmt: skip

    await asyncio.gather(*(register(i, t) for i, t in enumerate(tokens)))
    for i, token in enumerate(tokens):
        fleet.ws_base = nodes[i % len(nodes)].base_url.replace("http://", "ws://")
        await fleet.add_visitor(i, widget_key, token)
    return widget_key


def cpu_seconds(nodes: list[ClusterNode]) -> float:
    return sum(n.sched()[0] for n in nodes)


async def hold_connections(
    nodes: list[ClusterNode], widget_key: str, count: int, hold: float
) -> dict[str, Any]:
    """`count` more visitor sockets (sessions only) dealt over the nodes, held `hold` seconds."""
    tokens = [secrets.token_urlsafe(24) for _ in range(count)]
    sem = asyncio.Semaphore(16)

    async def register(i: int, token: str) -> None:
        node = nodes[i % len(nodes)]
        async with sem, httpx.AsyncClient(base_url=node.base_url + "/api/v1", timeout=120) as c:
            _ok(await c.post("/visitor/session", json={"widget_key": widget_key, "token": token}))

    await asyncio.gather(*(register(i, t) for i, t in enumerate(tokens)))
    await asyncio.sleep(1)
    before = [n.rss_kb() for n in nodes]
    fleet = Fleet("hold", "", None)
    sem_open = asyncio.Semaphore(100)
    started = time.perf_counter()

    async def open_one(i: int, token: str) -> None:
        async with sem_open:
            node = nodes[i % len(nodes)]
            fleet.ws_base = node.base_url.replace("http://", "ws://")
            await fleet.add_visitor(i, widget_key, token)

    await asyncio.gather(*(open_one(i, t) for i, t in enumerate(tokens)))
    opened_in = time.perf_counter() - started
    beat = asyncio.create_task(fleet.heartbeat())
    await asyncio.sleep(hold)
    after = [n.rss_kb() for n in nodes]
    held = fleet.open_connections()
    beat.cancel()
    await fleet.close()
    per_node = count / len(nodes)
    return {
        "connections": count,
        "held": held,
        "open_per_s": round(count / opened_in, 1),
        "kb_per_connection_by_node": [
            round((a - b) / per_node, 1) for a, b in zip(after, before, strict=True)
        ],
        "kb_per_connection": round(
            sum(a - b for a, b in zip(after, before, strict=True)) / count, 1
        ),
    }


async def one_layout(
    n_nodes: int, args: argparse.Namespace, workdir: Path, redis: Redis
) -> dict[str, Any]:
    await reset_schema(args.database_url)
    nodes = [ClusterNode(workdir, f"node{i}", args.database_url, redis.url) for i in range(n_nodes)]
    await asyncio.to_thread(nodes[0]._migrate)
    fleet = Fleet(f"{n_nodes}nodes", "", None)
    beat: asyncio.Task[None] | None = None
    try:
        # KefuTarget.start migrates too; the later nodes find nothing to do.
        await asyncio.gather(*(n.start() for n in nodes))
        beat = asyncio.create_task(fleet.heartbeat())
        setup_started = time.perf_counter()
        widget_key = await prepare(nodes, fleet, args.visitors, args.agents)
        setup_s = time.perf_counter() - setup_started
        await asyncio.sleep(1)
        cpu0 = cpu_seconds(nodes)
        w = await fleet.closed_loop(args.seconds)
        cpu1 = cpu_seconds(nodes)
        await fleet.drain_all(10)
        fig = summarize(w, fleet)
        acked = max(1, fig["acked"])
        out: dict[str, Any] = {
            "nodes": n_nodes,
            "setup_seconds": round(setup_s, 1),
            "messages": {
                "persisted_per_s": fig["persisted_per_s"],
                "delivered_per_s": fig["delivered_per_s"],
                "p50_ms": fig["p50_ms"],
                "p99_ms": fig["p99_ms"],
                "errors": fig["errors"],
                "lost": fig["lost"],
                "server_cpu_ms_per_msg": round(1000 * (cpu1 - cpu0) / acked, 2),
            },
        }
        if args.connections:
            out["connections"] = await hold_connections(
                nodes, widget_key, args.connections, args.hold
            )
        out["server_log"] = [n.log_problems() for n in nodes]
        return out
    finally:
        if beat is not None:
            beat.cancel()
        await fleet.close()
        for n in nodes:
            await n.stop()


def median(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def merge(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"runs": runs}
    out["messages"] = {k: median([r["messages"][k] for r in runs]) for k in runs[0]["messages"]}
    if "connections" in runs[0]:
        out["connections"] = {
            k: median([r["connections"][k] for r in runs])
            for k in ("held", "open_per_s", "kb_per_connection")
        }
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    raise_fd_limit(args.connections + args.visitors + 2048)
    wall = time.perf_counter()
    layouts: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory(prefix="kefu-bench-cluster-") as tmp:
        redis = Redis(Path(tmp))
        redis.start()
        try:
            for run in range(args.runs):
                order = (1, 2) if run % 2 == 0 else (2, 1)
                for n in order:
                    log(f"run {run + 1}/{args.runs}: {n} node(s)")
                    res = await one_layout(n, args, Path(tmp) / f"run{run}-{n}", redis)
                    log(f"  {json.dumps(res['messages'])}")
                    layouts[n].append(res)
        finally:
            redis.stop()
    one, two = merge(layouts[1]), merge(layouts[2])
    ratios: dict[str, Any] = {}
    m1, m2 = one["messages"]["persisted_per_s"], two["messages"]["persisted_per_s"]
    if m1 and m2 is not None:
        ratios["messages_per_s_2_vs_1"] = round(m2 / m1, 2)
    if "connections" in one:
        c1, c2 = one["connections"]["open_per_s"], two["connections"]["open_per_s"]
        if c1 and c2 is not None:
            ratios["connections_opened_per_s_2_vs_1"] = round(c2 / c1, 2)
    return {
        "benchmark": "cluster",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpu_count": os.cpu_count(),
            "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "params": {
            "visitors": args.visitors,
            "agents": args.agents,
            "seconds": args.seconds,
            "connections": args.connections,
            "hold_s": args.hold,
            "runs": args.runs,
            "wall_seconds": round(time.perf_counter() - wall, 1),
        },
        "one_node": one,
        "two_nodes": two,
        "ratios": ratios,
        "targets_from_issue": {
            "messages_2_nodes_ge_1_6x": (ratios.get("messages_per_s_2_vs_1") or 0) >= 1.6,
            "connections_2_nodes_ge_1_7x": (ratios.get("connections_opened_per_s_2_vs_1") or 0)
            >= 1.7,
        },
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--database-url", required=True, help="a throwaway PostgreSQL (schema dropped)")
    p.add_argument("--visitors", type=int, default=200)
    p.add_argument("--agents", type=int, default=10)
    p.add_argument("--seconds", type=float, default=10.0, help="closed-loop message window")
    p.add_argument("--connections", type=int, default=2000, help="extra sockets held (0: skip)")
    p.add_argument("--hold", type=float, default=30.0)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="60 visitors, 5 s, 300 sockets, 1 run")
    p.add_argument("--json-out", type=Path)
    args = p.parse_args(argv)
    if not args.database_url.startswith("postgresql"):
        p.error("--database-url must be PostgreSQL")
    if args.database_url.startswith("postgresql://"):
        args.database_url = "postgresql+asyncpg://" + args.database_url.split("://", 1)[1]
    if args.quick:
        args.visitors, args.agents, args.seconds = 60, 6, 5.0
        args.connections, args.hold, args.runs = 300, 10.0, 1
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    doc = asyncio.run(main_async(args))
    text = json.dumps(doc, ensure_ascii=False, indent=1)
    print(text)
    if args.json_out:
        args.json_out.write_text(text)


if __name__ == "__main__":
    main()
