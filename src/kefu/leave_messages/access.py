"""Permission-checked fetches: leave messages of the caller's tenant (another tenant's id is
`not_found`, like an unknown one). Either leave-message page may read any message of the tenant:
the exact number lookup covers everyone's (§11.1)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.guards import require_any_page, require_page
from kefu.access.principal import Principal
from kefu.core.errors import ApiError
from kefu.leave_messages.models import LeaveMessage

AnyLeavePage = require_any_page("agent.leave_messages", "admin.leave_messages")
AgentLeavePage = require_page("agent.leave_messages")
AdminLeavePage = require_page("admin.leave_messages")


async def get_message(
    db: AsyncSession, principal: Principal, message_id: int, *, lock: bool = False
) -> LeaveMessage:
    stmt = select(LeaveMessage).where(
        LeaveMessage.id == message_id, LeaveMessage.tenant_id == principal.tenant_id
    )
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    msg = await db.scalar(stmt)
    if msg is None:
        raise ApiError("not_found")
    return msg


async def get_many(db: AsyncSession, principal: Principal, ids: list[int]) -> list[LeaveMessage]:
    """All of `ids` (duplicates ignored), locked, or `not_found` if any is missing."""
    wanted = sorted(set(ids))
    rows = list(
        await db.scalars(
            select(LeaveMessage)
            .where(LeaveMessage.tenant_id == principal.tenant_id, LeaveMessage.id.in_(wanted))
            .order_by(LeaveMessage.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )
    if len(rows) != len(wanted):
        raise ApiError("not_found")
    return rows


async def by_number(db: AsyncSession, principal: Principal, number: int) -> LeaveMessage:
    msg = await db.scalar(
        select(LeaveMessage).where(
            LeaveMessage.tenant_id == principal.tenant_id, LeaveMessage.number == number
        )
    )
    if msg is None:
        raise ApiError("not_found")
    return msg
