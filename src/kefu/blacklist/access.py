"""Permission-checked fetches: entries of the caller's tenant, visitors the caller may blacklist."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.access.scopes import visible_agent_ids
from kefu.blacklist.models import BlacklistEntry
from kefu.conversations.models import Conversation, Segment
from kefu.core.errors import ApiError
from kefu.visitors.models import Visitor


async def get_entry(
    db: AsyncSession, principal: Principal, entry_id: int, *, lock: bool = False
) -> BlacklistEntry:
    stmt = select(BlacklistEntry).where(
        BlacklistEntry.id == entry_id, BlacklistEntry.tenant_id == principal.tenant_id
    )
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    entry = await db.scalar(stmt)
    if entry is None:
        raise ApiError("not_found")
    return entry


async def visitor_for_customers(db: AsyncSession, principal: Principal, visitor_id: int) -> Visitor:
    """A visitor of the caller's Customer center: the whole tenant for a tenant scope, else
    visitors served by an agent of the caller's scope."""
    visitor = await db.get(Visitor, visitor_id)
    if visitor is None or visitor.tenant_id != principal.tenant_id:
        raise ApiError("not_found")
    agents = await visible_agent_ids(db, principal, "customers")
    if agents is None:
        return visitor
    served = await db.scalar(
        select(Segment.id)
        .join(Conversation, Conversation.id == Segment.conversation_id)
        .where(
            Segment.tenant_id == principal.tenant_id,
            Conversation.visitor_id == visitor.id,
            Segment.agent_id.in_(agents),
        )
        .limit(1)
    )
    if served is None:
        raise ApiError("not_found")
    return visitor
