"""Baseline: the bare relay persisting each message to SQLite (WAL) with group commit.

Sends waiting to be stored are collected and written by one writer thread as a batch: a batch
starts when the first message arrives, lingers `--linger-ms` for company (or until
`--max-batch` messages are waiting), is inserted with `executemany` in one `BEGIN IMMEDIATE`
transaction and committed; only then is each sender acknowledged. While a batch commits, the next
one collects. SQLite settings are Kefu's: `journal_mode=WAL`, `synchronous=NORMAL`.

Run: `python -m bench.relay_sqlite --port 8102 --db /tmp/relay.db`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.relay_bare import Relay, serve

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    sender_type TEXT NOT NULL,
    sender_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    client_msg_id TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (conversation_id, seq)
);
CREATE UNIQUE INDEX IF NOT EXISTS uq_messages_client_id
    ON messages (sender_type, sender_id, client_msg_id) WHERE client_msg_id IS NOT NULL;
"""

Row = tuple[int, int, int, str, int, str, str, str, str]


class GroupCommitStore:
    def __init__(self, path: Path, *, linger: float = 0.002, max_batch: int = 256) -> None:
        self.path = path
        self.linger = linger
        self.max_batch = max_batch
        self._pending: list[tuple[Row, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._conn: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.rows = 0
        self.commit_seconds = 0.0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._open)
        self._task = asyncio.create_task(self._writer())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=True)

    def stats(self) -> dict[str, Any]:
        return {
            "batches": self.batches,
            "rows": self.rows,
            "mean_batch": round(self.rows / self.batches, 2) if self.batches else 0,
            "commit_seconds": round(self.commit_seconds, 3),
        }

    async def persist(self, message: dict[str, Any]) -> None:
        row: Row = (
            message["id"],
            message["conversation_id"],
            message["seq"],
            message["sender"]["type"],
            message["sender"]["id"],
            message["kind"],
            json.dumps(message["body"]),
            message["client_msg_id"],
            message["created_at"],
        )
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((row, fut))
        self._wake.set()
        await fut

    def _open(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(SCHEMA)
        self._conn = conn

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _commit(self, rows: list[Row]) -> float:
        assert self._conn is not None
        started = time.perf_counter()
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.executemany(
                "INSERT INTO messages (id, conversation_id, seq, sender_type, sender_id, kind,"
                " body, client_msg_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        return time.perf_counter() - started

    async def _writer(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            if self.linger > 0 and len(self._pending) < self.max_batch:
                await asyncio.sleep(self.linger)
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            if not self._pending:
                self._wake.clear()
            if not batch:
                continue
            try:
                spent = await loop.run_in_executor(
                    self._executor, self._commit, [row for row, _ in batch]
                )
            except Exception as exc:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            self.batches += 1
            self.rows += len(batch)
            self.commit_seconds += spent
            for _, fut in batch:
                if not fut.done():
                    fut.set_result(None)


def main() -> None:
    parser = argparse.ArgumentParser(description="SQLite group-commit relay (benchmark baseline).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8102)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--linger-ms", type=float, default=2.0)
    parser.add_argument("--max-batch", type=int, default=256)
    args = parser.parse_args()
    store = GroupCommitStore(args.db, linger=args.linger_ms / 1000, max_batch=args.max_batch)
    serve(Relay(store), args.host, args.port)


if __name__ == "__main__":
    main()
