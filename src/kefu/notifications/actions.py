"""Writing and reading message-center notices; always one recipient's own, in their tenant."""

from __future__ import annotations

from typing import Any

from fastapi.encoders import jsonable_encoder
from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import User
from kefu.core import clock
from kefu.events.bus import emit
from kefu.events.types import NotificationCreated
from kefu.notifications.kinds import DATA_SCHEMAS, NotificationKind
from kefu.notifications.models import Notification
from kefu.notifications.schemas import NotificationOut


def view(n: Notification) -> NotificationOut:
    return NotificationOut(
        id=n.id,
        kind=n.kind,
        data=n.data,
        created_at=n.created_at,
        read=n.read_at is not None,
    )


async def notify(
    db: AsyncSession, *, tenant_id: int, user_id: int, kind: NotificationKind, data: dict[str, Any]
) -> Notification:
    """Add a notice for `user_id` in the caller's transaction; it goes live after commit."""
    # A kind's parameters are checked here, so the UI can rely on them for every stored notice.
    checked = DATA_SCHEMAS[kind].model_validate(data).model_dump(mode="json")
    n = Notification(
        tenant_id=tenant_id, user_id=user_id, kind=kind, data=checked, created_at=clock.now()
    )
    db.add(n)
    await db.flush()
    emit(
        db,
        NotificationCreated(
            tenant_id=tenant_id, user_id=user_id, notification=jsonable_encoder(view(n))
        ),
    )
    return n


def _mine(user: User) -> Select[Notification]:
    return select(Notification).where(
        Notification.tenant_id == user.tenant_id, Notification.user_id == user.id
    )


async def page(
    db: AsyncSession, user: User, *, unread_only: bool, offset: int, limit: int
) -> tuple[list[Notification], int]:
    """One page of the user's notices, newest first, and how many there are in all."""
    stmt = _mine(user)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    total = int(await db.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = await db.scalars(stmt.order_by(Notification.id.desc()).offset(offset).limit(limit))
    return list(rows), total


async def unread_count(db: AsyncSession, user: User) -> int:
    stmt = _mine(user).where(Notification.read_at.is_(None))
    return int(await db.scalar(select(func.count()).select_from(stmt.subquery())) or 0)


def mark_read(n: Notification) -> None:
    if n.read_at is None:
        n.read_at = clock.now()


async def mark_all_read(db: AsyncSession, user: User, *, up_to_id: int | None) -> None:
    """Mark the user's unread notices read; only those up to `up_to_id` when given, so a notice
    that arrived after the reader's list was loaded stays unread."""
    stmt = (
        update(Notification)
        .where(
            Notification.tenant_id == user.tenant_id,
            Notification.user_id == user.id,
            Notification.read_at.is_(None),
        )
        .values(read_at=clock.now())
    )
    if up_to_id is not None:
        stmt = stmt.where(Notification.id <= up_to_id)
    await db.execute(stmt)
