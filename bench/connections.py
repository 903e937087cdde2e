"""Connections held: N visitor WebSockets with heartbeats on one server, and memory per socket.

Each target (the bare Starlette relay as the baseline, then Kefu) is started as a subprocess;
this process registers the visitors (Kefu: `POST /visitor/session`, one REST call each), opens
their sockets (`auth` → `hello`), keeps them alive with the widget's heartbeat (`ping` every
20 s, plus uvicorn's own WebSocket pings) for `--hold` seconds, and reports:

* `held`: sockets still open at the end (the server closes a socket silent for 50 s, so a
  socket only survives the hold if its heartbeats are answered);
* `kb_per_connection`: (server VmRSS with the sockets open − VmRSS before) ÷ N;
* `open_per_s`, `register_per_s`: how fast sockets were opened / visitors registered;
* `hold_cpu_pct`: the server's CPU while it only answers heartbeats.

Every figure is the median over `--runs`; `ratios` divide Kefu's by the relay's of the same run.

    .venv/bin/python -m bench.connections                      # 10,000 sockets, 1 run
    .venv/bin/python -m bench.connections --connections 20000  # the stretch target
    .venv/bin/python -m bench.connections --quick              # 1,000 sockets, 20 s hold
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.targets import KefuTarget, RelayTarget, Target, socket_fds

TARGETS: dict[str, type[Target]] = {"relay_bare": RelayTarget, "kefu": KefuTarget}
ISSUE_KB_PER_CONNECTION = 50
ISSUE_CONNECTIONS = 10_000


def log(msg: str) -> None:
    print(f"[connections {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def raise_fd_limit(wanted: int) -> int:
    """Room for `wanted` sockets in this process and the servers it starts (they inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(soft, wanted)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, max(hard, target)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def register_visitors(target: Target, n: int, concurrency: int) -> float:
    """Visitor sessions (Kefu only; the relays accept any token). Returns visitors/s."""
    target.tokens = [secrets.token_urlsafe(24) for _ in range(n)]
    if not isinstance(target, KefuTarget):
        return 0.0
    sem = asyncio.Semaphore(concurrency)
    started = time.perf_counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=target.base_url + "/api/v1", timeout=120, limits=limits
    ) as anon:

        async def one(token: str) -> None:
            async with sem:
                r = await anon.post(
                    "/visitor/session", json={"widget_key": target.widget_key, "token": token}
                )
                if r.status_code >= 300:
                    raise RuntimeError(f"visitor session -> {r.status_code} {r.text[:200]}")

        await asyncio.gather(*(one(t) for t in target.tokens))
    return n / (time.perf_counter() - started)


async def prepare_kefu_widget(target: KefuTarget) -> None:
    """A tenant and a widget, through the API (no agents: visitors only hold sockets)."""
    api = target.base_url + "/api/v1"
    async with httpx.AsyncClient(base_url=api, timeout=60) as admin:
        r = await admin.post(
            "/platform/tenants",
            json={"name": "Bench Co", "admin_email": "admin@bench.test", "seats": 5},
            headers={"X-Kefu-Platform-Key": target.platform_key},
        )
        r.raise_for_status()
        login = {"email": "admin@bench.test", "password": r.json()["password"]}
        (await admin.post("/auth/login", json=login)).raise_for_status()
        widget = (await admin.post("/widgets", json={"name": "Bench site"})).raise_for_status()
        target.widget_key = widget.json()["key"]


