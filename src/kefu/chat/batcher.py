"""Group commit for socket sends: concurrent sends share one write transaction.

A send submitted while another batch is being written waits for the writer, which then takes
every pending send (at most `MAX_BATCH`) into ONE transaction and commits once. Only after that
commit is each sender acknowledged and are its events published, in commit order (an ordered
delivery chain), so persist-before-ack and per-conversation seq order hold as with one
transaction per send.

Failure isolation: the batch first runs without savepoints ("fast": a send may also trust the
unique index instead of looking up its `client_msg_id`). If any send fails, or the commit does,
the whole transaction rolls back and the batch runs again, each send in its own SAVEPOINT and
with the full idempotency lookup: a bad send rolls back alone and gets its nack; the others
commit. A single send runs again in a plain transaction.

SQLite: the batch holds the process's write gate (one writer). PostgreSQL: row locks order the
sends across processes and nodes; batching saves round trips and commits (WAL flushes), and up
to `PG_WRITERS` batches are written at once. A batch spends most of its time waiting for the
database's answers, so with one writer the process sat idle while sends queued behind it. Two
batches in flight never share a conversation (`order_key`): a send whose conversation is being
written waits for the next batch, so one conversation's sends still commit, and are delivered,
in the order they came. Each batch is delivered after the ones that committed before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import aiosqlite
from fastapi import FastAPI
from sqlalchemy import event, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from kefu.conversations.hooks import begin_batch, run_deferred
from kefu.core.db import (
    WriteGate,
    _sqlite_begin,
    _sqlite_pragmas,
    make_sessionmaker,
    ping_on_checkout,
    sqlite_write_intent,
)
from kefu.events.bus import publish_all
from kefu.observability import metrics

log = logging.getLogger("kefu.realtime")

MAX_BATCH = 128
PG_WRITERS = 2  # batches in flight at once on PostgreSQL (SQLite has one writer)
DELIVERY_WAIT = 0.1  # seconds the next batch waits for the previous one's delivery at most
LOCK_RETRIES = 3
BUSY_WAIT_SECONDS = 10.0  # as the other connections' busy_timeout

# fn(db, fast): fast = the batch runs without savepoints; the send may rely on unique indexes
# (a duplicate then fails the batch, which is run again with fast=False).
BatchFn = Callable[[AsyncSession, bool], Awaitable[Any]]
Deliver = Callable[[Any], Awaitable[Any]]
# bulk(db, items): in a fast batch, consecutive jobs with the same bulk function are written
# together. It returns, per item, (result, number of events it emitted, in item order) or None
# for an item it leaves to the job's own `fn` (run after the ones it took).
BulkFn = Callable[[AsyncSession, list[Any]], Awaitable[list[tuple[Any, int] | None]]]


@dataclass(eq=False)
class _Job:
    fn: BatchFn
    deliver: Deliver | None
    future: asyncio.Future[Any]
    order_key: int | None = None
    bulk: tuple[BulkFn, Any] | None = None
    result: Any = None
    error: BaseException | None = None
    events: list[Any] = field(default_factory=list)


class _Failed(Exception):
    """A send of a fast batch failed: the batch runs again with savepoints."""


@dataclass
class BatchStats:
    batches: int = 0
    sends: int = 0
    retried_batches: int = 0
    largest: int = 0
    lock_retries: int = 0  # sends run again after a deadlock / serialization failure (PostgreSQL)


class SendBatcher:
    def __init__(self, app: FastAPI, *, max_batch: int = MAX_BATCH) -> None:
        self._app = app
        self.max_batch = max_batch
        self._pending: deque[_Job] = deque()
        self._writers: set[asyncio.Task[None]] = set()
        # Conversations of the batches being written (None: a send with no conversation yet).
        self._writing: set[int | None] = set()
        self._in_flight = 0  # batches being written
        self._last_delivery: asyncio.Task[None] | None = None
        self.stats = BatchStats()
        self._inline: InlineSqlite | None = None
        settings = getattr(app.state, "settings", None)
        if settings is not None and settings.is_sqlite:
            self._inline = InlineSqlite(settings, gate=getattr(app.state, "write_gate", None))
        # PostgreSQL: batches of several processes lock rows concurrently; taking each batch's
        # conversations in ascending order makes lock cycles between batches unlikely.
        self._ordered = settings is not None and not settings.is_sqlite
        self._depth = PG_WRITERS if self._ordered else 1

    @property
    def inline(self) -> InlineSqlite | None:
        """SQLite: the batcher's inline connection, which other write units holding the write
        gate may use too (`run_unit(inline=True)`); None on PostgreSQL."""
        return self._inline

    def _maker(self) -> AsyncSession:
        if self._inline is not None:
            return self._inline.sessionmaker()
        session: AsyncSession = self._app.state.sessionmaker()
        return session

    async def aclose(self, wait_seconds: float = 10.0) -> None:
        """Finish what was submitted (written, acked, published), then close the batcher's own
        SQLite connection (app shutdown)."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(wait_seconds):
                while self._writers:
                    await asyncio.wait(set(self._writers))
                if self._last_delivery is not None:
                    await asyncio.wait({self._last_delivery})
        if self._inline is not None:
            await self._inline.aclose()

    async def run(
        self,
        fn: BatchFn,
        *,
        deliver: Deliver | None = None,
        order_key: int | None = None,
        bulk: tuple[BulkFn, Any] | None = None,
    ) -> Any:
        """Run `fn` in the next batch; after its commit `deliver(result)` (the ack), then its
        events. Returns the result, or raises what `fn` (or the commit) raised.

        `order_key`: the conversation the send (probably) writes; on PostgreSQL a batch runs
        its sends in ascending key order (stable: one conversation's sends keep their order).
        `bulk`: (function, item) that may do the job set-wise with its neighbours (see
        `BulkFn`); it must give the same result and events as `fn(db, True)`."""
        job = _Job(
            fn=fn,
            deliver=deliver,
            future=asyncio.get_running_loop().create_future(),
            order_key=order_key,
            bulk=bulk,
        )
        self._pending.append(job)
        self._start_writers()
        return await job.future

    def _start_writers(self) -> None:
        """A writer when there is none; another one (up to the depth) only while every writer
        is writing a batch and the next send is free to go beside them."""
        while self._pending and len(self._writers) < self._depth:
            if self._writers and (
                self._in_flight < len(self._writers)
                or not any(map(self._free, itertools.islice(self._pending, self.max_batch)))
            ):
                return
            writer = asyncio.create_task(self._write_loop())
            self._writers.add(writer)
            writer.add_done_callback(self._writer_done)

    def _writer_done(self, writer: asyncio.Task[None]) -> None:
        self._writers.discard(writer)
        self._start_writers()

    def _free(self, job: _Job) -> bool:
        """Whether no batch being written may touch this send's conversation."""
        key = job.order_key
        return key is not None and key not in self._writing and None not in self._writing

    def _take(self) -> list[_Job]:
        """The next batch: pending sends in arrival order, skipping (and keeping, in order)
        those whose conversation a batch in flight is writing, and every send after a skipped
        one of the same conversation."""
        if not self._writing:
            take = min(self.max_batch, len(self._pending))
            return [self._pending.popleft() for _ in range(take)]
        jobs: list[_Job] = []
        kept: deque[_Job] = deque()
        held: set[int | None] = set()
        while self._pending and len(jobs) < self.max_batch:
            job = self._pending.popleft()
            if job.order_key in held or not self._free(job):
                held.add(job.order_key)
                kept.append(job)
            else:
                jobs.append(job)
        kept.extend(self._pending)
        self._pending = kept
        return jobs

    async def _write_loop(self) -> None:
        while self._pending:
            # Let sends that are already on their way join this batch (no timed linger).
            await asyncio.sleep(0)
            await self._delivered()
            jobs = self._take()
            if not jobs:
                return  # the rest waits for the batches in flight; their writers take it
            keys = {j.order_key for j in jobs}
            self._writing |= keys
            self._in_flight += 1
            self._start_writers()
            try:
                if self._ordered:
                    jobs.sort(key=lambda j: (j.order_key is None, j.order_key or 0))
                jobs = await self._write(jobs)
            finally:
                self._writing -= keys
                self._in_flight -= 1
            prev = self._last_delivery
            self._last_delivery = asyncio.create_task(self._deliver(jobs, prev))

    async def _delivered(self) -> None:
        """Wait until the previous batch is delivered (or DELIVERY_WAIT has passed).

        Deliveries follow the writes on the same event loop. A writer that ran ahead of them
        wrote batch after tiny batch while, at capacity, the sends waited in the delivery chain
        (about 60 batches of 3 at 500 msgs/s), each batch paying a transaction's fixed cost.
        Waiting lets the sends gather here instead: batches grow with load. The bound keeps one
        socket whose transport is paused (a client not reading) from holding every write."""
        prev = self._last_delivery
        if prev is not None and not prev.done():
            await asyncio.wait({prev}, timeout=DELIVERY_WAIT)

    async def _write(self, jobs: list[_Job]) -> list[_Job]:
        """Write the batch; returns its jobs in commit order (for delivery)."""
        self.stats.batches += 1
        self.stats.sends += len(jobs)
        self.stats.largest = max(self.stats.largest, len(jobs))
        metrics.SEND_BATCH_SIZE.observe(len(jobs))
        try:
            await self._transaction(jobs, fast=True)
            return jobs
        except _Failed:
            pass
        except Exception:  # the commit itself (database unavailable, locked, …)
            log.debug("batch of %d failed; retrying send by send", len(jobs), exc_info=True)
        self.stats.retried_batches += 1
        await self._isolated(jobs)
        # A send that lost a lock race (PostgreSQL deadlock or serialization failure: its
        # savepoint was rolled back, its locks released) runs again in a later transaction;
        # it then commits after the others, and is delivered after them.
        done = [j for j in jobs if not _transient(j.error)]
        again = [j for j in jobs if _transient(j.error)]
        for _ in range(LOCK_RETRIES):
            if not again:
                break
            self.stats.lock_retries += len(again)
            await asyncio.sleep(0)
            await self._isolated(again)
            done += [j for j in again if not _transient(j.error)]
            again = [j for j in again if _transient(j.error)]
        return done + again

    async def _isolated(self, jobs: list[_Job]) -> None:
        for job in jobs:
            job.result, job.error, job.events = None, None, []
        try:
            await self._transaction(jobs, fast=False)
        except Exception as err:  # commit failed: nothing of this batch was stored
            for job in jobs:
                if job.error is None:
                    job.error = err

    async def _transaction(self, jobs: list[_Job], *, fast: bool) -> None:
        app = self._app
        isolate = not fast and len(jobs) > 1
        token = sqlite_write_intent.set(True)
        # A send is acked only after its commit, and a failed batch runs again at once: it
        # need not pay a round trip to try its pooled connection first.
        ping = ping_on_checkout.set(False)
        try:
            async with app.state.write_gate.hold(True), self._maker() as db:
                try:
                    events: list[Any] = db.info.setdefault("events", [])
                    if fast:
                        begin_batch(db)
                    order: list[_Job] = []  # the order the jobs were written in
                    i = 0
                    while i < len(jobs):
                        group = _bulk_group(jobs, i) if fast else []
                        if group:
                            i += len(group)
                            order += await _run_bulk(db, group, events)
                        else:
                            await _run_one(db, jobs[i], events, fast=fast, isolate=isolate)
                            order.append(jobs[i])
                            i += 1
                    jobs[:] = order
                    done = len(events)
                    await run_deferred(db)  # the hooks' set-wise work for the whole batch
                    if len(events) > done and jobs:
                        # Delivered with the batch's last send, after everything it follows.
                        jobs[-1].events += events[done:]
                    await db.commit()
                    if self._inline is not None:
                        self._inline.committed(len(jobs))
                except BaseException:
                    await db.rollback()
                    raise
        finally:
            ping_on_checkout.reset(ping)
            sqlite_write_intent.reset(token)

    async def _deliver(self, jobs: list[_Job], prev: asyncio.Task[None] | None) -> None:
        if prev is not None:
            with contextlib.suppress(BaseException):
                await prev
        bus = self._app.state.bus
        for job in jobs:
            if job.error is not None:
                if not job.future.done():
                    job.future.set_exception(job.error)
                continue
            try:
                if job.deliver is not None:
                    await job.deliver(job.result)
                if job.events:
                    await publish_all(bus, job.events)
            except Exception:
                log.exception("delivering a committed send failed")
            if not job.future.done():
                job.future.set_result(job.result)


