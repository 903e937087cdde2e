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

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    async def publish(self, event: BaseModel) -> None:
        for handler in list(self._handlers):
            try:
                await handler(event)
            except Exception:
                log.exception("event listener failed for %s", getattr(event, "type", event))


def emit(db: AsyncSession, event: BaseModel) -> None:
    """Queue an event on the unit of work; it goes out after commit (see api.deps.get_db)."""
    db.info.setdefault("events", []).append(event)


def take_events(db: AsyncSession) -> list[Any]:
    events: list[Any] = db.info.pop("events", [])
    return events


async def publish_all(bus: EventBus, events: list[Any]) -> None:
    for ev in events:
        await bus.publish(ev)
    await asyncio.sleep(0)
