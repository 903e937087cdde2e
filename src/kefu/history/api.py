"""History routes (§3.10): ended conversations, their detail and messages; callback (§3.8) and
blacklisting (§3.9) from the detail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from kefu.access.guards import require_any_page, require_page
from kefu.access.principal import Principal
from kefu.api.deps import Db, UnitOfWorkRoute, client_ip
from kefu.blacklist import actions as blacklist
from kefu.blacklist.schemas import BlacklistAddOut, BlacklistReasonIn
from kefu.conversations import repo
from kefu.conversations.presenters import conversation_view, messages_view
from kefu.conversations.schemas import ConversationOut, MessageOut
from kefu.core.schemas import Line50, PageOut, PageParams
from kefu.history import actions
from kefu.history.access import default_mode, history_conversation, visibility
from kefu.history.callback import callback
from kefu.history.schemas import CallbackOut, HistoryDetailOut, HistoryItemOut
from kefu.visitors.models import Visitor

router = APIRouter(tags=["history"], route_class=UnitOfWorkRoute)
History = require_any_page("agent.history", "admin.history")
Sessions = require_page("agent.sessions")
ConvId = Annotated[int, Path(ge=1, le=2**53)]
OptId = Annotated[int | None, Query(ge=1, le=2**53)]


@router.get("/history", summary="Ended conversations, most recently ended first")
async def list_history(
    db: Db,
    params: Annotated[PageParams, Depends()],
    mode: Annotated[
        Literal["agent", "admin"] | None,
        Query(
            description="agent: conversations I took part in; admin: all in my History scope "
            "(page admin.history). Default: admin when I have that page."
        ),
    ] = None,
    ended_from: Annotated[datetime | None, Query(description="Ended at or after")] = None,
    ended_to: Annotated[datetime | None, Query(description="Ended before")] = None,
    agent_id: OptId = None,
    visitor_name: Annotated[Line50 | None, Query(description="Part of the visitor's name")] = None,
    visitor_id: OptId = None,
    conversation_id: OptId = None,
    channel: Annotated[Line50 | None, Query()] = None,
    principal: Principal = History,
) -> PageOut[HistoryItemOut]:
    visible = await visibility(db, principal, mode or default_mode(principal))
    items, total = await actions.page(
        db,
        tenant_id=principal.tenant_id,
        visible=visible,
        f=actions.HistoryFilter(
            ended_from=ended_from,
            ended_to=ended_to,
            agent_id=agent_id,
            visitor_name=visitor_name or None,
            visitor_id=visitor_id,
            conversation_id=conversation_id,
            channel=channel or None,
        ),
        offset=params.offset,
        limit=params.page_size,
    )
    return PageOut[HistoryItemOut](
        items=items, total=total, page=params.page, page_size=params.page_size
    )


@router.get("/history/{conversation_id}", summary="One ended conversation: detail")
async def get_history(
    conversation_id: ConvId, db: Db, principal: Principal = History
) -> HistoryDetailOut:
    conv = await history_conversation(db, principal, conversation_id)
    return await actions.detail(db, conv)


@router.get(
    "/history/{conversation_id}/messages",
    summary="Messages of an ended conversation, oldest first (pages back with before_seq)",
)
async def history_messages(
    conversation_id: ConvId,
    db: Db,
    principal: Principal = History,
    before_seq: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> list[MessageOut]:
    conv = await history_conversation(db, principal, conversation_id)
    msgs = await repo.messages_page(
        db, conversation_id=conv.id, before_seq=before_seq, limit=limit, for_visitor=False
    )
    return [MessageOut(**m) for m in await messages_view(db, msgs, "staff")]


@router.post(
    "/history/{conversation_id}/blacklist",
    summary="Blacklist the visitor of an ended conversation (§3.9)",
)
async def blacklist_from_history(
    conversation_id: ConvId,
    body: BlacklistReasonIn,
    request: Request,
    db: Db,
    principal: Principal = History,
) -> BlacklistAddOut:
    conv = await history_conversation(db, principal, conversation_id)
    visitor = await db.get(Visitor, conv.visitor_id)
    assert visitor is not None
    entry, ended = await blacklist.add(
        db, principal, visitor, body.reason, conversation=conv, ip=client_ip(request)
    )
    return BlacklistAddOut(
        outcome="pending" if entry.state == "pending" else "applied",
        entry=await blacklist.view(db, entry),
        ended_conversation_id=ended,
    )


@router.post(
    "/conversations/{conversation_id}/callback",
    status_code=201,
    summary="Call the visitor of an ended conversation back: a new conversation, mine (§3.8)",
)
async def callback_conversation(
    conversation_id: ConvId, db: Db, principal: Principal = Sessions
) -> CallbackOut:
    conv = await history_conversation(db, principal, conversation_id)
    new = await callback(db, principal, conv)
    return CallbackOut(conversation=ConversationOut(**await conversation_view(db, new, "staff")))
