"""The only fetch of a single approval request: the caller's tenant's, else 404 like unknown."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.approvals.models import ApprovalRequest
from kefu.core.errors import ApiError


async def get_approval(
    db: AsyncSession, principal: Principal, approval_id: int, *, lock: bool = False
) -> ApprovalRequest:
    stmt = select(ApprovalRequest).where(
        ApprovalRequest.id == approval_id, ApprovalRequest.tenant_id == principal.tenant_id
    )
    if lock:
        # Two admins deciding at once: the second waits, then sees the first decision.
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    approval = await db.scalar(stmt)
    if approval is None:
        raise ApiError("not_found")
    return approval
