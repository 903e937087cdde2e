"""The event loop's CPU for one batch of visitor sends, apart from the sockets.

`bench.chat_load` measures sends end to end over sockets. Its CPU per message mixes the
batch's fixed cost with the sockets' work, the batch size follows the load, and on a shared
machine the figure moves by a quarter from run to run. This benchmark times the write alone:

1. A database is prepared through the real API (`bench.targets.KefuTarget`: a tenant, agents
   online, visitors whose conversations are ongoing), then that server is stopped.
2. In this process, Kefu's app is built on the same database (no server, no lifespan: no
   timers and no search indexer run) and its real `SendBatcher` writes rounds of B visitor
   sends into B different conversations: the visitor socket's path (group commit, the
   set-wise `bulk_send`, the automations' batched work, the commit, then the events
   published on the bus, with no socket listening).
3. Each round's figure is the event-loop thread's CPU time (`time.thread_time`) from the
   sends' submission to their last answer. Its wall time is reported too: on PostgreSQL it
   is mostly the batch's round trips and the server's own work.

Baseline, in the same run: the same number of rows written the persisting relay's way (one
executemany INSERT in one `BEGIN IMMEDIATE` transaction, `bench.relay_sqlite`) on the same
disk. Figures are medians: over the rounds of a run, then over the runs.

    .venv/bin/python -m bench.send_batch                 # SQLite, sizes 1, 8, 32 (about 1 min)
    .venv/bin/python -m bench.send_batch --sizes 1,4 --rounds 400 --runs 5
    .venv/bin/python -m bench.send_batch --database-url postgresql+asyncpg://…   # PostgreSQL
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.chat_load import cpu_probe_ms, machine_info
from bench.relay_sqlite import GroupCommitStore
from bench.targets import KefuTarget

TEXT = "benchmark message: the quick brown fox jumps over the lazy dog 0123456789"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.send_batch",
        description="CPU per batch of visitor sends, in-process (prints one JSON document).",
    )
    p.add_argument("--visitors", type=int, default=64, help="conversations to write into")
    p.add_argument("--agents", type=int, default=4)
    p.add_argument("--sizes", default="1,8,32", help="sends per batch, comma-separated")
    p.add_argument("--rounds", type=int, default=150, help="batches per size and run")
    p.add_argument("--warmup", type=int, default=20, help="batches per size not counted")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--database-url", default="", help="PostgreSQL (its public schema is reset)")
    p.add_argument("--json-out", type=Path, default=None)
    args = p.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if max(args.sizes) > args.visitors:
        p.error("every size must be at most --visitors (one send per conversation per batch)")
    return args


async def prepare(args: argparse.Namespace, workdir: Path) -> KefuTarget:
    target = KefuTarget(workdir, cpu=None, compression=None)
    target.database_url = args.database_url
    await target.start()
    try:
        await target.prepare(args.visitors, args.agents)
    finally:
        await target.stop()
    return target


async def _principals(app: Any) -> list[Any]:
    """Each ongoing conversation's visitor as its socket holds it (detached rows)."""
    from sqlalchemy import select

    from kefu.channels.models import Widget
    from kefu.conversations.models import Conversation
    from kefu.tenants.models import Tenant
    from kefu.visitors.actions import VisitorPrincipal
    from kefu.visitors.models import Visitor, VisitorDevice

    async with app.state.sessionmaker() as db:
        convs = list(await db.scalars(select(Conversation).where(Conversation.state == "ongoing")))
        out = []
        for conv in convs:
            device = await db.scalar(
                select(VisitorDevice).where(VisitorDevice.visitor_id == conv.visitor_id).limit(1)
            )
            out.append(
                VisitorPrincipal(
                    visitor=await db.get_one(Visitor, conv.visitor_id),
                    device=device,
                    widget=await db.get_one(Widget, conv.widget_id),
                    tenant=await db.get_one(Tenant, conv.tenant_id),
                )
            )
        return out


async def _unused(db: Any, fast: bool) -> Any:
    raise RuntimeError("every benchmark send is an ongoing conversation's (bulk path)")


async def _bulk(db: Any, items: list[Any]) -> list[tuple[Any, int] | None]:
    from kefu.conversations.bulk_send import visitor_send_many

    return [
        None if s is None else (s.visitor_view, s.events)
        for s in await visitor_send_many(db, items)
    ]


Figures = dict[int, list[tuple[float, float]]]  # size → per run, the (CPU, wall) ms medians


