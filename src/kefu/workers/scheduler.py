"""The scheduler: claims due timer rows and runs their handlers, one transaction per timer.

PostgreSQL claims with `FOR UPDATE SKIP LOCKED`, so several nodes never run a timer twice;
SQLite has one writer at a time and claims with a plain DELETE … RETURNING.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kefu.core import clock
from kefu.core.db import sqlite_write_intent
from kefu.events.bus import EventBus, publish_all, take_events
from kefu.observability.metrics import timer_ran
from kefu.workers.models import Timer

log = logging.getLogger("kefu.scheduler")


@dataclass(frozen=True)
class DueTimer:
    id: int
    tenant_id: int
    kind: str
    subject_id: int
    due_at: datetime


TimerHandler = Callable[[AsyncSession, DueTimer], Awaitable[None]]
_HANDLERS: dict[str, TimerHandler] = {}


def timer_handler(kind: str) -> Callable[[TimerHandler], TimerHandler]:
    """Register the function that runs timers of `kind` (inside the claiming transaction)."""

    def register(fn: TimerHandler) -> TimerHandler:
        _HANDLERS[kind] = fn
        return fn

    return register


# Built once (every message cancels a timer). No identity-map sync: nothing keeps Timer
# objects around.
_CANCEL = (
    delete(Timer)
    .where(Timer.kind == bindparam("kind"), Timer.subject_id == bindparam("subject_id"))
    .execution_options(synchronize_session=False)
)


_CANCEL_KINDS = (
    delete(Timer)
    .where(
        Timer.kind.in_(bindparam("kinds", expanding=True)),
        Timer.subject_id == bindparam("subject_id"),
    )
    .execution_options(synchronize_session=False)
)


async def cancel_timer(db: AsyncSession, *, kind: str, subject_id: int) -> None:
    """Drop any pending timer of `kind` for `subject_id` (in the caller's transaction)."""
    await db.execute(_CANCEL, {"kind": kind, "subject_id": subject_id})


async def cancel_timers(db: AsyncSession, *, kinds: Sequence[str], subject_id: int) -> None:
    """`cancel_timer` for several kinds, in one statement (ending a conversation drops five)."""
    if len(kinds) == 1:
        await cancel_timer(db, kind=kinds[0], subject_id=subject_id)
    elif kinds:
        await db.execute(_CANCEL_KINDS, {"kinds": list(kinds), "subject_id": subject_id})


async def schedule_timer(
    db: AsyncSession, *, tenant_id: int, kind: str, subject_id: int, due_at: datetime
) -> None:
    """Set (or replace) the one timer of `kind` for `subject_id`."""
    await cancel_timer(db, kind=kind, subject_id=subject_id)
    db.add(
        Timer(
            tenant_id=tenant_id,
            kind=kind,
            subject_id=subject_id,
            due_at=due_at,
            created_at=clock.now(),
        )
    )


async def _claim_one(db: AsyncSession, now: datetime) -> DueTimer | None:
    pick = select(Timer.id).where(Timer.due_at <= now).order_by(Timer.due_at, Timer.id).limit(1)
    if db.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    row = (
        await db.execute(
            delete(Timer)
            .where(Timer.id == pick.scalar_subquery())
            .returning(Timer.id, Timer.tenant_id, Timer.kind, Timer.subject_id, Timer.due_at)
        )
    ).first()
    if row is None:
        return None
    return DueTimer(id=row[0], tenant_id=row[1], kind=row[2], subject_id=row[3], due_at=row[4])


async def _any_due(maker: async_sessionmaker[AsyncSession], now: datetime) -> bool:
    # A read-only probe first, so an idle SQLite database is not write-locked every second.
    token = sqlite_write_intent.set(False)
    try:
        async with maker() as db:
            return (
                await db.scalar(select(Timer.id).where(Timer.due_at <= now).limit(1))
            ) is not None
    finally:
        sqlite_write_intent.reset(token)


async def run_due_timers(
    maker: async_sessionmaker[AsyncSession],
    bus: EventBus,
    now: datetime | None = None,
    *,
    limit: int = 100,
) -> int:
    """Run up to `limit` timers due at `now` (default: the clock's now); how many ran."""
    now = now or clock.now()
    if not await _any_due(maker, now):
        return 0
    ran = 0
    while ran < limit:
        token = sqlite_write_intent.set(True)
        try:
            async with maker() as db:
                due = await _claim_one(db, now)
                if due is None:
                    break
                handler = _HANDLERS.get(due.kind)
                if handler is None:
                    log.warning("no handler for timer kind %s; dropped", due.kind)
                else:
                    await handler(db, due)
                await db.commit()
                timer_ran(due.kind, due.due_at)  # lag metric (kefu.observability)
                events: list[Any] = take_events(db)
        finally:
            sqlite_write_intent.reset(token)
        await publish_all(bus, events)
        ran += 1
    return ran


class Scheduler:
    """Polls for due timers every `interval` seconds while the app runs."""

    def __init__(
        self, maker: async_sessionmaker[AsyncSession], bus: EventBus, interval: float = 1.0
    ) -> None:
        self.maker = maker
        self.bus = bus
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="kefu-scheduler")

    async def _run(self) -> None:
        while True:
            try:
                await run_due_timers(self.maker, self.bus)
            except Exception:
                log.exception("running due timers failed")
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
