"""Visitor HTTP routes used by the widget, H5 page and SDKs (docs/protocol.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from pydantic import BaseModel, Field

from kefu.api.deps import Db, UnitOfWorkRoute, client_ip
from kefu.attachments.actions import accept_upload, attachment_view
from kefu.automations.actions import enterprise_welcome
from kefu.channels.presenters import public_widget
from kefu.channels.schemas import PublicWidgetOut
from kefu.conversations import actions, log, repo
from kefu.conversations.access import conversation_for_visitor
from kefu.conversations.presenters import agent_alias_for, conversation_view, messages_view
from kefu.conversations.queue import queue_position
from kefu.conversations.schemas import (
    AttachmentOut,
    ClientMsgId,
    ConversationOut,
    EventOut,
    MessageOut,
    SendIn,
    parse_send,
)
from kefu.core.errors import ApiError
from kefu.core.schemas import Model
from kefu.routing import welcome_menu
from kefu.visitors import actions as visitors
from kefu.visitors.actions import VisitorPrincipal
from kefu.visitors.schemas import VisitorMeOut, VisitorSessionIn


class MenuChoiceIn(Model):
    item_id: Annotated[int, Field(ge=1, le=2**53)]
    client_msg_id: ClientMsgId


router = APIRouter(tags=["visitor"], route_class=UnitOfWorkRoute)
SeqQuery = Annotated[int, Query(ge=0, le=2**53)]


async def current_visitor(request: Request, db: Db) -> VisitorPrincipal:
    auth = request.headers.get("authorization", "")
    if auth[:8].lower() != "visitor ":
        raise ApiError("unauthenticated")
    return await visitors.principal_for_token(db, auth[8:].strip())


VisitorIn = Annotated[VisitorPrincipal, Depends(current_visitor)]


class VisitorSessionOut(BaseModel):
    visitor: VisitorMeOut
    conversation: ConversationOut | None
    widget: PublicWidgetOut


async def visitor_conversation(db: Db, vp: VisitorPrincipal) -> dict[str, Any] | None:
    conv = await actions.open_conversation_of(db, vp.visitor.id)
    if conv is None:
        return None
    view = await conversation_view(db, conv, "visitor")
    if not vp.widget.show_agent_nickname:
        view["agent"] = None
    view["queue_position"] = await queue_position(db, conv)
    return view


@router.get("/public/widgets/{key}", summary="A widget's public configuration (no sign-in)")
async def get_public_widget(key: str, request: Request, db: Db) -> PublicWidgetOut:
    widget, tenant = await visitors.widget_by_key(db, key[:32])
    out = public_widget(request.app.state.settings, widget, tenant)
    out.welcome_menu = await welcome_menu.visible_menu(db, tenant)
    out.welcome_text = out.welcome_text or await enterprise_welcome(db, tenant.id)
    return out


@router.post("/visitor/session", summary="Register or refresh the visitor behind a browser token")
async def visitor_session(body: VisitorSessionIn, request: Request, db: Db) -> VisitorSessionOut:
    vp = await visitors.register(
        db, body, ip=client_ip(request), user_agent=request.headers.get("user-agent", "")
    )
    return VisitorSessionOut(
        visitor=VisitorMeOut(
            id=vp.visitor.id,
            name=vp.visitor.name,
            identified=vp.visitor.external_id is not None,
        ),
        conversation=await _conversation_out(db, vp),
        widget=public_widget(request.app.state.settings, vp.widget, vp.tenant).model_copy(
            update={
                "welcome_menu": await welcome_menu.visible_menu(db, vp.tenant),
                # The widget's own welcome, else the enterprise welcome (§6).
                "welcome_text": vp.widget.welcome_text
                or await enterprise_welcome(db, vp.tenant_id),
            }
        ),
    )


async def _conversation_out(db: Db, vp: VisitorPrincipal) -> ConversationOut | None:
    view = await visitor_conversation(db, vp)
    return ConversationOut(**view) if view is not None else None


@router.get("/visitor/conversation", summary="My open conversation, if any")
async def get_visitor_conversation(vp: VisitorIn, db: Db) -> ConversationOut | None:
    return await _conversation_out(db, vp)


@router.get("/visitor/messages", summary="Messages of one of my conversations, oldest first")
async def visitor_messages(
    vp: VisitorIn,
    db: Db,
    conversation_id: Annotated[int, Query(ge=1, le=2**53)],
    before_seq: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> list[MessageOut]:
    conv = await conversation_for_visitor(db, vp, conversation_id)
    msgs = await repo.messages_page(
        db, conversation_id=conv.id, before_seq=before_seq, limit=limit, for_visitor=True
    )
    alias = await agent_alias_for(db, conv.widget_id)
    return [MessageOut(**m) for m in await messages_view(db, msgs, "visitor", alias)]


@router.get("/visitor/events", summary="Events after a seq (resume)")
async def visitor_events(
    vp: VisitorIn,
    db: Db,
    conversation_id: Annotated[int, Query(ge=1, le=2**53)],
    after_seq: SeqQuery = 0,
) -> list[EventOut]:
    conv = await conversation_for_visitor(db, vp, conversation_id)
    frames = await log.replay(db, conv, after_seq, "visitor")
    if frames is None:
        raise ApiError("resync_required")
    return [EventOut(**f) for f in frames]


@router.get("/visitor/prior-messages", summary="My earlier conversations' messages, newest first")
async def visitor_prior_messages(
    vp: VisitorIn,
    db: Db,
    before_id: Annotated[int | None, Query(ge=1, le=2**53)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> list[MessageOut]:
    current = await actions.open_conversation_of(db, vp.visitor.id)
    msgs = await repo.prior_messages(
        db,
        tenant_id=vp.tenant_id,
        visitor_id=vp.visitor.id,
        before_conversation_id=current.id if current is not None else None,
        before_id=before_id,
        limit=limit,
        for_visitor=True,
    )
    alias = await agent_alias_for(db, vp.widget.id)
    return [MessageOut(**m) for m in await messages_view(db, msgs, "visitor", alias)]


@router.post(
    "/visitor/messages",
    status_code=201,
    summary="Send a message; opens a conversation when none is open (idempotent)",
)
async def visitor_send(body: SendIn, response: Response, vp: VisitorIn, db: Db) -> MessageOut:
    parsed = parse_send(body)
    msg, replayed = await actions.visitor_send(
        db, vp, client_msg_id=body.client_msg_id, kind=body.kind, body=parsed
    )
    if replayed:
        response.status_code = 200
    view = (await messages_view(db, [msg], "visitor"))[0]
    return MessageOut(**view, replayed=replayed)


@router.post(
    "/visitor/menu-choice",
    status_code=201,
    summary="Choose a welcome-menu item: sent as my message, routed to its skill group",
)
async def visitor_menu_choice(
    body: MenuChoiceIn, response: Response, vp: VisitorIn, db: Db
) -> MessageOut:
    msg = await welcome_menu.choose(db, vp, body.item_id, body.client_msg_id)
    view = (await messages_view(db, [msg], "visitor"))[0]
    return MessageOut(**view)


@router.post("/visitor/attachments", status_code=201, summary="Upload an image or file to send")
async def visitor_upload(
    request: Request,
    vp: VisitorIn,
    db: Db,
    file: Annotated[UploadFile, File()],
    kind: Annotated[Literal["image", "file"], Form()],
) -> AttachmentOut:
    att = await accept_upload(
        db,
        request.app.state.settings,
        tenant_id=vp.tenant_id,
        upload=file,
        kind=kind,
        uploader_type="visitor",
        uploader_id=vp.visitor.id,
        conversation_id=None,
    )
    return AttachmentOut(**attachment_view(request.app.state.settings, att))
