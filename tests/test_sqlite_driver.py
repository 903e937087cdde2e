"""The SQLite engine's connections (`kefu.core.sqlite_driver`): what SQLAlchemy reads of a
statement is right, and a statement is one hand-off to the connection's thread."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from kefu.core.config import Settings
from kefu.core.db import make_engine, make_sessionmaker


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_rows_counts_returning_and_errors(tmp_path: Path) -> None:
    async def scenario() -> None:
        engine = make_engine(Settings(data_dir=tmp_path))
        maker = make_sessionmaker(engine)
        try:
            async with maker() as s:
                await s.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
                got = await s.execute(text("INSERT INTO t (v) VALUES ('a') RETURNING id, v"))
                assert got.all() == [(1, "a")]
                many = await s.execute(
                    text("INSERT INTO t (v) VALUES (:v)"), [{"v": "b"}, {"v": "c"}, {"v": "d"}]
                )
                assert many.rowcount == 3
                inserted = await s.execute(text("INSERT INTO t (v) VALUES ('e')"))
                assert inserted.lastrowid == 5
                changed = await s.execute(text("UPDATE t SET v = v || '!' WHERE id > 2"))
                assert changed.rowcount == 3
                result = await s.execute(text("SELECT id, v FROM t ORDER BY id"))
                assert result.fetchone() == (1, "a")
                assert result.fetchmany(2) == [(2, "b"), (3, "c!")]
                assert result.all() == [(4, "d!"), (5, "e!")]
                assert (await s.execute(text("SELECT v FROM t WHERE id = 99"))).first() is None
                await s.commit()
            async with maker() as s:
                with pytest.raises(IntegrityError):
                    await s.execute(text("INSERT INTO t (v) VALUES ('a')"))
                await s.rollback()
                # The connection is still usable, and nothing of the failed statement stayed.
                assert await s.scalar(text("SELECT count(*) FROM t")) == 5
        finally:
            await engine.dispose()

    _run(scenario())


def test_a_statement_is_one_hand_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)

    async def scenario() -> None:
        engine = make_engine(Settings(data_dir=tmp_path))
        try:
            async with make_sessionmaker(engine)() as s:
                await s.execute(text("SELECT 1"))  # connect, BEGIN, pragmas: not counted
                calls.clear()
                assert (await s.execute(text("SELECT 1, 2"))).all() == [(1, 2)]
                assert len(calls) == 1, calls
                calls.clear()
                await s.execute(text("CREATE TABLE t (v TEXT)"))
                await s.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "x"}, {"v": "y"}])
                assert len(calls) == 2, calls
        finally:
            await engine.dispose()

    _run(scenario())


async def _with_table(settings: Settings, ddl: str) -> None:
    """A table made through the app's engine, which is then closed."""
    engine = make_engine(settings)
    async with engine.begin() as db:
        await db.execute(text(ddl))
    await engine.dispose()


def test_an_inline_unit_left_open_is_rolled_back_when_its_session_closes(tmp_path: Path) -> None:
    """The send batcher's engine skips the pool's ROLLBACK on check-in: a session that ends
    without commit must still leave nothing behind (and not keep the write lock)."""
    from kefu.chat.batcher import InlineSqlite
    from kefu.core.db import sqlite_write_intent

    async def scenario() -> None:
        settings = Settings(data_dir=tmp_path)
        await _with_table(settings, "CREATE TABLE t (v TEXT)")
        inline = InlineSqlite(settings)
        sqlite_write_intent.set(True)  # BEGIN IMMEDIATE, as the batcher's units
        try:
            async with inline.sessionmaker() as s:
                await s.execute(text("INSERT INTO t (v) VALUES ('left open')"))
            async with inline.sessionmaker() as s:  # the same pooled connection
                await s.execute(text("INSERT INTO t (v) VALUES ('committed')"))
                await s.commit()
            async with inline.sessionmaker() as s:
                rows = (await s.execute(text("SELECT v FROM t"))).scalars().all()
                await s.commit()
            assert rows == ["committed"]
        finally:
            await inline.aclose()

    _run(scenario())


