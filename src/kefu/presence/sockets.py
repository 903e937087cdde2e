"""Per-node counts of a user's open staff sockets (issue 7, docs/cluster.md).

Every server process is a node with its own id. A socket is counted in the row
(user_id, node_id); the user's total is the sum over nodes. When a node dies, a surviving node
drops the dead node's rows (kefu.presence.nodes), so the total never stays above zero forever.
The caller holds the user's presence row lock (kefu.presence.actions), which serialises changes
of one user's counts.
"""

from __future__ import annotations

import os
import secrets
import socket

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.presence.models import PresenceSocket


def new_node_id() -> str:
    """Unique per process start: host, pid and a random suffix (a restarted pid is a new node)."""
    host = socket.gethostname().split(".")[0][:32] or "node"
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"


_local = new_node_id()


def local_node_id() -> str:
    """The node id of callers that do not pass one (the app passes its own, app.state.node_id)."""
    return _local


async def count_sockets(
    db: AsyncSession, *, tenant_id: int, user_id: int, node_id: str | None = None, delta: int
) -> int:
    """Add `delta` to the user's sockets on `node_id`; the user's total over all nodes."""
    if delta > 0 and node_id is not None:
        insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
        stmt = insert(PresenceSocket).values(
            user_id=user_id, node_id=node_id, tenant_id=tenant_id, sockets=delta
        )
        await db.execute(
            stmt.on_conflict_do_update(
                index_elements=["user_id", "node_id"],
                set_={"sockets": PresenceSocket.sockets + delta},
            )
        )
    elif delta < 0 and node_id is not None:
        where = (PresenceSocket.user_id == user_id, PresenceSocket.node_id == node_id)
        await db.execute(
            update(PresenceSocket).where(*where).values(sockets=PresenceSocket.sockets + delta)
        )
        await db.execute(delete(PresenceSocket).where(*where, PresenceSocket.sockets <= 0))
    total = await db.scalar(
        select(func.coalesce(func.sum(PresenceSocket.sockets), 0)).where(
            PresenceSocket.user_id == user_id
        )
    )
    return int(total or 0)
