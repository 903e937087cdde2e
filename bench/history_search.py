"""History, search and export benchmark (issue 6); prints JSON.

    .venv/bin/python -m bench.history_search [--quick] [--reuse DIR | --keep-data DIR]
                                             [--database-url postgresql://...]

Seeds one tenant with `--messages` messages in `--conversations` ended conversations (~20
agents, `--visitors` visitors, over `--days` days; session tags, ratings, channels, transfers)
plus a small second tenant, with SQLAlchemy core bulk inserts into a migrated database (so the
migrations' indexes, triggers and FTS tables are filled exactly as by the app), and times the
seeding. Then starts a real `kefu serve` subprocess on it and measures, as the tenant's admin
over HTTP with a bearer token, sequentially, after warm-up requests:

1. the history list: the default view and a far page;
2. history filters: agent, channel, session tag, visitor name (fuzzy), accepted-time range,
   conversation id, and a combination;
3. keyword search: 1-, 2- and 3+-character Chinese, an English word and rare words, over the
   default range (30 days) and over 180 days;
4. an export of 30,000 conversations with their messages: POST /exports -> state done, and the
   file's size;

and, in the same run, the baseline: a trivial authenticated GET /me (before and after).
A measurement whose route answers 404, or whose filter the route does not offer (read from the
server's OpenAPI document), is skipped with a note ("not available"), so the benchmark runs at
every stage of the feature work.

SQLite (a temporary data directory, or a cached one with --reuse/--keep-data) by default;
PostgreSQL with --database-url (its public schema is reset and reseeded unless a marker table
says this dataset is already there). Progress goes to stderr, the JSON document to stdout. This
is a benchmark, not a test: it never fails on slow figures. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import io
import json
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from alembic.script import ScriptDirectory
from sqlalchemy import event, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.dispatch import Server, machine_info, median_of, ms, percentile
from bench.seed_history import RARE_EN, RARE_ZH, Seeded, Spec, admin_token, seed
from bench.targets import sched_seconds
from kefu.conversations.models import Conversation
from kefu.core.config import Settings
from kefu.core.db import make_engine, make_sessionmaker, sqlite_functions
from kefu.core.migrate import alembic_config, upgrade_to_head
from kefu.models import load_all_models
from kefu.search.sqlite_index import build_index, search_path

API = "/api/v1"
MARKER_FILE = "bench-history-dataset.json"
SUFFIXES = ("", "-wal", "-shm")
MARKER_TABLE = "bench_history_dataset"


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.history_search",
        description="Kefu history/search/export benchmark (prints one JSON document).",
    )
    p.add_argument("--conversations", type=int, default=100_000, help="ended conversations")
    p.add_argument("--messages", type=int, default=1_000_000, help="messages in all")
    p.add_argument("--visitors", type=int, default=50_000)
    p.add_argument("--agents", type=int, default=20)
    p.add_argument("--days", type=int, default=180, help="the conversations' time span")
    p.add_argument("--seed", type=int, default=6, help="random seed of the dataset")
    p.add_argument("--requests", type=int, default=30, help="timed requests per query")
    p.add_argument("--warmup", type=int, default=3, help="untimed requests before each query")
    p.add_argument(
        "--query-seconds",
        type=float,
        default=60.0,
        help="time budget per query: a slow query stops after this long (at least 5 requests)",
    )
    p.add_argument(
        "--export-conversations",
        type=int,
        default=30_000,
        help="conversations in the export (the newest ones; 0 skips the export)",
    )
    p.add_argument("--export-timeout", type=float, default=1800.0, help="seconds")
    p.add_argument(
        "--database-url",
        default="",
        help="postgresql://... to measure on PostgreSQL (its public schema is RESET unless the "
        "marker table says this dataset is there); default: SQLite",
    )
    p.add_argument(
        "--reuse",
        type=Path,
        help="SQLite: a data directory to keep the seeded database in; reused when it holds "
        "this dataset at the current migrations, seeded (and kept) otherwise",
    )
    p.add_argument(
        "--keep-data",
        type=Path,
        help="SQLite: seed into this directory (always anew) and keep it for --reuse",
    )
    p.add_argument("--reseed", action="store_true", help="PostgreSQL: reseed even if marked")
    p.add_argument("--json-out", type=Path, help="also write the JSON document here")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke check: 20,000 messages in 2,000 conversations, few requests (< 2 min)",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.conversations = min(args.conversations, 2000)
        args.messages = min(args.messages, 20_000)
        args.visitors = min(args.visitors, 1000)
        args.requests = min(args.requests, 5)
        args.warmup = min(args.warmup, 1)
        args.export_conversations = min(args.export_conversations, 600)
    if args.reuse and args.keep_data:
        p.error("--reuse and --keep-data are exclusive")
    if args.database_url and (args.reuse or args.keep_data):
        p.error("--reuse/--keep-data are for SQLite; PostgreSQL uses its marker table")
    if args.conversations < 10 or args.messages < 3 * args.conversations:
        p.error("need at least 10 conversations and 3 messages per conversation")
    if args.requests < 1 or args.warmup < 0:
        p.error("--requests must be positive")
    return args


def spec_of(args: argparse.Namespace) -> Spec:
    return Spec(
        conversations=args.conversations,
        messages=args.messages,
        visitors=args.visitors,
        agents=args.agents,
        days=args.days,
        seed=args.seed,
        small_conversations=max(20, args.conversations // 200),
        small_messages=max(200, args.messages // 200),
    )


def migration_heads() -> list[str]:
    return sorted(ScriptDirectory.from_config(alembic_config()).get_heads())


# -- the dataset ------------------------------------------------------------------------------


def _sqlite_load_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """The app's pragmas, relaxed for the bulk load (durability does not matter here)."""
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=OFF")
    cur.execute("PRAGMA foreign_keys=OFF")
    cur.execute("PRAGMA cache_size=-262144")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()
    sqlite_functions(dbapi_conn)  # the search triggers call them


