"""A unit of work for socket frames: one write transaction, commit, then publish events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.chat.batcher import batcher_of
from kefu.core.db import sqlite_write_intent
from kefu.events.bus import publish_all, take_events

T = TypeVar("T")


async def run_unit(
    app: FastAPI,
    fn: Callable[[AsyncSession], Awaitable[T]],
    *,
    write: bool = True,
    inline: bool = False,
    before_publish: Callable[[T], Awaitable[Any]] | None = None,
) -> T:
    """Run `fn` in its own transaction; after commit, `before_publish` (the ack), then events.

    `inline` (a write unit of short indexed statements, e.g. a dispatch pass): on SQLite it
    runs on the send batcher's connection, whose statements run on the event loop's thread
    instead of being handed to a connection thread and back (`batcher.InlineSqlite`)."""
    on = batcher_of(app).inline if inline and write else None
    maker = on.sessionmaker if on is not None else app.state.sessionmaker
    token = sqlite_write_intent.set(write)
    try:
        async with app.state.write_gate.hold(write), maker() as db:
            try:
                result = await fn(db)
                await db.commit()
                if on is not None:
                    on.committed(1)  # that connection never checkpoints the WAL itself
            except BaseException:
                await db.rollback()
                raise
            events = take_events(db)
    finally:
        sqlite_write_intent.reset(token)
    if before_publish is not None:
        await before_publish(result)
    if events:
        await publish_all(app.state.bus, events)
    return result
