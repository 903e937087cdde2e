"""SQLite: the search index lives in a database file of its own, written by a background indexer.

Why: indexing a chat message in its two FTS5 tables cost about 0.1 ms of SQLite CPU inside
the send's write transaction, on the event loop's thread (bench.search_index_cost: 8.7 times
the cost of storing the message without an index). Every send paid it while holding the only
write lock. Now the send's transaction only appends a row to a change log, and the index is
written beside it, by another process, into another file with its own write lock.

- Main file (`kefu.db`): `search_log (id, message_id)`, one row per insert, update or delete of
  a message that may change what the index holds, appended by triggers on `messages`
  (migration 0027). Ids only grow: the cleanup always keeps the newest row.
- Search file (`kefu-search.db`, beside it): `message_search`, `message_fts`, `message_grams`
  and `search_id_days` as kefu.search.fts describes them, and `search_state (mark, filled)`:
  every log row up to `mark` is in the index. The file is derived data: when it is missing,
  of another schema version, or from another main file, it is made anew and filled by
  queueing every indexed message.
- Indexer (`SearchIndexer`, run in a process of its own by `kefu.search.indexer_task`): reads
  the log rows past the mark and their messages' documents from the main file, writes the
  index and the new mark in one transaction of the search file (a connection to the main file
  with the search file attached, in a deferred transaction, so only the search file's write
  lock is taken; BEGIN IMMEDIATE would lock every attached file). Now and then it deletes the
  log rows below the mark, under the server's write gate.
- Readers (kefu.search.fts.hits) run on connections with the search file attached: the index's
  hits, except messages logged past the mark, plus those messages matched on their current
  documents. A statement opens the main file's snapshot before the attached file's (SQLite
  begins a statement's read transactions in database order), so a log row the cleanup has
  deleted is always covered by the index the same statement reads: answers stay exact.
"""

# The SQL below is assembled from constants only (no user input reaches it).
# ruff: noqa: S608

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from kefu.core.config import Settings
from kefu.core.db import make_engine, sqlite_functions
from kefu.search import fts

log = logging.getLogger("kefu.search")

SCHEMA_VERSION = 1  # PRAGMA user_version of the search file
SCHEMA = "search"  # the search file's name where it is attached
BATCH = 2000  # log rows per indexing transaction
CHECKPOINT_ROWS = 5000  # indexed log rows between checkpoints of the search file's WAL
REMADE = "search: %s does not match %s; indexing anew"

_INDEXED = fts.indexed_sql("m", "sqlite")
_IDS = "(SELECT value FROM json_each(?1))"

# Main file (migration 0027): which messages changed.
LOG_DDL = [
    "CREATE TABLE search_log (id INTEGER PRIMARY KEY, message_id INTEGER NOT NULL)",
    f"CREATE TRIGGER search_log_ai AFTER INSERT ON messages WHEN {fts.indexed_sql('new', 'sqlite')}"
    " BEGIN INSERT INTO search_log (message_id) VALUES (new.id); END",
    "CREATE TRIGGER search_log_au AFTER UPDATE OF kind, body, whisper, sender_type, created_at"
    f" ON messages WHEN {fts.indexed_sql('old', 'sqlite')} OR {fts.indexed_sql('new', 'sqlite')}"
    " BEGIN INSERT INTO search_log (message_id) VALUES (new.id); END",
    f"CREATE TRIGGER search_log_ad AFTER DELETE ON messages WHEN {fts.indexed_sql('old', 'sqlite')}"
    " BEGIN INSERT INTO search_log (message_id) VALUES (old.id); END",
]
LOG_DROP = [
    "DROP TRIGGER IF EXISTS search_log_ai",
    "DROP TRIGGER IF EXISTS search_log_au",
    "DROP TRIGGER IF EXISTS search_log_ad",
    "DROP TABLE IF EXISTS search_log",
]

