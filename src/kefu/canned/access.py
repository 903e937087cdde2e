"""The only fetches of single canned objects: the caller's tenant's (and, for personal ones,
the caller's own), else 404 `not_found` exactly like an unknown id."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.canned.models import CannedCategory, CannedReply, CannedSubmission
from kefu.core.errors import ApiError


def owner_of(principal: Principal, personal: bool) -> int | None:
    return principal.user.id if personal else None


async def get_category(
    db: AsyncSession, principal: Principal, category_id: int, *, personal: bool
) -> CannedCategory:
    owner = owner_of(principal, personal)
    category = await db.scalar(
        select(CannedCategory).where(
            CannedCategory.id == category_id,
            CannedCategory.tenant_id == principal.tenant_id,
            CannedCategory.owner_id.is_(None)
            if owner is None
            else CannedCategory.owner_id == owner,
        )
    )
    if category is None:
        raise ApiError("not_found")
    return category


async def get_reply(
    db: AsyncSession, principal: Principal, reply_id: int, *, personal: bool
) -> CannedReply:
    owner = owner_of(principal, personal)
    reply = await db.scalar(
        select(CannedReply).where(
            CannedReply.id == reply_id,
            CannedReply.tenant_id == principal.tenant_id,
            CannedReply.owner_id.is_(None) if owner is None else CannedReply.owner_id == owner,
        )
    )
    if reply is None:
        raise ApiError("not_found")
    return reply


async def get_usable_reply(db: AsyncSession, principal: Principal, reply_id: int) -> CannedReply:
    """A reply the caller may use: a public one of their tenant, or their own personal one."""
    reply = await db.scalar(
        select(CannedReply).where(
            CannedReply.id == reply_id, CannedReply.tenant_id == principal.tenant_id
        )
    )
    if reply is None or reply.owner_id not in (None, principal.user.id):
        raise ApiError("not_found")
    return reply


async def get_submission(
    db: AsyncSession, principal: Principal, submission_id: int, *, lock: bool = False
) -> CannedSubmission:
    stmt = select(CannedSubmission).where(
        CannedSubmission.id == submission_id, CannedSubmission.tenant_id == principal.tenant_id
    )
    if lock:
        # Two admins deciding at once: the second waits, then sees the first decision.
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    submission = await db.scalar(stmt)
    if submission is None:
        raise ApiError("not_found")
    return submission
