"""Announcing a tenant's waiting count after the transactions that changed it (§3.3).

Whatever adds to or takes from the waiting queue emits `QueueMoved` in its transaction. After
commit, this process's `QueueAnnouncer` counts the tenant's waiting conversations in a short
read transaction of its own and publishes `QueueChanged` (the staff sockets' `queue.changed`
frame, the `kefu_queue_waiting` gauge, other nodes through Redis).

Why not count inside the transaction: the count of a long queue (0.5 ms of SQLite at 10,000
waiting) plus its statement's overhead was about a tenth of a dispatch pass that assigns one
freed slot, under the write lock, and the frames it fed are sent at most every
`QUEUE_FRAME_SECONDS` anyway. Counting at most that often, after commit, gives the same
frames: the first change after a quiet spell is counted at once, later ones in the interval
together once it has passed, and the count read then includes every change committed before
it (never a stale one: a change that commits while a count runs is counted again).
"""

from __future__ import annotations

import asyncio
import logging

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kefu.chat.hub import QUEUE_FRAME_SECONDS
from kefu.conversations.dispatch import waiting_count
from kefu.core.db import sqlite_write_intent
from kefu.events.bus import EventBus
from kefu.events.types import QueueChanged, QueueMoved

log = logging.getLogger("kefu.dispatch")


class QueueAnnouncer:
    """Per tenant, at most one count every `interval` seconds, and one after the last change."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        bus: EventBus,
        interval: float = QUEUE_FRAME_SECONDS,
    ) -> None:
        self.maker = maker
        self.bus = bus
        self.interval = interval
        self._running: dict[int, asyncio.Task[None]] = {}
        self._again: set[int] = set()
        self._counted_at: dict[int, float] = {}

    async def on_event(self, event: BaseModel) -> None:
        if isinstance(event, QueueMoved):
            self.moved(event.tenant_id)

    def moved(self, tenant_id: int) -> None:
        if tenant_id in self._running:
            self._again.add(tenant_id)  # the running announcer counts once more
            return
        task = asyncio.get_running_loop().create_task(self._announce(tenant_id))
        self._running[tenant_id] = task

    async def _announce(self, tenant_id: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                due = self._counted_at.get(tenant_id, float("-inf")) + self.interval
                if loop.time() < due:
                    await asyncio.sleep(due - loop.time())
                self._again.discard(tenant_id)
                self._counted_at[tenant_id] = loop.time()
                try:
                    waiting = await self._count(tenant_id)
                except Exception:
                    log.exception("counting the waiting queue of tenant %s failed", tenant_id)
                else:
                    await self.bus.publish(QueueChanged(tenant_id=tenant_id, waiting=waiting))
                if tenant_id not in self._again:
                    return
        finally:
            self._running.pop(tenant_id, None)

    async def _count(self, tenant_id: int) -> int:
        token = sqlite_write_intent.set(False)
        try:
            async with self.maker() as db:
                return await waiting_count(db, tenant_id)
        finally:
            sqlite_write_intent.reset(token)

    async def settle(self) -> None:
        """Wait until every change heard so far has been counted and announced (tests)."""
        while self._running:
            await asyncio.gather(*list(self._running.values()), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._running.values()):
            task.cancel()
        await asyncio.gather(*list(self._running.values()), return_exceptions=True)
        self._running.clear()
        self._again.clear()