# Search file, on a connection where it is the main database.
_FILE_DDL = [
    *fts.SQLITE_INDEX_TABLES,
    *fts.sqlite_gram_triggers(fts.sqlite_udf_grams),
    fts.SQLITE_ID_DAYS_TABLE,
    "CREATE TABLE search_state (one INTEGER PRIMARY KEY CHECK (one = 1),"
    " mark INTEGER NOT NULL, filled INTEGER NOT NULL)",
    "INSERT INTO search_state (one, mark, filled) VALUES (1, 0, 0)",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
]
_FILE_DROP = [
    f"DROP TABLE IF EXISTS {name}"
    for name in ("message_fts", "message_grams", "message_search", "search_id_days", "search_state")
]

# On the indexer's connection (search file attached as `search`).
_UNINDEX = f"DELETE FROM search.message_search WHERE message_id IN {_IDS}"
_INDEX = (
    "INSERT INTO search.message_search (message_id, doc)"
    f" SELECT m.id, {fts.doc_sql('sqlite', 'm')} FROM main.messages m"
    f" WHERE m.id IN {_IDS} AND {_INDEXED}"
)
# Bounds only grow. The outer SELECT's WHERE keeps the upsert's ON from being parsed as a join.
_ID_DAYS = (
    "INSERT INTO search.search_id_days (day, min_id, max_id) SELECT * FROM"
    " (SELECT coalesce(substr(m.created_at, 1, 10), ''), min(m.id), max(m.id)"
    f" FROM main.messages m WHERE m.id IN {_IDS} AND {_INDEXED} GROUP BY 1) WHERE true"
    " ON CONFLICT (day) DO UPDATE"
    " SET min_id = min(min_id, excluded.min_id), max_id = max(max_id, excluded.max_id)"
    " WHERE excluded.min_id < min_id OR excluded.max_id > max_id"
)
_QUEUE_ALL = (
    "INSERT INTO main.search_log (message_id)"
    f" SELECT m.id FROM main.messages m WHERE {_INDEXED} ORDER BY m.id"
)


def main_path(settings: Settings) -> Path:
    return Path(str(make_url(settings.resolved_database_url).database))


def search_path_of(main: Path) -> Path:
    """`kefu.db` → `kefu-search.db`, in the same directory."""
    return main.with_name(f"{main.stem}-search{main.suffix or '.db'}")


def search_path(settings: Settings) -> Path:
    return search_path_of(main_path(settings))


def remove_search_file(main: Path) -> None:
    """Delete the search file and its WAL (migrations: the index is made anew at start)."""
    path = search_path_of(main)
    for name in (path.name, path.name + "-wal", path.name + "-shm"):
        with contextlib.suppress(FileNotFoundError):
            (path.parent / name).unlink()


def reader_engine(settings: Settings) -> AsyncEngine:
    """An engine on the main file whose connections have the search file attached, for the
    statements that read the index (they begin deferred: readers)."""
    return make_engine(settings, attach={SCHEMA: search_path(settings)}, read_only=True)


def _open_file(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=10)
    conn.execute("PRAGMA journal_mode=WAL")
    return conn


