"""Chat benchmark: N visitors chatting with M agents on one Kefu process; prints JSON.

    .venv/bin/python -m bench.chat_load [--visitors 200 --agents 10 --rates 100,300,600
                                         --duration 5 --runs 3 --json-out path] [--quick]

Three servers are measured in the same run, with the same load generator and offered rates:

* `kefu`: a real `kefu serve` process (SQLite; PostgreSQL with `--database-url`, whose
  `public` schema is dropped and recreated first), tenant, agents, widget and visitors created
  through the HTTP API; visitors send over their sockets, agents receive over theirs;
* `relay_bare`: a bare Starlette WebSocket relay with Kefu's frames, no persistence;
* `relay_sqlite`: the same relay persisting each message to SQLite (WAL) with group commit.

Per offered rate: achieved persisted msgs/s (acks), delivered msgs/s, visitor->agent latency
percentiles, errors and lost messages; per target: connections held and memory per connection;
then a closed-loop capacity step. Each figure is the median over `--runs` repetitions, and
Kefu's figures are also given as ratios to the baselines. This is a benchmark, not a test: it
never fails on slow figures, it reports them. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import pauses
from bench.loadgen import TIMELINE_AFTER_S, Window, summarize
from bench.targets import (
    KefuTarget,
    RelayTarget,
    SqliteRelayTarget,
    Target,
    sched_seconds,
    socket_fds,
)

P99_TARGET_MS = 50.0
TARGET_CLASSES: dict[str, type[Target]] = {
    "relay_bare": RelayTarget,
    "relay_sqlite": SqliteRelayTarget,
    "kefu": KefuTarget,
}


def _setting(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.startswith("KEFU_"):
        raise argparse.ArgumentTypeError("expected KEFU_NAME=VALUE")
    return name, value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.chat_load",
        description="Kefu chat benchmark (prints one JSON document).",
    )
    p.add_argument("--visitors", type=int, default=200, help="visitor sockets (N)")
    p.add_argument("--agents", type=int, default=10, help="agent sockets (M)")
    p.add_argument("--rates", default="50,150,600", help="offered loads in msgs/s, comma separated")
    p.add_argument("--duration", type=float, default=4.0, help="seconds per offered rate")
    p.add_argument("--runs", type=int, default=3, help="repetitions; medians are reported")
    p.add_argument(
        "--capacity-seconds",
        type=float,
        default=2.0,
        help="closed-loop capacity step per run (every visitor one send outstanding); 0: skip",
    )
    p.add_argument(
        "--capacity-concurrency",
        type=int,
        default=None,
        help="visitors taking part in the capacity step (default: all)",
    )
    p.add_argument("--grace", type=float, default=3.0, help="seconds a window may take to drain")
    p.add_argument(
        "--drain-max",
        type=float,
        default=20.0,
        help="further seconds to wait for a backlog before counting what is left as lost",
    )
    p.add_argument(
        "--kefu-setting",
        action="append",
        default=[],
        type=_setting,
        metavar="KEFU_NAME=VALUE",
        help="a setting of the Kefu server under test, e.g. KEFU_GC_THRESHOLD=20000 (repeatable)",
    )
    p.add_argument(
        "--max-backlog-s",
        type=float,
        default=0.5,
        help="stop a rate early once more than max(100, rate x this) sends are unanswered "
        "(the server is saturated; a longer backlog only lengthens the drain)",
    )
    p.add_argument(
        "--targets",
        default="relay_bare,relay_sqlite,kefu",
        help="which servers to measure (relay_bare, relay_sqlite, kefu)",
    )
    p.add_argument(
        "--order",
        choices=["interleaved", "sequential"],
        default="interleaved",
        help="interleaved: all servers up, runs alternate between them (fairer on a shared "
        "machine); sequential: one server at a time (fewer sockets at once)",
    )
    p.add_argument(
        "--pin",
        action="store_true",
        help="pin the servers to CPU 1 and the load generator to CPU 0 (off by default: on a "
        "machine other work shares, pinned processes cannot move away from a busy core)",
    )
    p.add_argument(
        "--compression",
        choices=["deflate", "none"],
        default="deflate",
        help="permessage-deflate on the client sockets (browsers negotiate it)",
    )
    p.add_argument(
        "--database-url",
        default="",
        help="postgresql+asyncpg://… : Kefu runs on this PostgreSQL database; its `public` "
        "schema is DROPPED and recreated first (use a throwaway database). Default: SQLite",
    )
    p.add_argument("--json-out", type=Path, help="also write the JSON document here")
    p.add_argument("--keep", action="store_true", help="keep the temporary data directories")
    p.add_argument("--quick", action="store_true", help="smoke check: 1 run, 1 rate, 3 s")
    args = p.parse_args(argv)
    if args.quick:
        args.runs = 1
        args.duration = 3.0
        args.rates = args.rates.split(",")[0]
        args.capacity_seconds = min(args.capacity_seconds, 2.0)
    args.rate_list = [float(r) for r in args.rates.split(",") if r.strip()]
    args.target_list = [t.strip() for t in args.targets.split(",") if t.strip()]
    for t in args.target_list:
        if t not in TARGET_CLASSES:
            p.error(f"unknown target {t}")
    if args.database_url and not args.database_url.startswith("postgresql"):
        p.error("--database-url must be a postgresql:// or postgresql+asyncpg:// URL")
    if args.visitors < 1 or args.agents < 1 or args.runs < 1 or not args.rate_list:
        p.error("visitors, agents, runs and rates must be positive")
    return args


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def rate_key(rate: float) -> str:
    return str(int(rate)) if rate == int(rate) else str(rate)


# -- measuring ------------------------------------------------------------------------------


async def setup_target(t: Target, args: argparse.Namespace) -> None:
    started = time.perf_counter()
    await t.start()
    # Heartbeats from the start: on a busy machine the REST setup can take longer than the
    # server's 50-second silence timeout, which would close the agents' sockets meanwhile.
    t.heartbeat_task = asyncio.create_task(t.fleet.heartbeat())
    await t.prepare(args.visitors, args.agents)
    await asyncio.sleep(0.5)
    rss_before = t.rss_kb()
    fds_before = socket_fds(t.pid)
    opened = time.perf_counter()
    await t.open_visitor_sockets()
    open_seconds = time.perf_counter() - opened
    await asyncio.sleep(1.0)
    rss_after = t.rss_kb()
    fds_after = socket_fds(t.pid)
    # The same again with the other compression setting: a second socket per visitor.
    other = None if args.compression == "deflate" else "deflate"
    probes = await t.probe_sockets(other)
    await asyncio.sleep(1.0)
    rss_probes = t.rss_kb()
    await asyncio.gather(*(ws.close() for ws in probes), return_exceptions=True)
    visitors = t.fleet.visitors
    t.setup_info = {
        "setup_seconds": round(time.perf_counter() - started, 1),
        "visitor_sockets_open_seconds": round(open_seconds, 2),
        "rss_before_visitors_kb": rss_before,
        "rss_after_visitors_kb": rss_after,
        "kb_per_connection": round((rss_after - rss_before) / max(1, len(visitors)), 1),
        f"kb_per_connection_{'no_deflate' if other is None else 'deflate'}_probe": round(
            (rss_probes - rss_after) / max(1, len(probes)), 1
        ),
        "server_socket_fds_added": fds_after - fds_before,
        "unassigned_conversations": sum(
            1 for v in visitors if v.agent_id is None or v.conversation_state != "ongoing"
        ),
        **t.prepare_info,
    }
    log(f"{t.name}: ready {t.setup_info}")


async def measure(
    t: Target, w_coro: Any, args: argparse.Namespace
) -> tuple[Window, dict[str, Any]]:
    """Run one window and drain it; CPU each side spent (schedstat, all threads) until drained.

    Messages still unanswered `--grace` seconds after the schedule ended count as
    `unfinished_at_grace`; the window then waits up to `--drain-max` more seconds (so the backlog
    does not spill into the next window) and what is still neither acked nor delivered is `lost`.
    Latency percentiles include the late messages.
    """
    batches0 = await t.send_batches()
    sampler = pauses.Sampler(t.pause_totals, lambda: t.sched()[0])
    await sampler.start()
    run0, wait0 = t.sched()
    gen_run0, gen_wait0 = sched_seconds("self")
    wall0 = time.perf_counter()
    w: Window = await w_coro
    drained = await t.fleet.drain(w, args.grace)
    wall = time.perf_counter() - wall0
    run1, wait1 = t.sched()
    gen_run1, gen_wait1 = sched_seconds("self")
    unfinished = t.fleet.unfinished(w)
    if not drained:
        await t.fleet.drain(w, args.drain_max)
    batches1 = await t.send_batches()
    fig = summarize(w, t.fleet)
    fig.update(await sampler.stop(timeline=w.end - w.start >= TIMELINE_AFTER_S))
    if batches0 is not None and batches1 is not None and batches1[1] > batches0[1]:
        # Sends per group commit (Kefu's /metrics): the larger, the less each send costs.
        fig["mean_send_batch"] = round((batches1[0] - batches0[0]) / (batches1[1] - batches0[1]), 1)
    fig["unfinished_at_grace"] = unfinished
    fig["drained"] = drained
    fig["server_cpu_pct"] = round(100 * (run1 - run0) / wall, 1)
    # Runnable but not running: time the server waited for a CPU (other processes, shared box).
    fig["server_cpu_wait_pct"] = round(100 * (wait1 - wait0) / wall, 1)
    fig["server_cpu_ms_per_msg"] = round(1000 * (run1 - run0) / w.acked, 3) if w.acked else None
    fig["loadgen_cpu_pct"] = round(100 * (gen_run1 - gen_run0) / wall, 1)
    fig["loadgen_cpu_wait_pct"] = round(100 * (gen_wait1 - gen_wait0) / wall, 1)
    # The generator was running or waiting for a CPU nearly all the time: the figures may be
    # the generator's limit rather than the server's.
    fig["loadgen_bound"] = fig["loadgen_cpu_pct"] + fig["loadgen_cpu_wait_pct"] >= 90
    if fig["server_cpu_ms_per_msg"]:
        # What one fully available core would sustain at this CPU cost per message.
        fig["msgs_per_cpu_second"] = round(1000 / fig["server_cpu_ms_per_msg"], 1)
    await asyncio.sleep(0.3)
    return w, fig


async def sweep(t: Target, args: argparse.Namespace, run: int) -> dict[str, Any]:
    out: dict[str, Any] = {"rates": {}}
    for rate in args.rate_list:
        backlog = max(100, int(rate * args.max_backlog_s))
        _, fig = await measure(t, t.fleet.open_loop(rate, args.duration, backlog), args)
        out["rates"][rate_key(rate)] = fig
        log(
            f"{t.name} run {run} @ {rate_key(rate)}/s: persisted {fig['persisted_per_s']}/s "
            f"p50 {fig['p50_ms']} p99 {fig['p99_ms']} ms errors {fig['errors']} "
            f"lost {fig['lost']} server cpu {fig['server_cpu_pct']}%"
        )
    if args.capacity_seconds > 0:
        d = args.capacity_seconds
        _, fig = await measure(t, t.fleet.closed_loop(d, args.capacity_concurrency), args)
        out["capacity"] = fig
        log(f"{t.name} run {run} capacity: {fig['persisted_per_s']}/s p99 {fig['p99_ms']} ms")
    return out


def integrity(t: Target) -> dict[str, Any]:
    fleet = t.fleet
    out: dict[str, Any] = {
        "sent": len(fleet.sent_ids),
        "acked": len(fleet.acked_ids),
        "never_answered": sum(1 for p in fleet.inflight.values() if not p.acked),
        "never_delivered": sum(1 for p in fleet.inflight.values() if not p.delivered),
        "socket_closes": dict(fleet.closed),
        "unmatched_frames": dict(fleet.unmatched_frames),
    }
    stored_list = t.stored_client_ids()
    if stored_list is not None:
        stored = set(stored_list)
        sent = fleet.sent_ids
        out["stored"] = len(stored & sent)
        out["duplicates_stored"] = len(stored_list) - len(stored)
        out["acked_not_stored"] = len(fleet.acked_ids - stored)
        out["stored_not_acked"] = len((stored & sent) - fleet.acked_ids)
    return out


# -- aggregating ----------------------------------------------------------------------------


def median_of(values: list[Any]) -> Any:
    nums = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not nums:
        return None
    m = statistics.median(nums)
    return round(m, 2) if isinstance(m, float) else m


MEDIAN_FIELDS = (
    "persisted_per_s",
    "delivered_per_s",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "max_ms",
    "ack_p99_ms",
    "errors",
    "lost",
    "unfinished_at_grace",
    "unacked",
    "undelivered",
    "misrouted",
    "seconds",
    "server_cpu_pct",
    "server_cpu_wait_pct",
    "server_cpu_ms_per_msg",
    "loadgen_cpu_pct",
    "loadgen_cpu_wait_pct",
    "gen_lag_p99_ms",
    "msgs_per_cpu_second",
    "mean_send_batch",
)


def aggregate(figs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"offered": figs[0]["offered"]}
    for f in MEDIAN_FIELDS:
        out[f] = median_of([x.get(f) for x in figs])
    out["sent_total"] = sum(x["sent"] for x in figs)
    out["errors_total"] = sum(x["errors"] for x in figs)
    out["lost_total"] = sum(x["lost"] for x in figs)
    kinds: dict[str, int] = {}
    for x in figs:
        for k, v in x["error_kinds"].items():
            kinds[k] = kinds.get(k, 0) + v
    out["error_kinds"] = kinds
    out["all_drained"] = all(x["drained"] for x in figs)
    out["runs_cut_short"] = sum(1 for x in figs if x["cut_short"])
    out["runs_loadgen_bound"] = sum(1 for x in figs if x["loadgen_bound"])
    out["runs_p99_ms"] = [x["p99_ms"] for x in figs]
    out["runs_persisted_per_s"] = [x["persisted_per_s"] for x in figs]
    if any("p99_ms_by_10s" in x for x in figs):  # long windows (loadgen._timeline)
        out["runs_p99_ms_by_10s"] = [x.get("p99_ms_by_10s") for x in figs]
    if any("server_pauses" in x for x in figs):  # Kefu's own account (bench.pauses)
        out["runs_server_pauses"] = [x.get("server_pauses") for x in figs]
    if any("server_pauses_by_10s" in x for x in figs):
        out["runs_server_pauses_by_10s"] = [x.get("server_pauses_by_10s") for x in figs]
    return out


def held(fig: dict[str, Any]) -> bool:
    """The load is held: p99 within target, nothing lost or refused, throughput kept up."""
    p99 = fig.get("p99_ms")
    return (
        p99 is not None
        and p99 <= P99_TARGET_MS
        and not fig.get("errors_total")
        and not fig.get("lost_total")
        and not fig.get("runs_cut_short")
        and (fig.get("persisted_per_s") or 0) >= 0.95 * (fig.get("offered") or 0)
    )


def ratio(a: Any, b: Any) -> float | None:
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or b == 0:
        return None
    return round(a / b, 3)


def build_report(
    args: argparse.Namespace, targets: list[Target], runs: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    report: dict[str, Any] = {
        "benchmark": "bench.chat_load",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(args),
        "params": {
            "visitors": args.visitors,
            "agents": args.agents,
            "rates": args.rate_list,
            "duration_s": args.duration,
            "runs": args.runs,
            "capacity_s": args.capacity_seconds,
            "capacity_concurrency": args.capacity_concurrency or args.visitors,
            "order": args.order,
            "pinned": args.pin,
            "compression": args.compression,
            "kefu_database": "postgresql" if args.database_url else "sqlite",
            "kefu_settings": dict(args.kefu_setting),
            "p99_target_ms": P99_TARGET_MS,
            "statistic": "median over runs",
        },
    }
    highest: dict[str, float | None] = {}
    for t in targets:
        per_run = runs[t.name]
        rates = {
            rate_key(r): aggregate([x["rates"][rate_key(r)] for x in per_run])
            for r in args.rate_list
        }
        info = dict(t.setup_info)
        integ, store = info.pop("integrity", None), info.pop("store", None)
        section: dict[str, Any] = {
            "connections_held": info.pop("connections_held", None),
            **info,
            "rates": rates,
        }
        if all("capacity" in x for x in per_run):
            section["capacity"] = aggregate([x["capacity"] for x in per_run])
        section["integrity"] = integ
        section["server_log"] = t.log_problems()
        if store is not None:
            section["store"] = store
        report[t.name] = section
        ok = [r for r in args.rate_list if held(rates[rate_key(r)])]
        highest[t.name] = max(ok) if ok else None
    report["ratios"] = ratios(report, args)
    report["highest_rate_p99_le_50ms"] = highest
    report["highest_rate_offered"] = max(args.rate_list)  # a target holding it may hold more
    report["targets_from_issue"] = targets_check(report, args)
    return report


def ratios(report: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Kefu's figures divided by each baseline's, from the same run (>1: Kefu bigger)."""
    kefu = report.get("kefu")
    out: dict[str, Any] = {}
    if kefu is None:
        return out
    for base, label in (("relay_bare", "bare"), ("relay_sqlite", "sqlite_relay")):
        b = report.get(base)
        if b is None:
            continue
        if "capacity" in kefu and "capacity" in b:
            kc, bc = kefu["capacity"], b["capacity"]
            out[f"kefu_vs_{label}_throughput"] = ratio(kc["persisted_per_s"], bc["persisted_per_s"])
            out[f"kefu_vs_{label}_msgs_per_cpu_second"] = ratio(
                kc["msgs_per_cpu_second"], bc["msgs_per_cpu_second"]
            )
        for key in ("kb_per_connection", *(k for k in kefu if k.endswith("_probe"))):
            out[f"kefu_vs_{label}_{key}"] = ratio(kefu.get(key), b.get(key))
        per_rate: dict[str, Any] = {}
        for r in args.rate_list:
            k, x = kefu["rates"][rate_key(r)], b["rates"][rate_key(r)]
            per_rate[rate_key(r)] = {
                "persisted": ratio(k["persisted_per_s"], x["persisted_per_s"]),
                "p50": ratio(k["p50_ms"], x["p50_ms"]),
                "p99": ratio(k["p99_ms"], x["p99_ms"]),
                "server_cpu_per_msg": ratio(k["server_cpu_ms_per_msg"], x["server_cpu_ms_per_msg"]),
            }
        out[f"kefu_vs_{label}_by_rate"] = per_rate
    return out


