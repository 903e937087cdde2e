"""How many conversations each agent accepted today: dispatch's tie-break (§5.5), kept up to
date incrementally instead of counted on every pass.

Counting today's segments on every dispatch pass cost more as the day went on (7 ms at 10,000
segments on SQLite, and a pass runs for every freed slot). Every segment is written under the
tenant's dispatch lock (`dispatch.lock_tenant_dispatch`; SQLite has one writer), held until
commit, so a tenant's segments become visible in id order: a pass holding the lock needs only
the segments after the last one it has seen.

The counts live in this process, per database engine and tenant. A transaction works on its
own copy, kept when it commits and dropped when it rolls back (it may have counted its own
segments). They are read again in full on a new day (in the tenant's time zone), for a tenant
row that is not the one seen before (same id, other creation time: a database that was reset),
and after `REREAD_SECONDS`, which bounds any drift (segments deleted by a purge).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Select, and_, bindparam, event, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, aliased

from kefu.conversations.models import Segment
from kefu.tenants.models import Tenant

REREAD_SECONDS = 60.0


def accepted_since(tenant_id: int, since: datetime) -> Select[int | None, int]:
    """Conversations each agent accepted since `since`: a range of `ix_segments_tenant_started`,
    read from the index alone, however long the history."""
    return (
        select(Segment.agent_id, func.count(func.distinct(Segment.conversation_id)))
        .where(Segment.tenant_id == tenant_id, Segment.started_at >= since)
        .group_by(Segment.agent_id)
    )


_earlier = aliased(Segment)
# Segments after `mark` whose agent had not already accepted that conversation today (a
# conversation transferred back to an agent counts once). `id > mark` alone selects them: on
# SQLite a range of the tenant index by rowid, on PostgreSQL the top of the primary key.
_NEW: Any = select(Segment.id, Segment.agent_id, Segment.started_at).where(
    Segment.tenant_id == bindparam("tenant_id"),
    Segment.id > bindparam("mark"),
    ~exists().where(
        and_(
            _earlier.conversation_id == Segment.conversation_id,
            _earlier.agent_id == Segment.agent_id,
            _earlier.started_at >= bindparam("since"),
            _earlier.id < Segment.id,
        )
    ),
)
_LAST: Any = select(func.max(Segment.id)).where(Segment.tenant_id == bindparam("tenant_id"))


@dataclass
class _Counts:
    created_at: datetime
    since: datetime
    mark: int
    counts: dict[int, int]
    read_at: float


# engine -> tenant -> counts as last committed by this process.
_KEPT: WeakKeyDictionary[Any, dict[int, _Counts]] = WeakKeyDictionary()
# session.info keys: this transaction's copies (tenant -> counts) and its engine.
_LOCAL = "kefu.accepted_today"
_BIND = "kefu.accepted_today.bind"


async def _full(db: AsyncSession, tenant: Tenant, since: datetime) -> _Counts:
    mark = await db.scalar(_LAST, {"tenant_id": tenant.id}) or 0
    rows = (await db.execute(accepted_since(tenant.id, since))).all()
    counts = {agent: n for agent, n in rows if agent is not None}
    return _Counts(tenant.created_at, since, mark, counts, time.monotonic())


async def _entry(db: AsyncSession, tenant: Tenant, since: datetime) -> _Counts:
    """This transaction's copy: from the kept counts when they are still good, else read."""
    bind = db.get_bind()
    kept = _KEPT.get(bind, {}).get(tenant.id)
    if (
        kept is None
        or kept.since != since
        or kept.created_at != tenant.created_at
        or time.monotonic() - kept.read_at > REREAD_SECONDS
    ):
        entry = await _full(db, tenant, since)
    else:
        entry = replace(kept, counts=dict(kept.counts))
    db.info.setdefault(_LOCAL, {})[tenant.id] = entry
    db.info[_BIND] = bind
    return entry


async def accepted_today(db: AsyncSession, tenant: Tenant, since: datetime) -> dict[int, int]:
    """agent -> conversations accepted since `since` (the start of today). Call under the
    tenant's dispatch lock: that is what makes reading only the newer segments exact."""
    entry: _Counts | None = db.info.get(_LOCAL, {}).get(tenant.id)
    if entry is None or entry.since != since:
        entry = await _entry(db, tenant, since)
    params = {"tenant_id": tenant.id, "mark": entry.mark, "since": since}
    for seg_id, agent_id, started_at in (await db.execute(_NEW, params)).all():
        entry.mark = max(entry.mark, seg_id)
        if agent_id is not None and started_at >= since:
            entry.counts[agent_id] = entry.counts.get(agent_id, 0) + 1
    return entry.counts


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint: the transaction itself may still roll back
    local = session.info.pop(_LOCAL, None)
    bind = session.info.pop(_BIND, None)
    if local and bind is not None:
        _KEPT.setdefault(bind, {}).update(local)


def _after_rollback(session: Session) -> None:
    # Also a savepoint's: the next call copies the kept counts again and reads the segments
    # after them, which include this transaction's own that survived.
    session.info.pop(_LOCAL, None)
    session.info.pop(_BIND, None)


if not event.contains(Session, "after_commit", _after_commit):
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_rollback", _after_rollback)
