"""aiosqlite connections whose statements cost one hand-off to the connection thread, not four.

SQLAlchemy's aiosqlite adapter makes a cursor, executes, fetches and closes it, and aiosqlite
hands each of those calls to the connection's thread and back. A hand-off is a wake-up of two
threads through the event loop; on a small busy machine it is most of a short statement's cost
(a `SELECT 1` through the ORM session: 0.45 ms, of which about 0.26 ms are the four hand-offs).
`OneHopCursor` runs execute + fetch-all + close as one call on the thread and answers the
adapter's later fetch and close calls from what it kept, so a statement is one hand-off.

What the adapter reads of a cursor (`description`, `rowcount`, `lastrowid`) is captured on the
thread right after the statement, as the adapter would have read it. Rows are fetched whole, as
the adapter already does for every cursor but server-side ones (Kefu streams none).
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiosqlite

_Result = tuple[Any, list[Any], int, Any]
T = TypeVar("T")


class OneHopCursor:
    """The part of aiosqlite's Cursor that SQLAlchemy's adapter uses, one hand-off each."""

    arraysize = 1

    def __init__(self, conn: OneHopConnection) -> None:
        self._conn = conn
        self._rows: deque[Any] = deque()
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: Any = None

    async def __aenter__(self) -> OneHopCursor:
        return self  # no sqlite3 cursor yet: `_run` makes one on the connection's thread

    async def __aexit__(self, *exc: object) -> None:
        self._rows.clear()

    def _run(self, many: bool, sql: str, parameters: Any) -> _Result:
        """On the connection's thread: the whole statement, then what the adapter reads."""
        cur = self._conn._conn.cursor()
        try:
            if many:
                cur.executemany(sql, parameters)
            else:
                cur.execute(sql, parameters)
            description = cur.description
            rows = cur.fetchall() if description else []
            return description, rows, cur.rowcount, cur.lastrowid
        finally:
            cur.close()

    async def _hop(self, many: bool, sql: str, parameters: Any) -> OneHopCursor:
        self.description, rows, self.rowcount, self.lastrowid = await self._conn._execute(  # type: ignore[no-untyped-call]
            self._run, many, sql, parameters
        )
        self._rows = deque(rows)
        return self

    async def execute(self, sql: str, parameters: Any = None) -> OneHopCursor:
        return await self._hop(False, sql, () if parameters is None else parameters)

    async def executemany(self, sql: str, parameters: Any) -> OneHopCursor:
        return await self._hop(True, sql, parameters)

    async def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        n = min(size or self.arraysize, len(self._rows))
        return [self._rows.popleft() for _ in range(n)]

    async def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def close(self) -> None:
        self._rows.clear()  # the sqlite3 cursor was closed on the thread already


class OneHopConnection(aiosqlite.Connection):
    """An aiosqlite connection whose cursors are `OneHopCursor`s."""

    def cursor(self) -> OneHopCursor:  # type: ignore[override]
        return OneHopCursor(self)


async def call(conn: aiosqlite.Connection, fn: Callable[..., T], *args: Any) -> T:
    """`fn(sqlite3_connection, *args)` where `conn` runs its statements, between its other
    calls: one hand-off to its thread. The batcher's inline connection (`runs_inline`) runs it
    at once, and once: its busy-wait retries a single statement, while `fn` may have run some
    of its statements before one fails."""
    if getattr(conn, "runs_inline", False):
        return fn(conn._conn, *args)
    return await conn._execute(fn, conn._conn, *args)  # type: ignore[no-untyped-call,no-any-return]


def creator(database: str, **kwargs: Any) -> Callable[[], Awaitable[OneHopConnection]]:
    """`create_async_engine(..., async_creator=creator(path, timeout=...))`."""

    async def connect() -> OneHopConnection:
        conn = OneHopConnection(lambda: sqlite3.connect(database, **kwargs), 64)
        # As SQLAlchemy does for aiosqlite: a connection thread must not keep the process alive.
        conn._thread.daemon = True
        await conn
        return conn

    return connect
