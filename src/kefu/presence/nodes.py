"""Cluster nodes: each server process heartbeats; a silent node is reaped by a survivor.

A node registers a `cluster_nodes` row at start-up and refreshes `heartbeat_at` every
`node_heartbeat_seconds`. Any node that finds another silent for more than `node_dead_seconds`
reaps it, exactly once (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite has one writer): the dead
node's socket rows go, and users left with no socket anywhere get the presence offline timer,
due 30 s after the dead node's last heartbeat (SPEC §2.1). A clean shutdown drops the node's own
rows at once (its users get the ordinary 30 s timer). On SQLite only one process serves, so at
start-up every other node row is a leftover of a crash and is reaped immediately.
See docs/cluster.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import and_, delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.chat.unit import run_unit
from kefu.core import clock
from kefu.presence import actions as presence
from kefu.presence.models import ClusterNode, Presence, PresenceSocket
from kefu.presence.sockets import count_sockets
from kefu.workers.models import Timer
from kefu.workers.scheduler import schedule_timer

log = logging.getLogger("kefu.cluster")


async def register(db: AsyncSession, node_id: str) -> None:
    now = clock.now()
    existing = await db.get(ClusterNode, node_id)
    if existing is None:
        db.add(ClusterNode(id=node_id, started_at=now, heartbeat_at=now))
    else:
        existing.heartbeat_at = now


async def heartbeat(db: AsyncSession, node_id: str) -> bool:
    """Refresh the node's heartbeat; False when the row was gone (another node reaped us)."""
    result: Any = await db.execute(
        update(ClusterNode).where(ClusterNode.id == node_id).values(heartbeat_at=clock.now())
    )
    return bool(result.rowcount)


async def _drop_sockets(db: AsyncSession, node_id: str, offline_from: datetime) -> int:
    """Forget the node's sockets; users with none left go offline 30 s after `offline_from`."""
    rows = (
        await db.execute(
            select(PresenceSocket.user_id, PresenceSocket.tenant_id)
            .where(PresenceSocket.node_id == node_id)
            .order_by(PresenceSocket.user_id)
        )
    ).all()
    users = [(int(u), int(t)) for u, t in rows]
    for user_id, tenant_id in users:  # lock order: presence rows by user id
        row = await presence._locked(db, tenant_id=tenant_id, user_id=user_id)
        await db.execute(
            delete(PresenceSocket).where(
                PresenceSocket.user_id == user_id, PresenceSocket.node_id == node_id
            )
        )
        row.sockets = await count_sockets(db, tenant_id=tenant_id, user_id=user_id, delta=0)
        if row.sockets == 0 and row.status != "offline":
            row.last_socket_closed_at = offline_from
            await schedule_timer(
                db,
                tenant_id=tenant_id,
                kind=presence.OFFLINE_TIMER,
                subject_id=user_id,
                due_at=offline_from + presence.OFFLINE_AFTER,
            )
    # Rows of users deleted meanwhile, if any.
    await db.execute(delete(PresenceSocket).where(PresenceSocket.node_id == node_id))
    return len(users)


async def reap_one(db: AsyncSession, me: str, cutoff: datetime) -> str | None:
    """Reap one node silent since before `cutoff` (not `me`); its id, or None."""
    pick = (
        select(ClusterNode)
        .where(ClusterNode.heartbeat_at < cutoff, ClusterNode.id != me)
        .order_by(ClusterNode.heartbeat_at)
        .limit(1)
    )
    if db.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    node = (await db.execute(pick)).scalar_one_or_none()
    if node is None:
        return None
    users = await _drop_sockets(db, node.id, node.heartbeat_at)
    await db.execute(delete(ClusterNode).where(ClusterNode.id == node.id))
    log.warning(
        "reaped node %s (silent since %s): %d users' sockets dropped",
        node.id,
        node.heartbeat_at.isoformat(),
        users,
    )
    return node.id


async def sweep_orphans(db: AsyncSession) -> int:
    """Users online with no socket row on any node and no offline timer (left by a crash of a
    version that counted sockets in one column): they get the 30 s offline timer now."""
    orphans = (
        await db.execute(
            select(Presence.user_id, Presence.tenant_id).where(
                Presence.status != "offline",
                ~exists().where(PresenceSocket.user_id == Presence.user_id),
                ~exists().where(
                    and_(Timer.kind == presence.OFFLINE_TIMER, Timer.subject_id == Presence.user_id)
                ),
            )
        )
    ).all()
    now = clock.now()
    for user_id, tenant_id in orphans:
        await schedule_timer(
            db,
            tenant_id=tenant_id,
            kind=presence.OFFLINE_TIMER,
            subject_id=user_id,
            due_at=now + presence.OFFLINE_AFTER,
        )
    return len(orphans)


async def leave(db: AsyncSession, node_id: str) -> None:
    """Clean shutdown: the node's rows go at once; its users get the ordinary 30 s timer."""
    await _drop_sockets(db, node_id, clock.now())
    await db.execute(delete(ClusterNode).where(ClusterNode.id == node_id))


class NodeKeeper:
    """Registers this node, heartbeats, reaps dead nodes; drops its rows on a clean stop."""

    def __init__(self, app: FastAPI, node_id: str) -> None:
        settings = app.state.settings
        self.app = app
        self.node_id = node_id
        self.interval = float(settings.node_heartbeat_seconds)
        self.dead_after = timedelta(seconds=float(settings.node_dead_seconds))
        self.single = bool(settings.is_sqlite)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        node_id = self.node_id

        async def join(db: AsyncSession) -> None:
            await register(db, node_id)

        await run_unit(self.app, join)
        # SQLite: this is the only process, every other node row is a crash's leftover.
        await self.reap(everyone=self.single)
        await run_unit(self.app, sweep_orphans)
        self._task = asyncio.create_task(self._run(), name="kefu-node-keeper")

    async def reap(self, *, everyone: bool = False) -> int:
        """Reap every node silent for the dead time (with `everyone`, every other node)."""
        reaped = 0
        while True:
            now = clock.now()
            cutoff = now + timedelta(days=3650) if everyone else now - self.dead_after

            async def one(db: AsyncSession, cutoff: datetime = cutoff) -> str | None:
                return await reap_one(db, self.node_id, cutoff)

            if await run_unit(self.app, one) is None:
                return reaped
            reaped += 1

    async def beat(self) -> None:
        node_id = self.node_id

        async def refresh(db: AsyncSession) -> bool:
            return await heartbeat(db, node_id)

        if not await run_unit(self.app, refresh):
            await self._rejoin()
        await self.reap()

    async def _rejoin(self) -> None:
        """We were silent long enough to be reaped (a long pause): count our sockets again."""
        log.warning("node %s was reaped while alive; registering its sockets again", self.node_id)
        counts: Counter[tuple[int, int]] = Counter()
        for conn in self.app.state.hub.conns():
            if conn.user_id is not None:
                counts[(conn.tenant_id, conn.user_id)] += 1
        node_id = self.node_id

        async def rejoin(db: AsyncSession) -> None:
            await register(db, node_id)
            for (tenant_id, user_id), n in sorted(counts.items(), key=lambda kv: kv[0][1]):
                await presence.socket_opened(
                    db, tenant_id=tenant_id, user_id=user_id, node_id=node_id, count=n
                )

        await run_unit(self.app, rejoin)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.beat()
            except Exception:
                log.exception("node heartbeat failed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        node_id = self.node_id

        async def go(db: AsyncSession) -> None:
            await leave(db, node_id)

        try:
            await run_unit(self.app, go)
        except Exception:
            log.exception("removing node %s at shutdown failed", node_id)
