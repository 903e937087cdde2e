"""Presence transitions (SPEC §2.1). The caller owns the transaction; changes emit events."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.accounts.models import AuthSession, User
from kefu.audit.actions import record
from kefu.core import clock
from kefu.core.errors import ApiError
from kefu.events.bus import emit
from kefu.events.types import PresenceChanged
from kefu.presence.models import Presence, PresenceInterval
from kefu.presence.sockets import count_sockets, local_node_id
from kefu.workers.scheduler import cancel_timer, schedule_timer

OFFLINE_AFTER = timedelta(seconds=30)
OFFLINE_TIMER = "presence.offline"
ONLINE = frozenset({"idle", "busy", "away", "invisible"})


async def _locked(db: AsyncSession, *, tenant_id: int, user_id: int) -> Presence:
    """The user's presence row, created if missing, locked for this transaction."""
    dialect = db.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await db.execute(
        insert(Presence)
        .values(
            user_id=user_id,
            tenant_id=tenant_id,
            status="offline",
            resume_status="idle",
            sockets=0,
            changed_at=clock.now(),
        )
        .on_conflict_do_nothing(index_elements=["user_id"])
    )
    row = await db.scalar(
        select(Presence)
        .where(Presence.user_id == user_id, Presence.tenant_id == tenant_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


async def _set(db: AsyncSession, row: Presence, status: str, actor_id: int | None = None) -> None:
    if row.status == status:
        return
    now = clock.now()
    # The state log behind online time (today's figures, and agent time statistics later).
    await db.execute(
        update(PresenceInterval)
        .where(PresenceInterval.user_id == row.user_id, PresenceInterval.ended_at.is_(None))
        .values(ended_at=now)
    )
    if status != "offline":
        db.add(
            PresenceInterval(
                tenant_id=row.tenant_id, user_id=row.user_id, status=status, started_at=now
            )
        )
    row.status = status
    row.changed_at = now
    emit(
        db,
        PresenceChanged(
            tenant_id=row.tenant_id, user_id=row.user_id, status=status, actor_id=actor_id
        ),
    )


async def statuses(db: AsyncSession, *, tenant_id: int, user_ids: list[int]) -> dict[int, str]:
    """Current status by user id; users without a row are offline."""
    if not user_ids:
        return {}
    rows = await db.execute(
        select(Presence.user_id, Presence.status).where(
            Presence.tenant_id == tenant_id, Presence.user_id.in_(user_ids)
        )
    )
    found = {uid: status for uid, status in rows.all()}
    return {uid: found.get(uid, "offline") for uid in user_ids}


async def status_of(db: AsyncSession, *, tenant_id: int, user_id: int) -> str:
    return (await statuses(db, tenant_id=tenant_id, user_ids=[user_id]))[user_id]


async def socket_opened(
    db: AsyncSession, *, tenant_id: int, user_id: int, node_id: str | None = None, count: int = 1
) -> str:
    """A socket of the user connected: cancel a pending offline, come online if offline."""
    row = await _locked(db, tenant_id=tenant_id, user_id=user_id)
    # Counted per node (kefu.presence.nodes), so a dead node's sockets can be dropped.
    row.sockets = await count_sockets(
        db, tenant_id=tenant_id, user_id=user_id, node_id=node_id or local_node_id(), delta=count
    )
    await cancel_timer(db, kind=OFFLINE_TIMER, subject_id=user_id)
    if row.status == "offline":
        await _set(db, row, row.resume_status)
    return row.status


async def socket_closed(
    db: AsyncSession, *, tenant_id: int, user_id: int, node_id: str | None = None
) -> None:
    """A socket closed; with none left the user goes offline 30 s later unless one reconnects."""
    row = await _locked(db, tenant_id=tenant_id, user_id=user_id)
    now = clock.now()
    row.sockets = await count_sockets(
        db, tenant_id=tenant_id, user_id=user_id, node_id=node_id or local_node_id(), delta=-1
    )
    row.last_socket_closed_at = now
    if row.sockets == 0 and row.status != "offline":
        await schedule_timer(
            db,
            tenant_id=tenant_id,
            kind=OFFLINE_TIMER,
            subject_id=user_id,
            due_at=now + OFFLINE_AFTER,
        )


async def go_offline_if_unconnected(db: AsyncSession, *, tenant_id: int, user_id: int) -> None:
    """The offline timer fired: offline now, unless a socket came back meanwhile."""
    exists = await db.scalar(
        select(Presence.user_id).where(Presence.user_id == user_id, Presence.tenant_id == tenant_id)
    )
    if exists is None:
        return  # the user was deleted
    row = await _locked(db, tenant_id=tenant_id, user_id=user_id)
    row.sockets = await count_sockets(db, tenant_id=tenant_id, user_id=user_id, delta=0)
    if row.sockets > 0 or row.status == "offline":
        return
    row.resume_status = row.status
    await _set(db, row, "offline")


async def signed_in(db: AsyncSession, user: User, *, invisible: bool) -> None:
    """A new sign-in: the next socket brings the user Idle, or Invisible for invisible login."""
    row = await _locked(db, tenant_id=user.tenant_id, user_id=user.id)
    row.resume_status = "invisible" if invisible else "idle"
    if invisible and row.status in ONLINE:
        await _set(db, row, "invisible", actor_id=user.id)


async def signed_out(db: AsyncSession, session: AuthSession) -> None:
    """Logout: with no other live session the user is offline at once (docs/decisions.md)."""
    others = await db.scalar(
        select(func.count())
        .select_from(AuthSession)
        .where(
            AuthSession.user_id == session.user_id,
            AuthSession.id != session.id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > clock.now(),
        )
    )
    if others:
        return
    row = await _locked(db, tenant_id=session.tenant_id, user_id=session.user_id)
    await cancel_timer(db, kind=OFFLINE_TIMER, subject_id=session.user_id)
    row.resume_status = "idle"
    await _set(db, row, "offline", actor_id=session.user_id)


async def set_own_status(db: AsyncSession, principal: Principal, status: str) -> str:
    """The user switches among the online states; while offline it applies at the next socket."""
    user = principal.user
    row = await _locked(db, tenant_id=user.tenant_id, user_id=user.id)
    if row.status == "offline":
        row.resume_status = status
    else:
        await _set(db, row, status, actor_id=user.id)
    return row.status


async def effective_status(db: AsyncSession, *, tenant_id: int, user_id: int) -> str:
    """The user's status, or while offline the one their next socket comes back to."""
    row = await _locked(db, tenant_id=tenant_id, user_id=user_id)
    return row.resume_status if row.status == "offline" else row.status


async def apply_decided_status(
    db: AsyncSession, *, tenant_id: int, user_id: int, status: str, actor_id: int
) -> str:
    """A status someone else decided for the user (an approved request): now when online,
    else at their next socket."""
    row = await _locked(db, tenant_id=tenant_id, user_id=user_id)
    if row.status == "offline":
        row.resume_status = status
    else:
        await _set(db, row, status, actor_id=actor_id)
    return row.status


def ensure_can_force(principal: Principal) -> None:
    """Only the built-in Admin role; custom roles cannot, even with the Agents page (§2.1)."""
    if not principal.is_admin:
        raise ApiError("forbidden")


async def force_status(
    db: AsyncSession, principal: Principal, user: User, status: str, ip: str
) -> str:
    """An admin sets another user's online state; an offline user cannot be forced online."""
    ensure_can_force(principal)
    row = await _locked(db, tenant_id=user.tenant_id, user_id=user.id)
    if row.status == "offline":
        raise ApiError("user_offline")
    before = row.status
    await _set(db, row, status, actor_id=principal.user.id)
    record(
        db,
        principal,
        tenant_id=user.tenant_id,
        action="user.status_forced",
        target_type="user",
        target_id=user.id,
        detail={"from": before, "to": status},
        ip=ip,
    )
    return row.status
