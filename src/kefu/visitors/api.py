"""Staff routes for the visitor panel: profile and web info, editable by whoever sees them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from sqlalchemy import select

from kefu.access.guards import require_page
from kefu.access.principal import Principal
from kefu.api.deps import Db, UnitOfWorkRoute
from kefu.conversations.access import conversation_for_staff, staff_can_see
from kefu.conversations.models import Conversation
from kefu.core.errors import ApiError
from kefu.visitors.actions import update_profile
from kefu.visitors.models import Visitor
from kefu.visitors.schemas import VisitorOut, VisitorPatch

router = APIRouter(tags=["visitors"], route_class=UnitOfWorkRoute)
Sessions = require_page("agent.sessions")
ItemId = Annotated[int, Path(ge=1, le=2**53)]


def _out(v: Visitor) -> VisitorOut:
    return VisitorOut.model_validate(v, from_attributes=True)


@router.get("/conversations/{conversation_id}/visitor", summary="The conversation's visitor")
async def conversation_visitor(
    conversation_id: ItemId, db: Db, principal: Principal = Sessions
) -> VisitorOut:
    conv = await conversation_for_staff(db, principal, conversation_id)
    visitor = await db.get(Visitor, conv.visitor_id)
    assert visitor is not None
    return _out(visitor)


@router.patch("/visitors/{visitor_id}", summary="Edit a visitor's profile")
async def patch_visitor(
    visitor_id: ItemId, body: VisitorPatch, db: Db, principal: Principal = Sessions
) -> VisitorOut:
    visitor = await db.scalar(
        select(Visitor).where(Visitor.id == visitor_id, Visitor.tenant_id == principal.tenant_id)
    )
    if visitor is None:
        raise ApiError("not_found")
    # Editable by staff who can see one of the visitor's conversations (the customer center
    # with its own scopes comes with issue 6).
    convs = await db.scalars(
        select(Conversation)
        .where(Conversation.visitor_id == visitor.id)
        .order_by(Conversation.id.desc())
        .limit(50)
    )
    if not any([await staff_can_see(db, principal, c) for c in convs]):
        raise ApiError("not_found")
    update_profile(visitor, body)
    return _out(visitor)
