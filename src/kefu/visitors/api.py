"""Staff routes for the visitor panel: profile and web info, editable by whoever sees them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.guards import require_page
from kefu.access.principal import Principal
from kefu.api.deps import Db, UnitOfWorkRoute
from kefu.conversations.access import conversation_for_staff
from kefu.tags import actions as tag_actions
from kefu.tags.schemas import VisitorTagOut
from kefu.visitors.models import Visitor
from kefu.visitors.schemas import VisitorOut, VisitorPatch

router = APIRouter(tags=["visitors"], route_class=UnitOfWorkRoute)
Sessions = require_page("agent.sessions")
ItemId = Annotated[int, Path(ge=1, le=2**53)]


async def visitor_out(db: AsyncSession, v: Visitor) -> VisitorOut:
    tags = [
        VisitorTagOut(id=t.id, name=t.name, color=t.color)
        for t in await tag_actions.visitor_tags(db, v)
    ]
    return VisitorOut(
        id=v.id,
        name=v.name,
        phone=v.phone,
        email=v.email,
        remark=v.remark,
        external_id=v.external_id,
        vip=v.vip,
        tags=tags,
        custom=v.custom,
        web_info=v.web_info,
        created_at=v.created_at,
        last_seen_at=v.last_seen_at,
    )


@router.get("/conversations/{conversation_id}/visitor", summary="The conversation's visitor")
async def conversation_visitor(
    conversation_id: ItemId, db: Db, principal: Principal = Sessions
) -> VisitorOut:
    conv = await conversation_for_staff(db, principal, conversation_id)
    visitor = await db.get(Visitor, conv.visitor_id)
    assert visitor is not None
    return await visitor_out(db, visitor)


@router.patch("/visitors/{visitor_id}", summary="Edit a visitor's profile (and VIP flag)")
async def patch_visitor(
    visitor_id: ItemId, body: VisitorPatch, db: Db, principal: Principal = Sessions
) -> VisitorOut:
    # Editable by staff who can see one of the visitor's conversations.
    visitor = await tag_actions.visitor_for_staff(db, principal, visitor_id)
    tag_actions.patch_visitor(db, visitor, body)
    return await visitor_out(db, visitor)
