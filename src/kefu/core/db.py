"""Database engine, sessions and the declarative base shared by every domain."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, event, inspect, make_url
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import await_

from kefu.core import sqlite_driver
from kefu.core.config import Settings
from kefu.search import grams

T = TypeVar("T")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets BIGINT identities.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def sqlite_time(value: datetime) -> str:
    """A datetime as `UTCDateTime` stores it on SQLite (SQLAlchemy's DATETIME text, in UTC),
    for statements run on the sqlite3 connection itself (`sqlite_call`). Stored values are
    compared as text, so the form must be exactly SQLAlchemy's: microseconds always shown."""
    if value.tzinfo is not None:  # naive values are UTC already, as `UTCDateTime` takes them
        value = value.astimezone(UTC).replace(tzinfo=None)
    text = value.isoformat(" ")
    return text if value.microsecond else text + ".000000"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class IdMixin:
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)


# SQLite: a transaction that reads and then writes fails at once (SQLITE_BUSY_SNAPSHOT) when
# another writer committed in between. Write units of work therefore begin IMMEDIATE, taking the
# write lock up front and queueing behind other writers; read-only ones begin DEFERRED.
sqlite_write_intent: ContextVar[bool] = ContextVar("sqlite_write_intent", default=True)


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if sqlite_write_intent.get() else "BEGIN")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself, instead of pysqlite's implicit one.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()
    sqlite_functions(dbapi_conn)


def sqlite_functions(dbapi_conn: Any) -> None:
    """The SQL functions Kefu's SQLite triggers call, on a new connection (SQLAlchemy's
    aiosqlite adapter, or a plain sqlite3 connection)."""
    dbapi_conn.create_function(grams.NAME, 1, grams.sqlite_grams, deterministic=True)


def _sqlite_attach(files: dict[str, Path]) -> Callable[[Any, Any], None]:
    def attach(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        for name, path in files.items():
            cur.execute(f"ATTACH DATABASE ? AS {name}", (str(path),))
        cur.close()

    return attach


def _sqlite_begin_deferred(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN")


# PostgreSQL: whether a connection taken from the pool is tried first. A connection PostgreSQL
# dropped (a restart, a failover) would otherwise fail the request that takes it. SQLAlchemy's
# own pre-ping costs three round trips on asyncpg (BEGIN, an empty query, ROLLBACK); this one
# costs one. The socket sends' batcher turns it off: a batch that meets a dropped connection is
# written again at once on a new one (SQLAlchemy renews the whole pool on a disconnect).
ping_on_checkout: ContextVar[bool] = ContextVar("ping_on_checkout", default=True)


def _pg_ping(_dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    if not ping_on_checkout.get():
        return
    try:
        await_(record.driver_connection.fetchrow(";"))
    except Exception as err:
        # The pool drops this connection and takes (or opens) another.
        raise DisconnectionError(f"pooled connection is gone: {err!r}") from err


def make_engine(
    settings: Settings, *, attach: dict[str, Path] | None = None, read_only: bool = False
) -> AsyncEngine:
    """Create the engine; SQLite gets WAL and a busy timeout so writers queue instead of failing.

    SQLite only: `attach` names other database files every connection attaches; `read_only`
    engines begin every transaction deferred (BEGIN IMMEDIATE would take the write lock of
    every attached file)."""
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        # The URL's connect arguments, as the aiosqlite dialect reads them, for our connections
        # (`sqlite_driver`: one thread hand-off per statement).
        args, kwargs = SQLiteDialect_aiosqlite().create_connect_args(make_url(url))
        kwargs["timeout"] = 10
        engine = create_async_engine(url, async_creator=sqlite_driver.creator(*args, **kwargs))
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        if attach:
            event.listen(engine.sync_engine, "connect", _sqlite_attach(attach))
        begin = _sqlite_begin_deferred if read_only else _sqlite_begin
        event.listen(engine.sync_engine, "begin", begin)
        return engine
    engine = create_async_engine(url, pool_size=10, max_overflow=20)
    event.listen(engine.sync_engine, "checkout", _pg_ping)
    return engine


class WriteGate:
    """Queues this process's SQLite write units in memory, one at a time.

    SQLite has one writer; without this, concurrent writers poll the lock with growing sleeps
    (busy_timeout), which turns a short queue into seconds of latency. PostgreSQL locks rows
    itself, so the gate is open there.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def hold(self, write: bool = True) -> AsyncIterator[None]:
        if not (self.enabled and write):
            yield
            return
        async with self._lock:
            yield


async def sqlite_call(db: AsyncSession, fn: Callable[..., T], *args: Any) -> T:
    """`fn(sqlite3_connection, *args)` in the session's transaction (SQLite only).

    For the hottest statements (a batch of chat sends): SQLAlchemy's execution, parameter and
    result processing cost several times what SQLite spends on such short statements. `fn`
    gets plain values: datetimes as `sqlite_time`, JSON as text, booleans as 0/1."""
    conn = await db.connection()
    driver = (await conn.get_raw_connection()).driver_connection
    if driver is None:
        raise RuntimeError("the session's connection is closed")
    return await sqlite_driver.call(driver, fn, *args)


SEARCH_READER = "search_reader"  # Session.info: the sessionmaker search statements run on


def make_sessionmaker(
    engine: AsyncEngine,
    settings: Settings | None = None,
    *,
    search_reader: async_sessionmaker[AsyncSession] | None = None,
) -> async_sessionmaker[AsyncSession]:
    """Sessions carry the settings in `info`, so timer jobs and listeners can reach them, and
    on SQLite the sessionmaker whose connections see the search index (kefu.search.reader)."""
    info: dict[str, Any] = {"settings": settings}
    if search_reader is not None:
        info[SEARCH_READER] = search_reader
    return async_sessionmaker(engine, expire_on_commit=False, info=info)


def settings_of(db: AsyncSession) -> Settings:
    settings = db.info.get("settings")
    if settings is None:
        raise RuntimeError("session made without settings (make_sessionmaker(engine, settings))")
    return settings  # type: ignore[no-any-return]


_KEPT = "kept_rows"  # db.info: (model, primary key) → row


def still_current(row: Any) -> bool:
    """A row kept across a session's statements is still the stored one: not rolled back
    (expired) nor deleted."""
    state = inspect(row)
    return bool(not state.expired_attributes and state.persistent)


async def kept_get(db: AsyncSession, model: type[T], pk: Any) -> T | None:
    """`db.get`, but the row stays in the session for the session's life.

    The identity map holds rows weakly: a row every message looks up (its widget) but nothing
    keeps is read again by each message of a batch. Kept, the later lookups cost no SQL."""
    row = await db.get(model, pk)
    if row is not None:
        db.info.setdefault(_KEPT, {})[(model, pk)] = row
    return row


async def session_scope(
    maker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One transaction per unit of work; the caller's scope commits or rolls back."""
    async with maker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


async def run_in_own_transaction(
    maker: async_sessionmaker[AsyncSession],
    fn: Any,
) -> Any:
    """Run `await fn(session)` in a separate, immediately committed write transaction.

    For bookkeeping that must persist even when the request itself fails or only reads
    (failed sign-in counters, session last-seen times).
    """
    token = sqlite_write_intent.set(True)
    try:
        async with maker() as session:
            result = await fn(session)
            await session.commit()
            return result
    finally:
        sqlite_write_intent.reset(token)
