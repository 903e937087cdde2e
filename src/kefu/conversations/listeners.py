"""Reactions to other domains' events: drain the waiting queue when capacity may have freed,
reorder it when a visitor's tags change, overflow groups whose agents all went offline, and
announce the waiting count after the queue moved (queue_announcer)."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.chat.unit import run_unit
from kefu.conversations.actions import queue_changed
from kefu.conversations.models import Conversation
from kefu.conversations.queue_announcer import QueueAnnouncer
from kefu.events.types import CapacityFreed, PresenceChanged, UserUpdated, VisitorTagsChanged
from kefu.routing.overflow import sweep_offline
from kefu.routing.priority import priority_rank
from kefu.routing.queueing import drain
from kefu.visitors.models import Visitor

log = logging.getLogger("kefu.dispatch")


def _frees_capacity(event: BaseModel) -> bool:
    if isinstance(event, CapacityFreed):
        return True
    if isinstance(event, PresenceChanged):
        return event.status == "idle"
    if isinstance(event, UserUpdated):
        return bool({"max_concurrent", "enabled", "role"} & set(event.fields))
    return False


async def requeue_visitor(db: AsyncSession, tenant_id: int, visitor_id: int) -> None:
    """A visitor's tags or VIP flag changed: their waiting conversation takes its new place."""
    visitor = await db.get(Visitor, visitor_id)
    if visitor is None or visitor.tenant_id != tenant_id:
        return
    conv = await db.scalar(
        select(Conversation).where(
            Conversation.visitor_id == visitor_id, Conversation.state == "waiting"
        )
    )
    if conv is None:
        return
    rank = await priority_rank(db, visitor)
    if rank != conv.priority_rank:
        conv.priority_rank = rank
        queue_changed(db, tenant_id)


def install(app: FastAPI) -> None:
    async def on_event(event: BaseModel) -> None:
        if isinstance(event, VisitorTagsChanged):

            async def requeue(db: AsyncSession) -> None:
                await requeue_visitor(db, event.tenant_id, event.visitor_id)

            await run_unit(app, requeue)
            return
        if isinstance(event, PresenceChanged) and event.status == "offline":
            tenant = event.tenant_id

            async def sweep(db: AsyncSession) -> int:
                return await sweep_offline(db, tenant)

            await run_unit(app, sweep)
            return
        if not _frees_capacity(event):
            return
        tenant_id: int = event.tenant_id  # type: ignore[attr-defined]

        async def drain_now(db: AsyncSession) -> int:
            return await drain(db, tenant_id)

        await run_unit(app, drain_now, inline=True)

    app.state.bus.subscribe(on_event)
    announcer = QueueAnnouncer(app.state.sessionmaker, app.state.bus)
    app.state.queue_announcer = announcer  # closed by the app's lifespan
    app.state.bus.subscribe(announcer.on_event)
