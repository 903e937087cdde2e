"""History routes (§3.10): ended conversations, their detail and messages; callback (§3.8) and
blacklisting (§3.9) from the detail."""

from __future__ import annotations

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
from kefu.core.schemas import Name50, PageOut, PageParams
from kefu.history import actions, settings
from kefu.history.access import default_mode, history_conversation, visibility
from kefu.history.callback import callback
from kefu.history.schemas import (
    CallbackOut,
    HistoryDetailOut,
    HistoryFilterIn,
    HistoryItemOut,
    HistoryOptionsOut,
    HistorySettingsIn,
    HistorySettingsOut,
    MessageSearchOut,
)
from kefu.tags import actions as tag_actions
from kefu.tags.api import tag_out
from kefu.tags.schemas import VisitorTagOut, VisitorTagsIn
from kefu.visitors.models import Visitor

router = APIRouter(tags=["history"], route_class=UnitOfWorkRoute)
History = require_any_page("agent.history", "admin.history")
AdminHistory = require_page("admin.history")
Sessions = require_page("agent.sessions")
ConvId = Annotated[int, Path(ge=1, le=2**53)]


@router.get("/history", summary="Ended conversations, newest first, with the §13.2 filters")
async def list_history(
    db: Db,
    params: Annotated[PageParams, Depends()],
    f: Annotated[HistoryFilterIn, Query()],
    principal: Principal = History,
) -> PageOut[HistoryItemOut]:
    mode = f.mode or default_mode(principal)
    visible = await visibility(db, principal, mode)
    actions.check_filter(f, mode)
    items, total = await actions.page(
        db,
        tenant_id=principal.tenant_id,
        visible=visible,
        f=f,
        mode=mode,
        me=principal.user.id,
        offset=params.offset,
        limit=params.page_size,
    )
    return PageOut[HistoryItemOut](
        items=items, total=total, page=params.page, page_size=params.page_size
    )


@router.get("/history/settings", summary="History settings: retention in months (§3.10)")
async def get_history_settings(db: Db, principal: Principal = History) -> HistorySettingsOut:
    return await settings.view(db, principal)


@router.put("/history/settings", summary="Change the retention (whole-tenant History admins)")
async def put_history_settings(
    body: HistorySettingsIn, request: Request, db: Db, principal: Principal = AdminHistory
) -> HistorySettingsOut:
    await settings.save(db, principal, body, ip=client_ip(request))
    return await settings.view(db, principal)


@router.get(
    "/history/options", summary="Choices of the History filters: groups, associations, agents"
)
async def history_options(
    db: Db,
    mode: Annotated[Literal["agent", "admin"] | None, Query()] = None,
    principal: Principal = History,
) -> HistoryOptionsOut:
    chosen = mode or default_mode(principal)
    await visibility(db, principal, chosen)
    return await actions.options(db, principal, chosen)


@router.get("/history/{conversation_id}/visitor-tags", summary="The visitor's tags (§9.2)")
async def get_history_visitor_tags(
    conversation_id: ConvId, db: Db, principal: Principal = History
) -> list[VisitorTagOut]:
    conv = await history_conversation(db, principal, conversation_id)
    visitor = await db.get(Visitor, conv.visitor_id)
    assert visitor is not None
    return [tag_out(t) for t in await tag_actions.visitor_tags(db, visitor)]


@router.put(
    "/history/{conversation_id}/visitor-tags",
    summary="Replace the tags of the visitor of an ended conversation (§9.2)",
)
async def put_history_visitor_tags(
    conversation_id: ConvId, body: VisitorTagsIn, db: Db, principal: Principal = History
) -> list[VisitorTagOut]:
    conv = await history_conversation(db, principal, conversation_id)
    visitor = await db.get(Visitor, conv.visitor_id)
    assert visitor is not None
    if await tag_actions.set_visitor_tags(db, visitor, body.tag_ids):
        await tag_actions.notify_visitor_tags_changed(db, visitor, principal.user)
    return [tag_out(t) for t in await tag_actions.visitor_tags(db, visitor)]


@router.get("/history/{conversation_id}", summary="One ended conversation: detail")
async def get_history(
    conversation_id: ConvId, db: Db, principal: Principal = History
) -> HistoryDetailOut:
    conv = await history_conversation(db, principal, conversation_id)
    return await actions.detail(db, conv, pages=principal.pages, me=principal.user.id)


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


@router.get(
    "/history/{conversation_id}/messages/search",
    summary="Search inside an ended conversation: matching messages, match offsets, count",
)
async def search_history_messages(
    conversation_id: ConvId,
    db: Db,
    q: Annotated[Name50, Query(description="Text to find (any case)")],
    principal: Principal = History,
) -> MessageSearchOut:
    conv = await history_conversation(db, principal, conversation_id)
    return await actions.search_messages(db, conv, q)


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


# The History export kind (§14) registers with the routes at start-up.
import kefu.history.exports  # noqa: E402,F401