def prepare_file(path: Path, *, reset: bool = False) -> None:
    """The search file with this version's tables: made (or made anew) when missing, of
    another version, or `reset`; otherwise left as it is."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = _open_file(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if reset or version != SCHEMA_VERSION:
                for statement in [*_FILE_DROP, *_FILE_DDL]:
                    conn.execute(statement)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()


class SearchIndexer:
    """Writes the search file from the main file's log; one call at a time (any thread)."""

    def __init__(self, main: Path) -> None:
        self.main = main
        self.path = search_path_of(main)
        self._conn: sqlite3.Connection | None = None
        self.mark = 0
        self.behind = 0  # log rows past the mark at the last pass
        self.first = 0  # the log's first row when `needs_fill` looked
        self._unchecked = 0  # log rows indexed since the search file's last checkpoint
        self.remade = False  # `needs_fill` found a file that did not fit, and made it anew

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            prepare_file(self.path)
            conn = sqlite3.connect(
                self.main, isolation_level=None, timeout=10, check_same_thread=False
            )
            sqlite_functions(conn)  # the search file's triggers call kefu_grams
            # No automatic checkpoints on this connection: the cleanup commits to the main
            # file under the write gate, which a checkpoint of the main file's WAL would hold
            # for its whole length. The search file is checkpointed after passes instead.
            conn.execute("PRAGMA wal_autocheckpoint=0")
            conn.execute("ATTACH DATABASE ? AS search", (str(self.path),))
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _read(self, sql: str, *args: Any) -> Any:
        return self._connection().execute(sql, args).fetchone()

    def needs_fill(self) -> bool:
        """Whether every indexed message must be queued (a new search file). A file whose mark
        does not fit the main file's log (another main file, or one restored from a backup)
        is made anew first."""
        conn = self._connection()
        conn.execute("BEGIN")
        try:
            mark, filled = self._read("SELECT mark, filled FROM search.search_state")
            low, high = self._read("SELECT min(id), max(id) FROM main.search_log")
        finally:
            conn.execute("COMMIT")
        self.first = low or 0
        # The log's ids run without gaps from `low` (the cleanup deletes below the mark only)
        # and never go back below the mark (the row at the mark is kept).
        fits = mark == 0 if low is None else low <= mark + 1 and high >= mark
        if (mark > 0 or filled) and not fits:
            self.remade = True  # the caller logs it: the indexer's process has no log set-up
            self.close()
            prepare_file(self.path, reset=True)
            return True
        self.mark = mark
        return not filled

    def fill(self) -> None:
        """Queue every indexed message (a main-file write: the caller holds the write gate),
        then note the file as filled. Two transactions: a crash between them queues again,
        which only indexes the same documents twice."""
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(_QUEUE_ALL)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("UPDATE search.search_state SET filled = 1")

    def run_pass(self, limit: int = BATCH) -> int:
        """Index the next `limit` log rows at most; returns how many there were."""
        conn = self._connection()
        conn.execute("BEGIN")
        try:
            (mark,) = self._read("SELECT mark FROM search.search_state")
            rows = conn.execute(
                "SELECT id, message_id FROM main.search_log WHERE id > ? ORDER BY id LIMIT ?",
                (mark, limit),
            ).fetchall()
            (last,) = self._read("SELECT max(id) FROM main.search_log")
            if rows:
                ids = json.dumps(sorted({message_id for _, message_id in rows}))
                for statement in (_UNINDEX, _INDEX, _ID_DAYS):
                    conn.execute(statement, (ids,))
                mark = rows[-1][0]
                conn.execute("UPDATE search.search_state SET mark = ?", (mark,))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self.mark = mark
        self.behind = max(0, (last or 0) - mark)
        self._unchecked += len(rows)
        if self._unchecked >= CHECKPOINT_ROWS:
            self._unchecked = 0
            conn.execute("PRAGMA search.wal_checkpoint(PASSIVE)")
        return len(rows)

    def run_until_done(self) -> int:
        total = 0
        while n := self.run_pass():
            total += n
        return total

    def clean(self, below: int | None = None) -> int:
        """Delete the log rows below `below` (at most the mark; default the mark): a main-file
        write, the caller holds the write gate. The row at the mark stays, so that new rows
        never get ids below it."""
        upto = self.mark if below is None else min(below, self.mark)
        sql = "DELETE FROM main.search_log WHERE id < ?"
        return self._connection().execute(sql, (upto,)).rowcount

    def build(self) -> None:
        """Everything at once, for tools and benchmarks: prepare, fill if needed, index."""
        if self.needs_fill():
            if self.remade:
                log.warning(REMADE, self.path, self.main)
            self.fill()
        self.run_until_done()
        self.clean()


def build_index(settings: Settings) -> None:
    """The search file made current at once (tools, benchmarks and test templates)."""
    indexer = SearchIndexer(main_path(settings))
    try:
        indexer.build()
    finally:
        indexer.close()