def _bulk_group(jobs: list[_Job], i: int) -> list[tuple[_Job, BulkFn, Any]]:
    """The jobs from `i` on that share `jobs[i]`'s bulk function (none if it has none)."""
    head = jobs[i].bulk
    group: list[tuple[_Job, BulkFn, Any]] = []
    for job in jobs[i:]:
        if head is None or job.bulk is None or job.bulk[0] is not head[0]:
            break
        group.append((job, *job.bulk))
    return group


async def _run_bulk(
    db: AsyncSession, group: list[tuple[_Job, BulkFn, Any]], events: list[Any]
) -> list[_Job]:
    """Run a group set-wise (fast batches only); the jobs it leaves run one by one after it.
    Returns the group's jobs in the order they were written."""
    start = len(events)
    try:
        outcomes = await group[0][1](db, [item for _, _, item in group])
    except Exception as err:
        raise _Failed from err
    done, left = [], []
    pos = start
    for (job, _, _), outcome in zip(group, outcomes, strict=True):
        if outcome is None:
            left.append(job)
            continue
        job.result, count = outcome
        job.events = events[pos : pos + count]
        pos += count
        done.append(job)
    for job in left:
        await _run_one(db, job, events, fast=True, isolate=False)
    return done + left


async def _run_one(
    db: AsyncSession, job: _Job, events: list[Any], *, fast: bool, isolate: bool
) -> None:
    start = len(events)
    if isolate:
        try:
            async with db.begin_nested():
                job.result = await job.fn(db, False)
        except Exception as err:
            job.error = err
            del events[start:]
            return
    else:
        try:
            job.result = await job.fn(db, fast)
        except Exception as err:
            if fast:
                raise _Failed from err
            job.error = err
            del events[start:]
            return
    job.events = events[start:]