async def measure_kefu(args: argparse.Namespace, target: KefuTarget) -> Figures:
    """Per size and run: the medians of the counted batches' CPU and wall ms (runs alternate
    with sizes)."""
    from kefu.api.app import create_app
    from kefu.chat.batcher import batcher_of, close_batcher
    from kefu.conversations.actions import digest
    from kefu.conversations.bulk_send import VisitorMessage
    from kefu.core.config import Settings

    env = target.env()
    settings = Settings(
        data_dir=Path(env["KEFU_DATA_DIR"]),
        platform_key=env["KEFU_PLATFORM_KEY"],
        **({"database_url": env["KEFU_DATABASE_URL"]} if "KEFU_DATABASE_URL" in env else {}),
    )
    app = create_app(settings)
    try:
        vps = await _principals(app)
        if len(vps) < max(args.sizes):
            raise SystemExit(f"only {len(vps)} ongoing conversations were prepared")
        batcher = batcher_of(app)
        body = {"text": TEXT}
        content = digest("text", body)
        turn = 0

        async def batch(size: int) -> tuple[float, float]:
            nonlocal turn
            chosen = [vps[(turn + i) % len(vps)] for i in range(size)]
            turn += size
            items = [VisitorMessage(vp, uuid.uuid4().hex, "text", body, content) for vp in chosen]
            cpu, wall = time.thread_time(), time.perf_counter()
            await asyncio.gather(*(batcher.run(_unused, bulk=(_bulk, it)) for it in items))
            return (time.thread_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000

        found: Figures = {size: [] for size in args.sizes}
        for run in range(args.runs):
            for size in args.sizes:
                for _ in range(args.warmup):
                    await batch(size)
                times = [await batch(size) for _ in range(args.rounds)]
                cpu = statistics.median(t[0] for t in times)
                wall = statistics.median(t[1] for t in times)
                found[size].append((cpu, wall))
                print(
                    f"[send_batch] run {run + 1} size {size}: {cpu:.3f} ms CPU/batch,"
                    f" {wall:.3f} ms wall",
                    file=sys.stderr,
                )
        return found
    finally:
        await close_batcher(app)
        await app.state.engine.dispose()


def measure_relay(args: argparse.Namespace, workdir: Path) -> dict[int, list[float]]:
    """The persisting relay's write of the same rows (its store's `_commit`), on this thread."""
    store = GroupCommitStore(workdir / "relay.db")
    store._open()
    found: dict[int, list[float]] = {size: [] for size in args.sizes}
    next_id = 1
    try:
        for _ in range(args.runs):
            for size in args.sizes:
                times = []
                for n in range(args.warmup + args.rounds):
                    rows = []
                    for i in range(size):
                        rows.append(
                            (
                                next_id,
                                i + 1,
                                next_id,
                                "visitor",
                                i + 1,
                                "text",
                                json.dumps({"text": TEXT}),
                                uuid.uuid4().hex,
                                time.strftime("%Y-%m-%dT%H:%M:%S"),
                            )
                        )
                        next_id += 1
                    started = time.thread_time()
                    store._commit(rows)
                    if n >= args.warmup:
                        times.append((time.thread_time() - started) * 1000)
                found[size].append(statistics.median(times))
    finally:
        store._close()
    return found


async def main_async(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    args.cpu_probe_ms = cpu_probe_ms()
    args.loadavg_at_start = list(os.getloadavg())
    started = time.perf_counter()
    target = await prepare(args, workdir)
    kefu = await measure_kefu(args, target)
    relay = measure_relay(args, workdir)
    sizes: dict[str, Any] = {}
    for size in args.sizes:
        k = statistics.median(cpu for cpu, _ in kefu[size])
        r = statistics.median(relay[size])
        sizes[str(size)] = {
            "kefu_cpu_ms_per_batch": round(k, 3),
            "kefu_wall_ms_per_batch": round(statistics.median(w for _, w in kefu[size]), 3),
            "kefu_cpu_ms_per_send": round(k / size, 3),
            "relay_sqlite_cpu_ms_per_batch": round(r, 3),
            "kefu_vs_relay_sqlite": round(k / r, 2) if r else None,
            "runs_kefu_cpu_ms_per_batch": [round(cpu, 3) for cpu, _ in kefu[size]],
        }
    info = machine_info(args)
    info["note"] = "in-process: the sends' write only, no sockets"
    return {
        "benchmark": "bench.send_batch",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": info,
        "params": {
            "visitors": args.visitors,
            "agents": args.agents,
            "sizes": args.sizes,
            "rounds": args.rounds,
            "warmup": args.warmup,
            "runs": args.runs,
            "kefu_database": "postgresql" if args.database_url else "sqlite",
            "statistic": "median over rounds, then over runs",
            "wall_seconds": round(time.perf_counter() - started, 1),
        },
        "sizes": sizes,
    }


def run_and_print(args: argparse.Namespace, main_async: Any, prefix: str) -> None:
    """`main_async(args, workdir)` in a throwaway directory; its JSON to stdout and --json-out."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        result = asyncio.run(main_async(args, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json_out is not None:
        args.json_out.write_text(text + "\n")


def main(argv: list[str] | None = None) -> None:
    run_and_print(parse_args(argv), main_async, "kefu-send-batch-")


if __name__ == "__main__":
    main()
