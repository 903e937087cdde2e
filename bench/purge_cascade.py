"""What deleting conversations costs (the retention purge's cascades), SQLite; prints JSON.

    .venv/bin/python -m bench.purge_cascade [--conversations 2000] [--messages 100] [--runs 3]

Migrates a fresh SQLite database (the app's schema and triggers), then fills it without
foreign-key checks: `--conversations` ended conversations of one tenant, each with one agent
segment and `--messages` messages (visitors' and the agent's in turn, the agent's in the
segment) and one event per message, as the send path stores them. Each run then deletes
`--batch` conversations the way `kefu.history.retention.purge` does (one DELETE on
`conversations`, foreign keys on: the database removes the messages, events and segments and
clears the keys that point at them), and reports the milliseconds per purged conversation,
median over runs.

Baseline, in the same run: the same deletes with the indexes of migration 0029 dropped (what
every database had before it), on conversations not yet deleted. Its ratio to the current
schema is what those indexes buy. A benchmark, not a test: nothing fails on slow figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.dispatch import machine_info
from kefu.core.config import Settings
from kefu.core.migrate import upgrade_to_head
from kefu.models import load_all_models

# Migration 0029's indexes: dropped for the baseline.
INDEXES_0029 = [
    "ix_conversation_events_message_id",
    "ix_messages_segment_id",
    "ix_alert_records_conversation_id",
    "ix_blacklist_entries_conversation_id",
    "ix_leave_messages_conversation_id",
]
_AT = "2026-01-05 08:00:00.000000"
_CONVERSATION = (
    "INSERT INTO conversations (id, tenant_id, visitor_id, channel, state, agent_id, last_seq,"
    " agent_read_seq, created_at, ended_at, last_message_preview, entry, web_info)"
    f" VALUES (?, 1, ?, 'web', 'ended', 1, ?, 0, '{_AT}', '{_AT}', '', '{{}}', '{{}}')"
)
_SEGMENT = (
    "INSERT INTO conversation_segments (id, tenant_id, conversation_id, agent_id, start_reason,"
    f" started_at, agent_messages) VALUES (?, 1, ?, 1, 'dispatch', '{_AT}', ?)"
)
_MESSAGE = (
    "INSERT INTO messages (id, tenant_id, conversation_id, seq, sender_type, sender_id,"
    " sender_name, kind, body, whisper, content_digest, segment_id, created_at)"
    f" VALUES (?, 1, ?, ?, ?, 1, 'n', 'text', '{{\"text\": \"hello\"}}', 0, 'd', ?, '{_AT}')"
)
_EVENT = (
    "INSERT INTO conversation_events (tenant_id, conversation_id, seq, name, message_id, data,"
    f" staff_only, created_at) VALUES (1, ?, ?, 'message', ?, '{{}}', 0, '{_AT}')"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--conversations", type=int, default=2000, help="in the database")
    p.add_argument("--messages", type=int, default=100, help="per conversation")
    p.add_argument("--batch", type=int, default=2, help="conversations deleted per run")
    p.add_argument("--runs", type=int, default=3)
    return p.parse_args(argv)


def fill(conn: sqlite3.Connection, conversations: int, messages: int) -> None:
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("BEGIN")
    conn.executemany(_CONVERSATION, [(c, c, messages) for c in range(1, conversations + 1)])
    conn.executemany(_SEGMENT, [(c, c, messages // 2) for c in range(1, conversations + 1)])
    rows = []
    for c in range(1, conversations + 1):
        for seq in range(1, messages + 1):
            agent = seq % 2 == 0
            sender, segment = ("agent", c) if agent else ("visitor", None)
            rows.append(((c - 1) * messages + seq, c, seq, sender, segment))
    conn.executemany(_MESSAGE, rows)
    conn.executemany(_EVENT, [(c, seq, mid) for mid, c, seq, _, _ in rows])
    conn.execute("COMMIT")


def purge_ms(conn: sqlite3.Connection, ids: list[int]) -> float:
    """One purge's DELETE and commit, in milliseconds per conversation."""
    conn.execute("PRAGMA foreign_keys=ON")
    marks = ", ".join("?" * len(ids))
    start = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(f"DELETE FROM conversations WHERE id IN ({marks})", ids)
    conn.execute("COMMIT")
    return (time.perf_counter() - start) * 1000 / len(ids)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    load_all_models()
    loadavg = list(os.getloadavg())
    workdir = Path(tempfile.mkdtemp(prefix="kefu-bench-purge-"))
    try:
        settings = Settings(data_dir=workdir)
        upgrade_to_head(settings)
        conn = sqlite3.connect(workdir / "kefu.db", isolation_level=None)
        fill(conn, args.conversations, args.messages)
        ids = iter(range(1, args.conversations + 1))
        current, before = [], []
        for _ in range(args.runs):
            current.append(purge_ms(conn, [next(ids) for _ in range(args.batch)]))
        for name in INDEXES_0029:
            conn.execute(f"DROP INDEX {name}")
        for _ in range(args.runs):
            before.append(purge_ms(conn, [next(ids) for _ in range(args.batch)]))
        conn.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    now, then = statistics.median(current), statistics.median(before)
    return {
        "benchmark": "bench.purge_cascade",
        "machine": machine_info(loadavg),
        "params": vars(args) | {"events": args.conversations * args.messages},
        "ms_per_purged_conversation": round(now, 3),
        "runs_ms": [round(x, 3) for x in current],
        "baseline_without_0029_ms": round(then, 3),
        "baseline_runs_ms": [round(x, 3) for x in before],
        "baseline_ratio": round(then / now, 1) if now else None,
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2, ensure_ascii=False))