def load_engine(settings: Settings) -> AsyncEngine:
    if settings.is_sqlite:
        engine = create_async_engine(settings.resolved_database_url)
        event.listen(engine.sync_engine, "connect", _sqlite_load_pragmas)
        event.listen(
            engine.sync_engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE")
        )
        return engine
    return make_engine(settings)


async def pg_marker(settings: Settings) -> dict[str, Any] | None:
    engine = make_engine(settings)
    try:
        async with engine.connect() as conn:
            exists = await conn.scalar(text(f"SELECT to_regclass('public.{MARKER_TABLE}')"))
            if not exists:
                return None
            raw = await conn.scalar(text(f"SELECT data FROM {MARKER_TABLE} LIMIT 1"))
            return json.loads(raw) if raw else None
    finally:
        await engine.dispose()


async def pg_reset(settings: Settings) -> None:
    engine = make_engine(settings)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


async def pg_mark(settings: Settings, marker: dict[str, Any]) -> None:
    engine = make_engine(settings)
    async with engine.begin() as conn:
        await conn.execute(text(f"CREATE TABLE {MARKER_TABLE} (data TEXT NOT NULL)"))
        await conn.execute(
            text(f"INSERT INTO {MARKER_TABLE} (data) VALUES (:d)"), {"d": json.dumps(marker)}
        )
    await engine.dispose()


async def do_seed(settings: Settings, spec: Spec) -> Seeded:
    engine = load_engine(settings)
    try:
        maker = make_sessionmaker(engine, settings)
        return await seed(
            engine,
            maker,
            spec,
            is_postgres=not settings.is_sqlite,
            progress=log,
        )
    finally:
        await engine.dispose()


def sqlite_checkpoint(path: Path) -> None:
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()


