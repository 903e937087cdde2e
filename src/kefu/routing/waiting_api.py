"""The Waiting page (§3.3): list, pickup, detail, and admins' transfer and close."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from kefu.access.guards import require_page
from kefu.access.principal import Principal
from kefu.api.deps import Db, UnitOfWorkRoute
from kefu.conversations import actions, repo
from kefu.conversations.presenters import conversation_view, messages_view
from kefu.conversations.schemas import ConversationOut, MessageOut
from kefu.core.errors import ApiError
from kefu.routing import queueing, transfers
from kefu.routing.access import require_queue_admin, waiting_for_staff
from kefu.routing.waiting import WaitingFilters, waiting_page
from kefu.routing.waiting_schemas import TransferIn, WaitingPageOut

router = APIRouter(tags=["waiting"], route_class=UnitOfWorkRoute)
Waiting = require_page("agent.waiting")
ConvId = Annotated[int, Path(ge=1, le=2**53)]
Id = Annotated[int | None, Query(ge=0, le=2**53)]


@router.get("/waiting", summary="Waiting conversations I may see, in dispatch order")
async def list_waiting(
    db: Db,
    principal: Principal = Waiting,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
    channel: Literal["web", "app", "wechat", "weibo"] | None = None,
    association_id: Id = None,
    skill_group_id: Id = None,
    vip: bool | None = None,
    visitor_name: Annotated[
        str | None, Query(max_length=50, pattern=r"^[^\x00-\x1f\x7f]*$")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> WaitingPageOut:
    filters = WaitingFilters(
        since=since,
        until=until,
        channel=channel,
        association_id=association_id,
        skill_group_id=skill_group_id,
        vip=vip,
        visitor_name=visitor_name,
    )
    return await waiting_page(db, principal, filters, limit=limit, offset=offset)


@router.post("/waiting/{conversation_id}/pickup", summary="Accept a waiting conversation")
async def pickup(
    conversation_id: ConvId, db: Db, principal: Principal = Waiting
) -> ConversationOut:
    conv = await waiting_for_staff(db, principal, conversation_id)
    await queueing.pickup(db, principal, conv)
    return ConversationOut(**await conversation_view(db, conv, "staff"))


@router.get("/waiting/{conversation_id}/messages", summary="Messages of a waiting conversation")
async def waiting_messages(
    conversation_id: ConvId,
    db: Db,
    principal: Principal = Waiting,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> list[MessageOut]:
    conv = await waiting_for_staff(db, principal, conversation_id)
    if conv.state != "waiting":
        # Once taken or closed it is in nobody's queue (the holder reads it from Sessions).
        raise ApiError("not_found")
    allowed = queueing.is_queue_admin(principal) or (principal.tenant.switches or {}).get(
        "waiting_detail", False
    )
    if not allowed:
        raise ApiError("waiting_detail_disabled")
    msgs = await repo.messages_page(
        db, conversation_id=conv.id, before_seq=None, limit=limit, for_visitor=False
    )
    return [MessageOut(**m) for m in await messages_view(db, msgs, "staff")]


@router.post(
    "/waiting/{conversation_id}/transfer", summary="Admins: send a waiting conversation elsewhere"
)
async def transfer_waiting(
    conversation_id: ConvId, body: TransferIn, db: Db, principal: Principal = Waiting
) -> ConversationOut:
    require_queue_admin(principal)
    conv = await waiting_for_staff(db, principal, conversation_id)
    await transfers.transfer(
        db,
        principal,
        conv,
        agent_id=body.agent_id,
        skill_group_id=body.skill_group_id,
        from_queue=True,
    )
    return ConversationOut(**await conversation_view(db, conv, "staff"))


@router.post("/waiting/{conversation_id}/end", summary="Admins: close a waiting conversation")
async def end_waiting(
    conversation_id: ConvId, db: Db, principal: Principal = Waiting
) -> ConversationOut:
    require_queue_admin(principal)
    conv = await waiting_for_staff(db, principal, conversation_id)
    if conv.state != "waiting":
        raise ApiError("conversation_not_waiting")
    await actions.end(db, conv, by="admin", actor_id=principal.user.id)
    return ConversationOut(**await conversation_view(db, conv, "staff"))