def targets_check(report: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The later issue's targets, checked on what this run measured (informational)."""
    kefu = report.get("kefu")
    if kefu is None:
        return {}
    held_rates = [r for r in args.rate_list if held(kefu["rates"][rate_key(r)])]
    return {
        "kb_per_connection_le_50": (kefu.get("kb_per_connection") or 1e9) <= 50,
        "connections_measured": kefu.get("connections_held"),
        "connections_target": 10_000,
        "persisted_2000_per_s_at_p99_le_50ms": any(r >= 2000 for r in held_rates),
        "highest_held_rate": max(held_rates) if held_rates else None,
    }


def cpu_probe_ms() -> float:
    """Best of 5 of `sum(range(1_000_000))`, in ms: how fast this machine runs Python today.
    Shared machines differ from hour to hour (2.5x seen between sessions); figures from
    different runs compare only after this."""
    best = math.inf
    for _ in range(5):
        started = time.perf_counter()
        sum(range(1_000_000))
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


def machine_info(args: argparse.Namespace) -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as fh:
        mem_kb = int(fh.readline().split()[1])
    return {
        "cpu_speed_probe_ms": args.cpu_probe_ms,
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "mem_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": args.loadavg_at_start,
        "loadavg_at_end": list(os.getloadavg()),
        "cpu_speed_probe_ms_at_end": cpu_probe_ms(),
        "note": "servers and load generator share this machine (loopback)",
    }


# -- main -----------------------------------------------------------------------------------


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    server_cpu = 1 if args.pin and (os.cpu_count() or 1) >= 2 else None
    targets = [
        TARGET_CLASSES[n](
            workdir,
            cpu=server_cpu,
            compression=None if args.compression == "none" else "deflate",
        )
        for n in args.target_list
    ]
    for t in targets:
        if isinstance(t, KefuTarget):
            t.database_url = args.database_url
            t.settings = dict(args.kefu_setting)
    runs: dict[str, list[dict[str, Any]]] = {t.name: [] for t in targets}

    async def finish(t: Target) -> None:
        await t.fleet.drain_all(10)
        t.setup_info["connections_held"] = t.fleet.open_connections()
        t.setup_info["rss_end_kb"] = t.rss_kb()
        if isinstance(t, RelayTarget):
            with contextlib.suppress(Exception):
                stats = await t.server_stats()
                if "store" in stats:
                    t.setup_info["store"] = stats["store"]
        if t.heartbeat_task is not None:
            t.heartbeat_task.cancel()
        await t.stop()
        t.setup_info["integrity"] = integrity(t)

    try:
        if args.order == "interleaved":
            for t in targets:
                await setup_target(t, args)
            for i in range(args.runs):
                for t in targets:
                    runs[t.name].append(await sweep(t, args, i + 1))
            for t in targets:
                await finish(t)
        else:
            for t in targets:
                await setup_target(t, args)
                for i in range(args.runs):
                    runs[t.name].append(await sweep(t, args, i + 1))
                await finish(t)
    finally:
        for t in targets:
            with contextlib.suppress(Exception):
                await t.stop()
    return build_report(args, targets, runs)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.loadavg_at_start = list(os.getloadavg())
    args.cpu_probe_ms = cpu_probe_ms()
    if args.pin and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {0})  # the load generator; servers get CPU 1
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="kefu-bench-"))
    try:
        report = asyncio.run(run(args, workdir))
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"kept {workdir}")
    report["params"]["wall_seconds"] = round(time.perf_counter() - started, 1)
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    if args.json_out:
        args.json_out.write_text(text + "\n")


if __name__ == "__main__":
    main()