def prepare(args: argparse.Namespace, workdir: Path) -> tuple[Settings, Seeded, dict[str, Any]]:
    """A migrated database holding the dataset: reused when marked, else seeded (timed)."""
    load_all_models()
    spec = spec_of(args)
    heads = migration_heads()
    want = {"spec": spec.key(), "heads": heads}
    info: dict[str, Any] = {"reused": False, "migration_heads": heads}
    if args.database_url:
        settings = Settings(data_dir=workdir / "data", database_url=args.database_url)
        marker = None if args.reseed else asyncio.run(pg_marker(settings))
        if marker is not None and {k: marker.get(k) for k in want} == want:
            info["reused"] = True
            return settings, Seeded.from_json(marker["seeded"]), info
        log("postgresql: resetting the public schema and seeding")
        asyncio.run(pg_reset(settings))
    else:
        data_dir = args.reuse or args.keep_data or workdir / "data"
        data_dir = Path(data_dir).resolve()
        settings = Settings(data_dir=data_dir)
        marker_path = data_dir / MARKER_FILE
        if args.reuse and marker_path.exists() and (data_dir / "kefu.db").exists():
            marker = json.loads(marker_path.read_text())
            if {k: marker.get(k) for k in want} == want:
                info["reused"] = True
                info["data_dir"] = str(data_dir)
                return settings, Seeded.from_json(marker["seeded"]), info
            log(f"{data_dir}: dataset or migrations differ; seeding anew")
        if data_dir.exists():
            for name in (
                *(f"{db}{suffix}" for db in ("kefu.db", "kefu-search.db") for suffix in SUFFIXES),
                MARKER_FILE,
            ):
                with contextlib.suppress(FileNotFoundError):
                    (data_dir / name).unlink()
        data_dir.mkdir(parents=True, exist_ok=True)
        info["data_dir"] = str(data_dir)
    t0 = time.perf_counter()
    upgrade_to_head(settings)
    info["migrate_seconds"] = round(time.perf_counter() - t0, 1)
    log(
        f"migrated in {info['migrate_seconds']} s; seeding {spec.messages} messages in "
        f"{spec.conversations} conversations"
    )
    seeded = asyncio.run(do_seed(settings, spec))
    marker = want | {"seeded": seeded.to_json()}
    if args.database_url:
        asyncio.run(pg_mark(settings, marker))
    else:
        t1 = time.perf_counter()
        sqlite_checkpoint(settings.data_dir / "kefu.db")
        info["checkpoint_seconds"] = round(time.perf_counter() - t1, 1)
        # The search file (kefu.search.sqlite_index): the seed only queued its messages.
        t2 = time.perf_counter()
        build_index(settings)
        sqlite_checkpoint(search_path(settings))
        info["search_index_seconds"] = round(time.perf_counter() - t2, 1)
        (settings.data_dir / MARKER_FILE).write_text(json.dumps(marker))
        info["database_bytes"] = (settings.data_dir / "kefu.db").stat().st_size
    log(f"seeded in {seeded.seconds} s: {seeded.seconds_by_table}")
    return settings, seeded, info


async def export_window(settings: Settings, tenant_id: int, n: int) -> tuple[datetime, int]:
    """The ended_at from which exactly the `n` newest ended conversations are (and how many)."""
    engine = make_engine(settings)
    try:
        async with engine.connect() as conn:
            total = int(
                await conn.scalar(
                    select(func.count())
                    .select_from(Conversation)
                    .where(Conversation.tenant_id == tenant_id, Conversation.state == "ended")
                )
                or 0
            )
            k = max(1, min(n, total))
            at = await conn.scalar(
                select(Conversation.ended_at)
                .where(Conversation.tenant_id == tenant_id, Conversation.state == "ended")
                .order_by(Conversation.ended_at.desc())
                .offset(k - 1)
                .limit(1)
            )
            assert at is not None
            count = int(
                await conn.scalar(
                    select(func.count())
                    .select_from(Conversation)
                    .where(
                        Conversation.tenant_id == tenant_id,
                        Conversation.state == "ended",
                        Conversation.ended_at >= at,
                    )
                )
                or 0
            )
            return at, count
    finally:
        await engine.dispose()


