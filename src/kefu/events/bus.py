"""Typed domain events, published only after the transaction that produced them commits."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger("kefu.events")

Handler = Callable[[BaseModel], Awaitable[None]]


class EventBus:
    """In-process fan-out to listeners; a Redis broker replaces it on multi-node setups."""

    def __init__(self) -> None:
        self._handlers: list[Handler] = []
        # The cross-node leg (kefu.events.broker.RedisRelay) when KEFU_REDIS_URL is set: it
        # takes a copy of socket-bound events for the other nodes without waiting on Redis.
        self.remote: Any = None

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    async def publish(self, event: BaseModel) -> None:
        if self.remote is not None:
            self.remote.offer(event)
        for handler in list(self._handlers):
            try:
                await handler(event)
            except Exception:
                log.exception("event listener failed for %s", getattr(event, "type", event))


def emit(db: AsyncSession, event: BaseModel) -> None:
    """Queue an event on the unit of work; it goes out after commit (see api.deps.get_db)."""
    db.info.setdefault("events", []).append(event)


def pending_events(db: AsyncSession) -> list[Any]:
    """The events this transaction has emitted so far (read only: published after commit)."""
    return list(db.info.get("events", ()))


def take_events(db: AsyncSession) -> list[Any]:
    events: list[Any] = db.info.pop("events", [])
    return events


async def publish_all(bus: EventBus, events: list[Any]) -> None:
    for ev in events:
        await bus.publish(ev)
    await asyncio.sleep(0)
