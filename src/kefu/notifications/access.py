"""The only fetch of a single notice: the caller's own, else 404 like an unknown id."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.core.errors import ApiError
from kefu.notifications.models import Notification


async def own_notification(
    db: AsyncSession, principal: Principal, notification_id: int
) -> Notification:
    n = await db.scalar(
        select(Notification).where(
            Notification.id == notification_id,
            Notification.tenant_id == principal.tenant_id,
            Notification.user_id == principal.user.id,
        )
    )
    if n is None:
        raise ApiError("not_found")
    return n