async def one_run(name: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    target = TARGETS[name](workdir / f"{name}", cpu=None, compression=args.compression)
    out: dict[str, Any] = {}
    await target.start()
    try:
        if isinstance(target, KefuTarget):
            await prepare_kefu_widget(target)
        out["register_per_s"] = round(
            await register_visitors(target, args.connections, args.register_concurrency), 1
        )
        await asyncio.sleep(1)
        rss_before = target.rss_kb()
        # Heartbeats from the first socket on: opening 10,000 can take longer than the
        # server's silence timeout, which would close the first ones before the hold.
        heartbeat = asyncio.create_task(target.fleet.heartbeat())
        started = time.perf_counter()
        await target.open_visitor_sockets(concurrency=args.open_concurrency)
        opened_in = time.perf_counter() - started
        out["opened"] = target.fleet.open_connections()
        out["open_per_s"] = round(out["opened"] / opened_in, 1)
        cpu0, _ = target.sched()
        t0 = time.perf_counter()
        await asyncio.sleep(args.hold)
        cpu1, _ = target.sched()
        held_for = time.perf_counter() - t0
        rss_after = target.rss_kb()
        heartbeat.cancel()
        out["held"] = target.fleet.open_connections()
        out["server_socket_fds"] = socket_fds(target.pid)
        out["hold_seconds"] = round(held_for, 1)
        out["hold_cpu_pct"] = round(100 * (cpu1 - cpu0) / held_for, 1)
        out["rss_before_mb"] = round(rss_before / 1024, 1)
        out["rss_after_mb"] = round(rss_after / 1024, 1)
        out["kb_per_connection"] = round((rss_after - rss_before) / max(1, out["opened"]), 1)
        out["closed"] = dict(target.fleet.closed)
        out["server_log"] = target.log_problems()
    finally:
        await target.stop()
    return out


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [k for k, v in runs[0].items() if isinstance(v, (int, float))]
    med: dict[str, Any] = {k: statistics.median(r[k] for r in runs) for k in keys}
    med["runs"] = runs
    return med


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    fd_limit = raise_fd_limit(args.connections + 2048)
    names = [n.strip() for n in args.targets.split(",") if n.strip()]
    results: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    wall = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kefu-bench-conn-") as tmp:
        for run in range(args.runs):
            for name in names:
                log(f"run {run + 1}/{args.runs}: {name}, {args.connections} sockets")
                res = await one_run(name, args, Path(tmp) / f"run{run}")
                log(
                    f"  held {res['held']}/{args.connections}, "
                    f"{res['kb_per_connection']} KB each, opened {res['open_per_s']}/s"
                )
                results[name].append(res)
    doc: dict[str, Any] = {
        "benchmark": "connections",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
            "fd_limit": fd_limit,
        },
        "params": {
            "connections": args.connections,
            "hold_s": args.hold,
            "runs": args.runs,
            "compression": args.compression or "none",
            "wall_seconds": round(time.perf_counter() - wall, 1),
        },
    }
    for name, runs in results.items():
        doc[name] = median_of(runs)
    if "kefu" in doc and "relay_bare" in doc:
        k, b = doc["kefu"], doc["relay_bare"]
        doc["ratios"] = {
            "kefu_vs_bare_kb_per_connection": round(
                k["kb_per_connection"] / max(0.1, b["kb_per_connection"]), 2
            ),
            "kefu_vs_bare_open_per_s": round(k["open_per_s"] / max(0.1, b["open_per_s"]), 3),
        }
    if "kefu" in doc:
        k = doc["kefu"]
        doc["targets_from_issue"] = {
            "connections_measured": args.connections,
            "held_all": k["held"] == args.connections,
            "connections_ge_10000": k["held"] >= ISSUE_CONNECTIONS,
            "kb_per_connection_le_50": k["kb_per_connection"] <= ISSUE_KB_PER_CONNECTION,
        }
    return doc


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--connections", type=int, default=ISSUE_CONNECTIONS)
    p.add_argument("--hold", type=float, default=60.0, help="seconds to hold the sockets open")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--targets", default="relay_bare,kefu")
    p.add_argument("--open-concurrency", type=int, default=100)
    p.add_argument("--register-concurrency", type=int, default=16)
    p.add_argument("--compression", choices=["deflate", "none"], default="none")
    p.add_argument("--quick", action="store_true", help="1,000 sockets held 20 s")
    p.add_argument("--json-out", type=Path)
    args = p.parse_args(argv)
    if args.quick:
        args.connections, args.hold = 1000, 20.0
    if args.compression == "none":
        args.compression = None
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
