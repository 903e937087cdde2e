"""The server's CPU for one REST request, apart from the network.

`bench.chat_load` and `bench.dispatch` measure sockets and dispatch; the console and the
widget also make REST calls all day (lists, profiles, visitor sends without a socket). This
benchmark times single requests through Kefu's whole ASGI stack (middleware, routing,
dependencies, session sign-in, the database, the JSON answer):

1. A database is prepared through the real API (`bench.targets.KefuTarget`: a tenant, agents,
   visitors whose conversations are ongoing), then that server is stopped.
2. In this process, Kefu's app is built on the same database (no server, no lifespan: no
   timers or search indexer run) and called as an ASGI app, one request at a time, the way
   uvicorn calls it, without sockets or HTTP parsing.
3. Each request's figure is this process's CPU time (`time.process_time`: the event loop's
   thread and SQLite's connection threads) and its wall time.

Baseline, in the same run: a bare Starlette app answering a small JSON document, called the
same way: what the framework itself costs here. Figures are medians: over the rounds of a run,
then over the runs.

    .venv/bin/python -m bench.rest_requests                 # SQLite (about 1 min)
    .venv/bin/python -m bench.rest_requests --rounds 1000 --runs 5
    .venv/bin/python -m bench.rest_requests --database-url postgresql+asyncpg://…
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.chat_load import cpu_probe_ms, machine_info
from bench.send_batch import prepare, run_and_print
from bench.targets import AGENT_PASSWORD, KefuTarget

Asgi = Callable[..., Awaitable[None]]
Request = tuple[str, str, dict[str, str], bytes]  # method, path (with query), headers, body


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.rest_requests",
        description="CPU per REST request, in-process (prints one JSON document).",
    )
    p.add_argument("--visitors", type=int, default=32, help="ongoing conversations")
    p.add_argument("--agents", type=int, default=2)
    p.add_argument("--rounds", type=int, default=400, help="requests per kind and run")
    p.add_argument("--warmup", type=int, default=50, help="requests per kind not counted")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--database-url", default="", help="PostgreSQL (its public schema is reset)")
    p.add_argument("--json-out", type=Path, default=None)
    return p.parse_args(argv)


async def call(app: Asgi, request: Request) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """One request through `app` as an ASGI server makes it; (status, headers, body)."""
    method, target, headers, body = request
    path, _, query = target.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError

    status = 0
    answer_headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
            answer_headers.extend(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, answer_headers, b"".join(chunks)


def _json(payload: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    return {"content-type": "application/json"}, json.dumps(payload).encode()


async def kefu_requests(app: Asgi, target: KefuTarget) -> dict[str, Callable[[], Request]]:
    """The kinds of request timed, each a function giving the next one to make."""
    headers, body = _json({"email": "agent0@bench.test", "password": AGENT_PASSWORD})
    status, answer, _ = await call(app, ("POST", "/api/v1/auth/login", headers, body))
    cookies = [v.split(b";", 1)[0].decode() for k, v in answer if k == b"set-cookie"]
    session = next((c for c in cookies if c.startswith("kefu_session=")), None)
    if status != 200 or session is None:
        raise SystemExit(f"sign-in failed: {status}")
    agent = {"cookie": session}
    tokens = target.tokens

    def visitor_send() -> Request:
        token = tokens[visitor_send.turn % len(tokens)]  # type: ignore[attr-defined]
        visitor_send.turn += 1  # type: ignore[attr-defined]
        h, b = _json({"client_msg_id": uuid.uuid4().hex, "kind": "text", "body": {"text": "hello"}})
        return ("POST", "/api/v1/visitor/messages", {**h, "authorization": f"Visitor {token}"}, b)

    visitor_send.turn = 0  # type: ignore[attr-defined]
    return {
        "health": lambda: ("GET", "/api/v1/health", {}, b""),
        "me": lambda: ("GET", "/api/v1/me", agent, b""),
        "my_conversations": lambda: ("GET", "/api/v1/conversations", agent, b""),
        "visitor_send": visitor_send,
    }


Figures = dict[str, list[tuple[float, float]]]  # kind → per run, the (CPU, wall) ms medians


async def measure(
    args: argparse.Namespace, app: Asgi, kinds: dict[str, Callable[[], Request]], label: str
) -> Figures:
    found: Figures = {kind: [] for kind in kinds}
    for run in range(args.runs):
        for kind, make in kinds.items():
            times = []
            for n in range(args.warmup + args.rounds):
                request = make()
                cpu, wall = time.process_time(), time.perf_counter()
                status, _, body = await call(app, request)
                spent = (time.process_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000
                if status >= 300:
                    raise SystemExit(f"{label} {kind}: {status} {body[:200]!r}")
                if n >= args.warmup:
                    times.append(spent)
            cpu_ms = statistics.median(t[0] for t in times)
            wall_ms = statistics.median(t[1] for t in times)
            found[kind].append((cpu_ms, wall_ms))
            print(
                f"[rest_requests] {label} run {run + 1} {kind}: {cpu_ms:.3f} ms CPU,"
                f" {wall_ms:.3f} ms wall",
                file=sys.stderr,
            )
    return found


async def measure_kefu(args: argparse.Namespace, target: KefuTarget) -> Figures:
    from kefu.api.app import create_app
    from kefu.core.config import Settings

    env = target.env()
    settings = Settings(
        data_dir=Path(env["KEFU_DATA_DIR"]),
        platform_key=env["KEFU_PLATFORM_KEY"],
        **({"database_url": env["KEFU_DATABASE_URL"]} if "KEFU_DATABASE_URL" in env else {}),
    )
    app = create_app(settings)
    try:
        kinds = await kefu_requests(app, target)
        return await measure(args, app, kinds, "kefu")
    finally:
        from kefu.chat.batcher import close_batcher

        await close_batcher(app)
        await app.state.engine.dispose()


def bare_app() -> Asgi:
    """The framework alone: one route answering a small JSON document."""
    from starlette.applications import Starlette
    from starlette.requests import Request as StarletteRequest
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def health(request: StarletteRequest) -> JSONResponse:
        return JSONResponse({"status": "ok", "version": "bench"})

    return Starlette(routes=[Route("/health", health)])


async def main_async(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    args.cpu_probe_ms = cpu_probe_ms()
    args.loadavg_at_start = list(os.getloadavg())
    started = time.perf_counter()
    target = await prepare(args, workdir)
    kefu = await measure_kefu(args, target)
    bare = await measure(args, bare_app(), {"json": lambda: ("GET", "/health", {}, b"")}, "bare")
    bare_cpu = statistics.median(cpu for cpu, _ in bare["json"])
    kinds: dict[str, Any] = {}
    for kind, runs in kefu.items():
        cpu = statistics.median(c for c, _ in runs)
        kinds[kind] = {
            "kefu_cpu_ms": round(cpu, 3),
            "kefu_wall_ms": round(statistics.median(w for _, w in runs), 3),
            "kefu_vs_bare_starlette": round(cpu / bare_cpu, 1) if bare_cpu else None,
            "runs_kefu_cpu_ms": [round(c, 3) for c, _ in runs],
        }
    info = machine_info(args)
    info["note"] = "in-process ASGI calls: no sockets, no HTTP parsing"
    return {
        "benchmark": "bench.rest_requests",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": info,
        "params": {
            "visitors": args.visitors,
            "agents": args.agents,
            "rounds": args.rounds,
            "warmup": args.warmup,
            "runs": args.runs,
            "kefu_database": "postgresql" if args.database_url else "sqlite",
            "statistic": "median over rounds, then over runs",
            "wall_seconds": round(time.perf_counter() - started, 1),
        },
        "bare_starlette_cpu_ms": round(bare_cpu, 3),
        "kinds": kinds,
    }


def main(argv: list[str] | None = None) -> None:
    run_and_print(parse_args(argv), main_async, "kefu-rest-requests-")


if __name__ == "__main__":
    main()
