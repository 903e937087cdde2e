"""Tenant-scoped fetches of users: another tenant's user is simply not found."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.accounts.models import User
from kefu.core.errors import ApiError


async def get_user(db: AsyncSession, principal: Principal, user_id: int) -> User:
    user = await db.scalar(
        select(User).where(User.id == user_id, User.tenant_id == principal.tenant_id)
    )
    if user is None:
        raise ApiError("not_found")
    return user