async def a_conversation(settings: Settings, tenant_id: int) -> int:
    engine = make_engine(settings)
    try:
        async with engine.connect() as conn:
            cid = await conn.scalar(
                select(Conversation.id)
                .where(Conversation.tenant_id == tenant_id, Conversation.state == "ended")
                .order_by(Conversation.id)
                .offset(1234)
                .limit(1)
            )
            if cid is None:
                cid = await conn.scalar(
                    select(func.max(Conversation.id)).where(Conversation.tenant_id == tenant_id)
                )
            return int(cid or 0)
    finally:
        await engine.dispose()


# -- measuring --------------------------------------------------------------------------------


class Client:
    def __init__(self, base: str, token: str, pid: int) -> None:
        self.http = httpx.AsyncClient(
            base_url=base + API,
            headers={"Authorization": f"Bearer {token}", "Accept-Language": "zh-CN"},
            timeout=httpx.Timeout(300.0),
        )
        self.pid = pid

    async def close(self) -> None:
        await self.http.aclose()

    async def measure(
        self,
        name: str,
        path: str,
        params: dict[str, Any] | list[tuple[str, Any]] | None,
        *,
        requests: int,
        warmup: int,
        budget_s: float,
    ) -> dict[str, Any]:
        """`warmup` untimed then `requests` timed sequential GETs; 404 -> not available.

        Slow queries stop early: no more warm-up once one request took over a tenth of
        `budget_s`, and no more timed requests once `budget_s` has passed and at least 5 (or
        `requests`) were timed; `requests` in the output says how many were."""
        out: dict[str, Any] = {"path": path, "params": _jsonable(params)}
        t_first = time.perf_counter()
        first = await self.http.get(path, params=params)
        first_s = time.perf_counter() - t_first
        if first.status_code == 404 and _route_missing(first):
            return out | {"available": False, "note": "not available (route answers 404)"}
        if first.status_code != 200:
            return out | {
                "available": True,
                "error": f"HTTP {first.status_code}",
                "body": first.text[:300],
            }
        out["result_total"] = _total(first)
        out["first_request_ms"] = round(1000 * first_s, 1)
        if first_s < budget_s / 10:
            for _ in range(max(0, warmup - 1)):
                await self.http.get(path, params=params)
        times: list[float] = []
        statuses: dict[str, int] = {}
        cpu0 = _cpu(self.pid)
        started = time.perf_counter()
        for _ in range(requests):
            if len(times) >= min(5, requests) and time.perf_counter() - started > budget_s:
                break
            t0 = time.perf_counter()
            r = await self.http.get(path, params=params)
            times.append(time.perf_counter() - t0)
            statuses[str(r.status_code)] = statuses.get(str(r.status_code), 0) + 1
        cpu1 = _cpu(self.pid)
        out |= {
            "available": True,
            "requests": len(times),
            "p50_ms": ms(percentile(times, 0.5)),
            "p99_ms": ms(percentile(times, 0.99)),
            "max_ms": ms(max(times)),
            "statuses": statuses,
        }
        if cpu0 is not None and cpu1 is not None:
            out["server_cpu_ms_per_request"] = round(1000 * (cpu1 - cpu0) / len(times), 2)
        log(
            f"{name}: p50 {out['p50_ms']} ms p99 {out['p99_ms']} ms "
            f"(total {out.get('result_total')}, {statuses})"
        )
        return out


def _cpu(pid: int) -> float | None:
    try:
        return sched_seconds(pid)[0]
    except (OSError, ValueError):
        return None


def _route_missing(r: httpx.Response) -> bool:
    """404 of an unknown route (FastAPI's {"detail": "Not Found"}), not of a missing record."""
    try:
        body = r.json()
    except ValueError:
        return True
    return not (isinstance(body, dict) and isinstance(body.get("error"), dict)) or body[
        "error"
    ].get("code") in ("not_found", "route_not_found")


