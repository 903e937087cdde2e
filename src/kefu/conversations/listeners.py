"""Reactions to other domains' events: drain the waiting queue when capacity may have freed."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.chat.unit import run_unit
from kefu.conversations.actions import drain_queue
from kefu.events.types import CapacityFreed, PresenceChanged, UserUpdated

log = logging.getLogger("kefu.dispatch")


def _frees_capacity(event: BaseModel) -> bool:
    if isinstance(event, CapacityFreed):
        return True
    if isinstance(event, PresenceChanged):
        return event.status == "idle"
    if isinstance(event, UserUpdated):
        return bool({"max_concurrent", "enabled", "role"} & set(event.fields))
    return False


def install(app: FastAPI) -> None:
    async def on_event(event: BaseModel) -> None:
        if not _frees_capacity(event):
            return
        tenant_id: int = event.tenant_id  # type: ignore[attr-defined]

        async def drain(db: AsyncSession) -> int:
            return await drain_queue(db, tenant_id)

        await run_unit(app, drain)

    app.state.bus.subscribe(on_event)
