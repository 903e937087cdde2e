"""A unit of work for socket frames: one write transaction, commit, then publish events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.core.db import sqlite_write_intent
from kefu.events.bus import publish_all, take_events

T = TypeVar("T")


async def run_unit(
    app: FastAPI,
    fn: Callable[[AsyncSession], Awaitable[T]],
    *,
    write: bool = True,
    before_publish: Callable[[T], Awaitable[Any]] | None = None,
) -> T:
    """Run `fn` in its own transaction; after commit, `before_publish` (the ack), then events."""
    token = sqlite_write_intent.set(write)
    try:
        async with app.state.write_gate.hold(write), app.state.sessionmaker() as db:
            try:
                result = await fn(db)
                await db.commit()
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