def test_sqlite_call_runs_in_the_sessions_transaction(tmp_path: Path) -> None:
    """`sqlite_call` (the batch's hottest statements, on the sqlite3 connection itself) on both
    SQLite engines: the app's (a hand-off to the connection's thread) and the batcher's inline
    one. Its writes are the session's: a rollback takes them back, a commit keeps them."""
    import sqlite3

    from kefu.chat.batcher import InlineSqlite
    from kefu.core.db import sqlite_call, sqlite_write_intent

    def insert(conn: sqlite3.Connection, value: str) -> int:
        (rowid,) = conn.execute("INSERT INTO t (v) VALUES (?) RETURNING id", (value,)).fetchone()
        return int(rowid)

    async def scenario() -> None:
        settings = Settings(data_dir=tmp_path)
        engine = make_engine(settings)
        async with engine.begin() as db:
            await db.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        inline = InlineSqlite(settings)
        sqlite_write_intent.set(True)
        try:
            for maker in (make_sessionmaker(engine), inline.sessionmaker):
                async with maker() as s:
                    await s.execute(text("INSERT INTO t (v) VALUES ('before')"))
                    await sqlite_call(s, insert, "rolled back")
                    await s.rollback()
                async with maker() as s:
                    rowid = await sqlite_call(s, insert, "kept")
                    # The session's own statements see it: the same transaction.
                    assert await s.scalar(text("SELECT v FROM t WHERE id = :i"), {"i": rowid})
                    await s.commit()
            async with engine.connect() as db:
                rows = (await db.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all()
            assert rows == ["kept", "kept"]
            # Inline, a failing call is not run again as a busy statement would be: it may have
            # run some of its statements already.
            calls: list[int] = []

            def busy(_conn: sqlite3.Connection) -> None:
                calls.append(1)
                raise sqlite3.OperationalError("database is locked")

            async with inline.sessionmaker() as s:
                with pytest.raises(sqlite3.OperationalError):
                    await sqlite_call(s, busy)
            assert calls == [1]
        finally:
            await inline.aclose()
            await engine.dispose()

    _run(scenario())


def test_sqlite_time_is_the_text_sqlalchemy_stores(tmp_path: Path) -> None:
    """Statements run through `sqlite_call` store datetimes as `sqlite_time` makes them; SQLite
    compares them as text with those SQLAlchemy stored, so the two must be identical."""
    from datetime import UTC, datetime, timedelta, timezone

    from sqlalchemy import Column, Integer, MetaData, Table, insert, select

    from kefu.core.db import UTCDateTime, sqlite_time

    values = [
        datetime(2026, 11, 28, 0, 12, 8, 182794, tzinfo=UTC),
        datetime(2026, 11, 28, 0, 12, 8, tzinfo=UTC),  # no microseconds: still six digits
        datetime(2026, 11, 28, 8, 0, 0, 5, tzinfo=timezone(timedelta(hours=8))),  # to UTC
        datetime(2026, 1, 2, 3, 4, 5, 60),  # naive: UTC, as UTCDateTime takes it
    ]
    table = Table("times", MetaData(), Column("id", Integer, primary_key=True))
    table.append_column(Column("at", UTCDateTime))

    async def scenario() -> None:
        engine = make_engine(Settings(data_dir=tmp_path))
        try:
            async with engine.begin() as db:
                await db.run_sync(table.metadata.create_all)
                for i, value in enumerate(values):
                    await db.execute(insert(table).values(id=i, at=value))
                stored = (await db.execute(text("SELECT at FROM times ORDER BY id"))).all()
                assert [at for (at,) in stored] == [sqlite_time(v) for v in values]
                read = (await db.execute(select(table.c.at).order_by(table.c.id))).scalars()
                assert list(read) == [v.replace(tzinfo=v.tzinfo or UTC) for v in values]
        finally:
            await engine.dispose()

    _run(scenario())


def _wal_high_water(tmp_path: Path) -> int:
    """The WAL file's size after 3,000 back-to-back write transactions on the send batcher's
    connection, checkpointed in a thread every 50 commits and made to start over past 500
    frames (the file keeps the largest size it reached: SQLite writes it from the start again,
    it does not shrink it)."""
    from kefu.chat.batcher import InlineSqlite
    from kefu.core.db import WriteGate, sqlite_write_intent

    async def scenario() -> int:
        settings = Settings(data_dir=tmp_path)
        await _with_table(settings, "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
        gate = WriteGate(True)
        inline = InlineSqlite(settings, gate=gate)
        inline.CHECKPOINT_EVERY = 50
        inline.RESTART_FRAMES = 500
        sqlite_write_intent.set(True)
        try:
            for _ in range(3000):
                async with gate.hold(True), inline.sessionmaker() as s:
                    await s.execute(text("INSERT INTO t (v) VALUES (randomblob(3000))"))
                    await s.commit()
                inline.committed(1)
                await asyncio.sleep(0)
            return await asyncio.to_thread(os.path.getsize, inline.path + "-wal")
        finally:
            await inline.aclose()

    size: int = _run(scenario())
    return size


def test_the_wal_starts_over_while_sends_go_on(tmp_path: Path) -> None:
    """Without the gated tail of the checkpoints the WAL never got wholly copied while a
    writer kept committing, so it never started over and grew with every send (here to
    38 MB); with it, it stays near the restart size (500 frames, 2 MB; 3 MB seen)."""
    held = REGISTRY.get_sample_value("kefu_sqlite_checkpoint_hold_seconds_count") or 0
    size = _wal_high_water(tmp_path)
    assert size < 8_000_000, size
    # The tails held the write gate, and said how long.
    after = REGISTRY.get_sample_value("kefu_sqlite_checkpoint_hold_seconds_count") or 0
    assert after > held