def _total(r: httpx.Response) -> int | None:
    try:
        body = r.json()
    except ValueError:
        return None
    if isinstance(body, dict):
        if isinstance(body.get("total"), int):
            return int(body["total"])
        if isinstance(body.get("items"), list):
            return len(body["items"])
    if isinstance(body, list):
        return len(body)
    return None


def _jsonable(params: Any) -> Any:
    if params is None:
        return None
    items = params.items() if isinstance(params, dict) else params
    return [[k, v if isinstance(v, (int, str, bool)) else str(v)] for k, v in items]


def query_params(openapi: dict[str, Any], path: str) -> dict[str, dict[str, Any]]:
    """The query parameters of GET `path` in the server's OpenAPI document (name -> schema)."""
    op = openapi.get("paths", {}).get(API + path, {}).get("get")
    if not op:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for prm in op.get("parameters", []):
        if prm.get("in") == "query":
            out[prm["name"]] = prm.get("schema", {})
    return out


def _first(names: dict[str, Any], *candidates: str) -> str | None:
    return next((c for c in candidates if c in names), None)


def _is_array(schema: dict[str, Any]) -> bool:
    if schema.get("type") == "array":
        return True
    return any(s.get("type") == "array" for s in schema.get("anyOf", []))


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def history_queries(
    openapi: dict[str, Any], seeded: Seeded, conv_id: int, total_pages: int
) -> dict[str, tuple[list[tuple[str, Any]] | None, str | None]]:
    """name -> (query parameters, or None with why it is not available)."""
    prm = query_params(openapi, "/history")
    big = seeded.big
    now = seeded.now
    agent = big.agents[len(big.agents) // 2]
    tag_id = big.tags.get("售后/退款")
    q: dict[str, tuple[list[tuple[str, Any]] | None, str | None]] = {}
    # The page's default view: conversations ended this week (Monday 00:00 in the tenant's
    # zone, Asia/Shanghai), as the console sends it.
    local = now.astimezone(ZoneInfo("Asia/Shanghai"))
    monday = datetime.combine(
        local.date() - timedelta(days=local.weekday()), dtime(0), tzinfo=local.tzinfo
    )
    range_from, range_to = (
        ("time_from", "time_to") if "time_from" in prm else ("ended_from", "ended_to")
    )
    q["list_default_this_week"] = (
        [(range_from, iso(monday)), (range_to, iso(monday + timedelta(days=7)))],
        None,
    )
    q["list_all"] = ([], None)

    def need(*names: str) -> str | None:
        miss = [n for n in names if n not in prm]
        return f"not available (no {', '.join(miss)} parameter)" if miss else None

    q["list_all_far_page"] = ([("page", max(1, int(total_pages * 0.9)))], None)

    q["filter_agent"] = (
        ([("agent_id", agent)], None) if "agent_id" in prm else (None, need("agent_id"))
    )
    if "agent_ids" in prm and "agent_id" not in prm:
        q["filter_agent"] = ([("agent_ids", agent)], None)
    q["filter_channel"] = (
        ([("channel", "wechat")], None) if "channel" in prm else (None, need("channel"))
    )
    tag_param = _first(prm, "session_tag_ids", "session_tag_id", "tag_ids", "tag_id", "session_tag")
    q["filter_session_tag"] = (
        ([(tag_param, tag_id)], None)
        if tag_param and tag_id
        else (None, "not available (no session-tag parameter)")
    )
    name_param = _first(prm, "visitor_name", "customer_name", "name")
    q["filter_visitor_name_fuzzy"] = (
        ([(name_param, "王晓")], None)
        if name_param
        else (None, "not available (no visitor-name parameter)")
    )
    start, end = now - timedelta(days=14), now - timedelta(days=7)
    if "accepted_from" in prm and "accepted_to" in prm:
        accepted: list[tuple[str, Any]] | None = [
            ("accepted_from", iso(start)),
            ("accepted_to", iso(end)),
        ]
    elif "time_basis" in prm:
        pair = next(
            (
                (a, b)
                for a, b in (
                    ("time_from", "time_to"),
                    ("from", "to"),
                    ("start", "end"),
                    ("date_from", "date_to"),
                    ("ended_from", "ended_to"),
                )
                if a in prm and b in prm
            ),
            None,
        )
        accepted = (
            [("time_basis", "accepted"), (pair[0], iso(start)), (pair[1], iso(end))]
            if pair
            else None
        )
    else:
        accepted = None
    q["filter_accepted_range_7d"] = (
        (accepted, None) if accepted else (None, "not available (no accepted-time filter)")
    )
    q["filter_conversation_id"] = (
        ([("conversation_id", conv_id)], None)
        if "conversation_id" in prm
        else (None, need("conversation_id"))
    )
    combo: list[tuple[str, Any]] = []
    if "agent_id" in prm:
        combo.append(("agent_id", agent))
    if "channel" in prm:
        combo.append(("channel", "web"))
    if tag_param and tag_id:
        combo.append((tag_param, tag_id))
    if range_from in prm:
        combo.append((range_from, iso(now - timedelta(days=30))))
    q["filter_combination"] = (combo, None) if len(combo) >= 2 else (None, "not available")
    return q


def search_queries(
    openapi: dict[str, Any], now: datetime
) -> tuple[str, dict[str, tuple[list[tuple[str, Any]] | None, str | None]]]:
    """The search route and name -> (query parameters, or None with why not available)."""
    path = next(
        (p for p in ("/search", "/search/messages", "/history/search") if query_params(openapi, p)),
        "/search",
    )
    prm = query_params(openapi, path)
    words = {
        "zh_1char": "退",
        "zh_2char": "退款",
        "zh_3char": "优惠券",
        "en_word": "refund",
        "rare_en": RARE_EN,
        "rare_zh": RARE_ZH[:3],
    }
    qparam = _first(prm, "q", "keyword", "query") or "q"
    far = now - timedelta(days=180)
    pair = next(
        (
            (a, b)
            for a, b in (
                ("from", "to"),
                ("time_from", "time_to"),
                ("created_from", "created_to"),
                ("date_from", "date_to"),
                ("start", "end"),
                ("ended_from", "ended_to"),
                ("since", None),
            )
            if a in prm
        ),
        None,
    )
    out: dict[str, tuple[list[tuple[str, Any]] | None, str | None]] = {}
    for name, word in words.items():
        out[f"{name}_30d"] = ([(qparam, word)], None)
        if "days" in prm:
            out[f"{name}_180d"] = ([(qparam, word), ("days", 180)], None)
        elif pair is not None:
            extra = [(pair[0], iso(far))] + ([(pair[1], iso(now))] if pair[1] else [])
            out[f"{name}_180d"] = ([(qparam, word), *extra], None)
        elif prm:
            out[f"{name}_180d"] = (None, "not available (no time-range parameter)")
        else:
            out[f"{name}_180d"] = ([(qparam, word)], None)
    return path, out


async def run_export(
    client: Client, settings: Settings, seeded: Seeded, n: int, limit_s: float
) -> dict[str, Any]:
    """POST /exports (history kind, with messages) for the `n` newest conversations -> done."""
    since, count = await export_window(settings, seeded.big.tenant_id, n)
    # The history kind always writes the conversations' messages (its second sheet).
    params: dict[str, Any] = {"mode": "admin", "time_basis": "ended", "time_from": iso(since)}
    out: dict[str, Any] = {"conversations_in_filter": count, "params": params}
    http = client.http
    t0 = time.perf_counter()
    r = await http.post("/exports", json={"kind": "history", "params": params, "format": "xlsx"})
    if r.status_code == 404 and _route_missing(r):
        return out | {"available": False, "note": "not available (POST /exports answers 404)"}
    if r.status_code == 422 or (r.status_code == 400 and "params" in r.text):
        # The kind may not take every parameter: retry with the time filter only.
        params = {"ended_from": iso(since)}  # the first version's parameter name
        out["params"] = params
        r = await http.post("/exports", json={"kind": "history", "params": params})
    if r.status_code not in (200, 201, 202):
        return out | {"available": True, "error": f"HTTP {r.status_code}", "body": r.text[:400]}
    job = r.json()
    job_id = job.get("id") or job.get("job", {}).get("id")
    out["post_ms"] = round(1000 * (time.perf_counter() - t0), 1)
    state = job.get("state")
    polls = 0
    while state not in ("done", "failed", "expired"):
        if time.perf_counter() - t0 > limit_s:
            return out | {"available": True, "error": f"timeout after {limit_s} s", "job": job}
        await asyncio.sleep(0.25)
        polls += 1
        pr = await http.get(f"/exports/{job_id}")
        job = pr.json()
        state = job.get("state")
    done_s = time.perf_counter() - t0
    out |= {"state": state, "seconds_to_done": round(done_s, 2), "polls": polls}
    if state != "done":
        return out | {"available": True, "error": f"job {state}", "job": job}
    t1 = time.perf_counter()
    d = await http.get(f"/exports/{job_id}/download")
    out |= {
        "available": True,
        "download_status": d.status_code,
        "download_ms": round(1000 * (time.perf_counter() - t1), 1),
        "file_bytes": len(d.content),
        "file_mb": round(len(d.content) / 1_000_000, 2),
        "job": {k: v for k, v in job.items() if k not in ("params",)},
    }
    if d.status_code == 200:
        out["file_rows"] = await asyncio.to_thread(sheet_rows, d.content)
    log(
        f"export: {count} conversations done in {out['seconds_to_done']} s, "
        f"{out['file_bytes']} bytes"
    )
    return out


def sheet_rows(content: bytes) -> dict[str, int] | str:
    """Data rows per worksheet of the downloaded XLSX (checks that the messages are in it).

    Counts the `<row` elements of each sheet's XML, streamed from the zip: much faster than
    loading 300,000 rows with openpyxl."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as z:
            book = z.read("xl/workbook.xml").decode()
            names = re.findall(r'<sheet [^>]*name="([^"]*)"', book)
            out: dict[str, int] = {}
            for i, name in enumerate(names, start=1):
                rows, tail = 0, b""
                with z.open(f"xl/worksheets/sheet{i}.xml") as fh:
                    while chunk := fh.read(1 << 20):
                        data = tail + chunk
                        rows += data.count(b"<row ") + data.count(b"<row>")
                        tail = data[-5:]
                        # A match split across chunks would be counted in `data` only once:
                        # the overlap is too short to hold a whole "<row " twice.
                        rows -= tail.count(b"<row ") + tail.count(b"<row>")
                    rows += tail.count(b"<row ") + tail.count(b"<row>")
                out[html.unescape(name)] = max(0, rows - 1)  # minus the header row
            return out
    except (zipfile.BadZipFile, KeyError, OSError) as err:
        return f"unreadable as XLSX: {err}"


async def measure_all(
    args: argparse.Namespace, settings: Settings, seeded: Seeded, workdir: Path
) -> dict[str, Any]:
    engine = make_engine(settings)
    try:
        token = await admin_token(engine, seeded.big)
    finally:
        await engine.dispose()
    conv_id = await a_conversation(settings, seeded.big.tenant_id)
    server = Server(SimpleNamespace(settings=settings), workdir)  # type: ignore[arg-type]
    log("starting kefu serve")
    t0 = time.perf_counter()
    await server.start()
    start_s = round(time.perf_counter() - t0, 1)
    assert server.proc is not None
    client = Client(server.base, token, server.proc.pid)
    rq = {"requests": args.requests, "warmup": args.warmup, "budget_s": args.query_seconds}
    out: dict[str, Any] = {"server_start_seconds": start_s}
    try:
        openapi = (await client.http.get("/openapi.json")).json()
        out["baseline_before"] = await client.measure("baseline GET /me", "/me", None, **rq)
        first = await client.http.get("/history")
        total = _total(first) or 0
        page_size = 20
        with contextlib.suppress(ValueError, AttributeError):
            page_size = int(first.json().get("page_size") or 20)
        pages = max(1, -(-total // page_size))
        history: dict[str, Any] = {}
        for name, (params, why) in history_queries(openapi, seeded, conv_id, pages).items():
            if params is None:
                history[name] = {"available": False, "note": why}
                log(f"history {name}: {why}")
                continue
            history[name] = await client.measure(f"history {name}", "/history", params, **rq)
        out["history"] = history
        path, sq = search_queries(openapi, seeded.now)
        search: dict[str, Any] = {"path": path}
        for name, (params, why) in sq.items():
            if params is None:
                search[name] = {"available": False, "note": why}
                continue
            search[name] = await client.measure(f"search {name}", path, params, **rq)
            if search[name].get("available") is False:
                log(f"search: {search[name]['note']}; skipping the other queries")
                search = {"path": path, "available": False, "note": search[name]["note"]}
                break
        out["search"] = search
        if args.export_conversations > 0:
            out["export"] = await run_export(
                client, settings, seeded, args.export_conversations, args.export_timeout
            )
        out["baseline_after"] = await client.measure("baseline GET /me", "/me", None, **rq)
    finally:
        await client.close()
        server.stop()
        out["server_log"] = server.log_problems()
    return out


def add_ratios(result: dict[str, Any]) -> float | None:
    base = median_of(
        [
            result.get("baseline_before", {}).get("p50_ms"),
            result.get("baseline_after", {}).get("p50_ms"),
        ]
    )
    if not base:
        return None
    for section in ("history", "search"):
        for item in result.get(section, {}).values():
            if isinstance(item, dict) and isinstance(item.get("p50_ms"), (int, float)):
                item["p50_vs_baseline_p50"] = round(item["p50_ms"] / base, 1)
                item["p99_vs_baseline_p50"] = round(item["p99_ms"] / base, 1)
    return float(base)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    loadavg = list(os.getloadavg())
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="kefu-history-bench-"))
    try:
        settings, seeded, info = prepare(args, workdir)
        (workdir / "server").mkdir()
        result = asyncio.run(measure_all(args, settings, seeded, workdir / "server"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    base = add_ratios(result)
    report: dict[str, Any] = {
        "benchmark": "bench.history_search",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(loadavg),
        "params": {
            "database": "postgresql" if args.database_url else "sqlite",
            "requests_per_query": args.requests,
            "query_budget_seconds": args.query_seconds,
            "warmup_per_query": args.warmup,
            "statistic": "p50/p99 over sequential requests after warm-up",
            "quick": args.quick,
        },
        "dataset": {
            "spec": spec_of(args).key(),
            "reused": info.get("reused"),
            "migration_heads": info.get("migration_heads"),
            "migrate_seconds": info.get("migrate_seconds"),
            "search_index_seconds": info.get("search_index_seconds"),  # SQLite's search file
            "database_bytes": info.get("database_bytes"),
            "big_tenant": {
                k: v
                for k, v in seeded.big.__dict__.items()
                if k not in ("agents", "agent_names", "tags", "admin_id", "admin_role_id")
            }
            | {"agents": len(seeded.big.agents), "session_tags": len(seeded.big.tags)},
            "small_tenant": {
                "conversations": seeded.small.conversations,
                "messages": seeded.small.messages,
            },
        },
        "seeding": {
            "seconds": seeded.seconds,
            "seconds_by_table": seeded.seconds_by_table,
            "rows_by_table": seeded.rows_by_table,
            "measured_in_this_run": not info.get("reused"),
        },
        "baseline_p50_ms": base,
        **result,
    }
    report["params"]["wall_seconds"] = round(time.perf_counter() - started, 1)
    text_out = json.dumps(report, indent=2, ensure_ascii=False)
    print(text_out)
    if args.json_out:
        args.json_out.write_text(text_out + "\n")


if __name__ == "__main__":
    main()
