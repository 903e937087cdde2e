"""What SQLite's full-text search index costs per stored chat message; prints JSON.

    .venv/bin/python -m bench.search_index_cost [--messages 6000] [--batch 8] [--runs 3]

Migrates a fresh SQLite database (the app's schema, triggers and FTS tables), then for each
variant copies it, changes only the message-indexing triggers, and inserts `--messages` chat
messages (mostly Chinese, 8–60 characters) in transactions of `--batch`, as the send batcher
does, on one plain sqlite3 connection with `kefu_grams` registered. It reports SQLite's CPU per
message (median of runs) and each variant's ratio to `no_index` measured in the same run:

* `current`: both full-text tables (trigrams for 3+ character queries, grams for 1–2);
* `trigrams_only`, `grams_only`: one of the two;
* `trigrams_detail_none`: the trigram table without positions;
* `change_log`: the insert trigger replaced by a one-row log (what an indexer working from a
  separate database file would leave in the send's transaction);
* `no_index`: no insert trigger (the baseline).

A benchmark, not a test: nothing fails on slow figures. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.dispatch import machine_info
from kefu.core.config import Settings
from kefu.core.migrate import upgrade_to_head
from kefu.models import load_all_models
from kefu.search import grams

_LOG = "CREATE TABLE search_log (id INTEGER PRIMARY KEY, message_id INTEGER NOT NULL)"
VARIANTS: dict[str, list[str]] = {
    "current": [],
    "trigrams_only": [
        "DROP TRIGGER message_search_ai",
        "CREATE TRIGGER message_search_ai AFTER INSERT ON message_search BEGIN"
        " INSERT INTO message_fts (rowid, doc) VALUES (new.message_id, new.doc); END",
    ],
    "grams_only": [
        "DROP TRIGGER message_search_ai",
        "CREATE TRIGGER message_search_ai AFTER INSERT ON message_search BEGIN"
        " INSERT INTO message_grams (rowid, grams)"
        f" VALUES (new.message_id, {grams.NAME}(new.doc)); END",
    ],
    "trigrams_detail_none": [
        "DROP TABLE message_fts",
        "CREATE VIRTUAL TABLE message_fts USING fts5(doc, content='message_search',"
        " content_rowid='message_id', tokenize='trigram case_sensitive 1', detail=none)",
    ],
    "change_log": [
        "DROP TRIGGER message_fts_ai",
        _LOG,
        "CREATE TRIGGER search_log_ai AFTER INSERT ON messages BEGIN"
        " INSERT INTO search_log (message_id) VALUES (new.id); END",
    ],
    "no_index": ["DROP TRIGGER message_fts_ai"],
}
_INSERT = (
    "INSERT INTO messages (tenant_id, conversation_id, seq, sender_type, sender_id, sender_name,"
    " kind, body, whisper, client_msg_id, content_digest, created_at)"
    " VALUES (1, 1, ?, 'visitor', 1, 'v', 'text', ?, 0, ?, 'd', '2026-11-27 08:00:00.000000')"
)
_CHARS = "我们的订单退款申请处理物流查询客服您好请问有什么可以帮您快递到了吗谢谢"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--messages", type=int, default=6000)
    p.add_argument("--batch", type=int, default=8, help="messages per transaction")
    p.add_argument("--runs", type=int, default=3)
    return p.parse_args(argv)


def bodies(n: int) -> list[str]:
    rng = random.Random(1)

    def text() -> str:
        return "".join(
            rng.choice(_CHARS) if rng.random() < 0.7 else rng.choice("abcdefghij klmn")
            for _ in range(rng.randint(8, 60))
        )

    return [json.dumps({"text": text()}, ensure_ascii=False) for _ in range(n)]


def cpu_ms_per_message(
    template: Path, work: Path, variant: str, docs: list[str], batch: int
) -> float:
    db_path = work / f"{variant}-{time.monotonic_ns()}.db"
    shutil.copy(template, db_path)
    db = sqlite3.connect(db_path, isolation_level=None)
    try:
        db.create_function(grams.NAME, 1, grams.sqlite_grams, deterministic=True)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        for statement in VARIANTS[variant]:
            db.execute(statement)
        started = time.process_time()
        for first in range(0, len(docs), batch):
            rows = [(i + 1, docs[i], f"c{i}") for i in range(first, min(first + batch, len(docs)))]
            db.execute("BEGIN IMMEDIATE")
            db.executemany(_INSERT, rows)
            db.execute("COMMIT")
        return (time.process_time() - started) * 1000 / len(docs)
    finally:
        db.close()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    loadavg = list(os.getloadavg())
    load_all_models()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        upgrade_to_head(Settings(data_dir=work, database_url=""))
        template = work / "kefu.db"
        docs = bodies(args.messages)
        runs: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for _ in range(args.runs):  # variants interleaved, so drift hits them alike
            for variant in VARIANTS:
                runs[variant].append(cpu_ms_per_message(template, work, variant, docs, args.batch))
    median = {v: statistics.median(r) for v, r in runs.items()}
    base = median["no_index"]
    json.dump(
        {
            "benchmark": "bench.search_index_cost",
            "machine": machine_info(loadavg),
            "params": vars(args),
            "sqlite": sqlite3.sqlite_version,
            "cpu_ms_per_message": {v: round(m, 4) for v, m in median.items()},
            "runs_cpu_ms_per_message": {v: [round(x, 4) for x in r] for v, r in runs.items()},
            "ratio_to_no_index": {v: round(m / base, 2) for v, m in median.items()},
        },
        sys.stdout,
        indent=2,
    )
    print()


if __name__ == "__main__":
    main()