class _InlineConnection(aiosqlite.Connection):
    """aiosqlite's API, but every call runs at once on the calling (event loop) thread.

    aiosqlite hands each cursor/execute/fetch/close call to its connection thread and back
    (about 40 hand-offs per send); on a busy machine every hand-off waits for a CPU. The
    batch's statements are short indexed reads and writes of one transaction, so running them
    inline costs less than one hand-off. What could block the loop is kept off it: a busy
    write lock is waited for with asyncio sleeps (busy_timeout 0 on this connection) and the
    WAL checkpoint runs in a thread (`InlineSqlite.committed`)."""

    runs_inline = True  # see `core.sqlite_driver.call`

    def __await__(self) -> Generator[Any, None, aiosqlite.Connection]:
        return self._connect().__await__()  # no thread

    async def _connect(self) -> aiosqlite.Connection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        waited = 0.0
        while True:
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as err:
                # Another connection (a REST unit outside the gate, another process) holds
                # the write lock: wait for it without blocking the event loop.
                if "locked" not in str(err) or waited >= BUSY_WAIT_SECONDS:
                    raise
            await asyncio.sleep(0.002)
            waited += 0.002

    def stop(self) -> asyncio.Future[Any] | None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        return None

    async def close(self) -> None:
        self.stop()


class _InlineTx:
    """Stands in for aiosqlite's queue to its thread (SQLAlchemy puts the isolation_level
    change there directly): runs the call at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as err:
            if future is not None and not future.done():
                future.set_exception(err)
            return
        if future is not None and not future.done():
            future.set_result(result)


def _transient(err: BaseException | None) -> bool:
    """A PostgreSQL deadlock or serialization failure: running the send again may succeed."""
    if not isinstance(err, DBAPIError):
        return False
    return getattr(err.orig, "sqlstate", None) in ("40P01", "40001")


def _no_busy_wait(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=0")
    # The loop must not do the checkpoints' writes and fsyncs: a thread does.
    cur.execute("PRAGMA wal_autocheckpoint=0")
    cur.close()


class InlineSqlite:
    """The batcher's own SQLite engine: inline calls (see `_InlineConnection`), one connection."""

    CHECKPOINT_EVERY = 1000  # sends
    CHECKPOINT_TRIES = 5
    RESTART_FRAMES = 8192  # WAL frames (pages: 32 MB) after which the WAL is made to start over
    CHECKPOINT_RETRY_SECONDS = 0.05

    def __init__(self, settings: Any, *, gate: WriteGate | None = None) -> None:
        url = make_url(settings.resolved_database_url)
        self.path = str(url.database)
        self._gate = gate

        async def creator() -> aiosqlite.Connection:
            conn = _InlineConnection(
                partial(sqlite3.connect, self.path, timeout=0, check_same_thread=False), 64
            )
            conn._tx = _InlineTx()  # type: ignore[assignment]
            return await conn

        # No rollback when a connection goes back to the pool: every unit on this engine ends
        # its transaction (the session commits, rolls back, or closes it, which rolls back),
        # and the extra ROLLBACK was ~0.3 ms of every batch's event-loop time.
        self.engine = create_async_engine(
            url,
            async_creator=creator,
            pool_size=1,
            max_overflow=1,
            pool_reset_on_return=None,
        )
        event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(self.engine.sync_engine, "connect", _no_busy_wait)
        event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        self.sessionmaker = make_sessionmaker(self.engine, settings)
        self._since_checkpoint = 0
        self._checkpoint: asyncio.Task[None] | None = None

    async def aclose(self) -> None:
        if self._checkpoint is not None:
            with contextlib.suppress(Exception):
                await self._checkpoint
        await self.engine.dispose()

    def committed(self, sends: int) -> None:
        self._since_checkpoint += sends
        if self._since_checkpoint >= self.CHECKPOINT_EVERY and self._checkpoint is None:
            self._since_checkpoint = 0
            self._checkpoint = asyncio.create_task(self._run_checkpoint())

    async def _run_checkpoint(self) -> None:
        """Copy the WAL into the database file, in a thread; let the WAL start over once large.

        SQLite writes the WAL from its beginning again only when a write transaction begins
        on a WAL that is wholly copied, with no reader in it. A checkpoint that runs beside a
        writer which commits every few milliseconds never finishes the WAL: the frames added
        while it copies stay behind, and the WAL grew without end (270 MB after a minute at
        800 msgs/s). So once it holds RESTART_FRAMES, the frames committed during the copy
        are copied too with the write gate held, which leaves the WAL wholly copied for the
        next batch to restart. That step syncs the WAL and the database file (5-15 ms while
        sends wait), hence only then. A reader on an older snapshot (the search indexer's
        pass) can keep the tail from being copied: the step is tried again a little later."""
        try:
            for _ in range(self.CHECKPOINT_TRIES):
                frames, _copied = await asyncio.to_thread(_passive_checkpoint, self.path)
                if self._gate is None or frames < self.RESTART_FRAMES:
                    return
                async with self._gate.hold(True):
                    held = time.perf_counter()
                    frames, copied = await asyncio.to_thread(_passive_checkpoint, self.path)
                    metrics.SQLITE_CHECKPOINT_HOLD.observe(time.perf_counter() - held)
                if copied >= frames:
                    return
                await asyncio.sleep(self.CHECKPOINT_RETRY_SECONDS)
        except Exception:
            log.warning("WAL checkpoint failed", exc_info=True)
        finally:
            self._checkpoint = None


def _passive_checkpoint(path: str) -> tuple[int, int]:
    """(frames in the WAL, frames copied into the database file)."""
    conn = sqlite3.connect(path, timeout=1)
    try:
        _busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return frames, copied
    finally:
        conn.close()


async def close_batcher(app: FastAPI) -> None:
    """At app shutdown: drain and close the process's batcher, if one was made."""
    batcher: SendBatcher | None = getattr(app.state, "send_batcher", None)
    if batcher is not None:
        app.state.send_batcher = None
        await batcher.aclose()


def batcher_of(app: FastAPI) -> SendBatcher:
    """The process's batcher (made on first use; it keeps no task while idle)."""
    batcher: SendBatcher | None = getattr(app.state, "send_batcher", None)
    if batcher is None:
        batcher = SendBatcher(app)
        app.state.send_batcher = batcher
    return batcher
