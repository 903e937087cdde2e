"""Staff HTTP routes of conversations: lists, messages, send, whisper, recall, read, end."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Path, Query, Request, Response, UploadFile

from kefu.access.guards import require_page
from kefu.access.principal import Principal
from kefu.access.scopes import visible_agent_ids
from kefu.api.deps import Db, UnitOfWorkRoute
from kefu.attachments.actions import accept_upload, attachment_view
from kefu.conversations import actions, log, repo
from kefu.conversations.access import conversation_for_staff, may_monitor, shares_broadcast
from kefu.conversations.presenters import conversation_view, conversations_view, messages_view
from kefu.conversations.schemas import (
    AttachmentOut,
    ConversationOut,
    EventOut,
    MessageOut,
    ReadIn,
    SendIn,
    TodayOut,
    WhisperIn,
    parse_send,
)
from kefu.conversations.today import today_figures
from kefu.core.errors import ApiError

router = APIRouter(tags=["conversations"], route_class=UnitOfWorkRoute)
Sessions = require_page("agent.sessions")
Monitor = require_page("admin.current_sessions")
ConvId = Annotated[int, Path(ge=1, le=2**53)]
MsgId = Annotated[int, Path(ge=1, le=2**53)]
Limit = Annotated[int, Query(ge=1, le=100)]


@router.get("/conversations", summary="My ongoing conversations, or the waiting queue")
async def list_conversations(
    db: Db,
    principal: Principal = Sessions,
    state: Literal["ongoing", "waiting"] = "ongoing",
) -> list[ConversationOut]:
    if state == "ongoing":
        convs = await repo.ongoing_of_agent(
            db, tenant_id=principal.tenant_id, agent_id=principal.user.id
        )
    else:
        convs = await repo.by_state(
            db, tenant_id=principal.tenant_id, state="waiting", agent_ids=None
        )
    return [ConversationOut(**c) for c in await conversations_view(db, convs, "staff")]


@router.get("/current-sessions", summary="Every ongoing conversation I may monitor (§3.11)")
async def current_sessions(db: Db, principal: Principal = Monitor) -> list[ConversationOut]:
    agents = await visible_agent_ids(db, principal, "current_sessions")
    convs = await repo.by_state(
        db, tenant_id=principal.tenant_id, state="ongoing", agent_ids=agents
    )
    return [ConversationOut(**c) for c in await conversations_view(db, convs, "staff")]


@router.get("/current-sessions/{conversation_id}", summary="One conversation I may monitor (§3.11)")
async def monitor_conversation(
    conversation_id: ConvId, db: Db, principal: Principal = Monitor
) -> ConversationOut:
    conv = await conversation_for_staff(db, principal, conversation_id)
    return ConversationOut(**await conversation_view(db, conv, "staff"))


@router.get(
    "/current-sessions/{conversation_id}/messages",
    summary="Messages of a conversation I may monitor, whispers included, oldest first",
)
async def monitor_messages(
    conversation_id: ConvId,
    db: Db,
    principal: Principal = Monitor,
    before_seq: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Limit = 50,
) -> list[MessageOut]:
    conv = await conversation_for_staff(db, principal, conversation_id)
    msgs = await repo.messages_page(
        db, conversation_id=conv.id, before_seq=before_seq, limit=limit, for_visitor=False
    )
    return [MessageOut(**m) for m in await messages_view(db, msgs, "staff")]


@router.post("/current-sessions/{conversation_id}/end", summary="Close a monitored conversation")
async def monitor_end(
    conversation_id: ConvId, db: Db, principal: Principal = Monitor
) -> ConversationOut:
    conv = await conversation_for_staff(db, principal, conversation_id)
    by = "agent" if conv.agent_id == principal.user.id else "admin"
    await actions.end(db, conv, by=by, actor_id=principal.user.id)
    return ConversationOut(**await conversation_view(db, conv, "staff"))


@router.get("/conversations/{conversation_id}", summary="One conversation")
async def get_conversation(
    conversation_id: ConvId, db: Db, principal: Principal = Sessions
) -> ConversationOut:
    conv = await conversation_for_staff(db, principal, conversation_id)
    return ConversationOut(**await conversation_view(db, conv, "staff"))


@router.get("/conversations/{conversation_id}/messages", summary="Messages, oldest first")
async def list_messages(
    conversation_id: ConvId,
    db: Db,
    principal: Principal = Sessions,
    before_seq: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Limit = 50,
) -> list[MessageOut]:
    conv = await conversation_for_staff(db, principal, conversation_id)
    msgs = await repo.messages_page(
        db, conversation_id=conv.id, before_seq=before_seq, limit=limit, for_visitor=False
    )
    return [MessageOut(**m) for m in await messages_view(db, msgs, "staff")]


@router.get("/conversations/{conversation_id}/events", summary="Events after a seq (resume)")
async def list_events(
    conversation_id: ConvId,
    db: Db,
    principal: Principal = Sessions,
    after_seq: Annotated[int, Query(ge=0, le=2**53)] = 0,
) -> list[EventOut]:
    conv = await conversation_for_staff(db, principal, conversation_id)
    frames = await log.replay(db, conv, after_seq, "staff")
    if frames is None:
        raise ApiError("resync_required")
    return [EventOut(**f) for f in frames]


@router.get(
    "/conversations/{conversation_id}/prior-messages",
    summary="The visitor's earlier conversations' messages, newest first (10 per page)",
)
async def prior_messages(
    conversation_id: ConvId,
    db: Db,
    principal: Principal = Sessions,
    before_id: Annotated[int | None, Query(ge=1, le=2**53)] = None,
    limit: Limit = 10,
) -> list[MessageOut]:
    conv = await conversation_for_staff(db, principal, conversation_id)
    msgs = await repo.prior_messages(
        db,
        tenant_id=conv.tenant_id,
        visitor_id=conv.visitor_id,
        before_conversation_id=conv.id,
        before_id=before_id,
        limit=limit,
        for_visitor=False,
    )
    return [MessageOut(**m) for m in await messages_view(db, msgs, "staff")]


@router.post(
    "/conversations/{conversation_id}/messages",
    status_code=201,
    summary="Send a message (idempotent on client_msg_id: a retry answers 200, replayed)",
)
async def send_message(
    conversation_id: ConvId,
    body: SendIn,
    response: Response,
    db: Db,
    principal: Principal = Sessions,
) -> MessageOut:
    parsed = parse_send(body)
    conv = await conversation_for_staff(db, principal, conversation_id)
    msg, replayed = await actions.agent_send(
        db, principal.user, conv, client_msg_id=body.client_msg_id, kind=body.kind, body=parsed
    )
    if replayed:
        response.status_code = 200
    view = (await messages_view(db, [msg], "staff"))[0]
    return MessageOut(**view, replayed=replayed)


@router.post(
    "/conversations/{conversation_id}/whisper",
    status_code=201,
    summary="Whisper to the agent: staff only, never the visitor (§4.8)",
)
async def send_whisper(
    conversation_id: ConvId,
    body: WhisperIn,
    response: Response,
    db: Db,
    principal: Principal = Monitor,
) -> MessageOut:
    conv = await conversation_for_staff(db, principal, conversation_id)
    msg, replayed = await actions.whisper(
        db, principal.user, conv, client_msg_id=body.client_msg_id, text=body.text
    )
    if replayed:
        response.status_code = 200
    view = (await messages_view(db, [msg], "staff"))[0]
    return MessageOut(**view, replayed=replayed)


@router.post(
    "/conversations/{conversation_id}/messages/{message_id}/recall",
    summary="Recall my own message within 2 minutes",
)
async def recall_message(
    conversation_id: ConvId, message_id: MsgId, db: Db, principal: Principal = Sessions
) -> MessageOut:
    conv = await conversation_for_staff(db, principal, conversation_id)
    msg = await actions.recall(db, principal.user, conv, message_id)
    return MessageOut(**(await messages_view(db, [msg], "staff"))[0])


@router.post(
    "/conversations/{conversation_id}/attachments",
    status_code=201,
    summary="Upload an image (≤ 10 MB), file (≤ 10 MB) or voice clip (≤ 2 MB) to send",
)
async def upload_attachment(
    conversation_id: ConvId,
    request: Request,
    db: Db,
    file: Annotated[UploadFile, File()],
    kind: Annotated[Literal["image", "file", "voice"], Form()],
    principal: Principal = Sessions,
) -> AttachmentOut:
    conv = await conversation_for_staff(db, principal, conversation_id)
    mine = conv.agent_id == principal.user.id or await shares_broadcast(db, principal, conv)
    if not mine or conv.state != "ongoing":
        raise ApiError("conversation_not_yours")
    att = await accept_upload(
        db,
        request.app.state.settings,
        tenant_id=principal.tenant_id,
        upload=file,
        kind=kind,
        uploader_type="agent",
        uploader_id=principal.user.id,
        conversation_id=conv.id,
    )
    return AttachmentOut(**attachment_view(request.app.state.settings, att))


@router.post(
    "/conversations/{conversation_id}/read", status_code=204, summary="Mark read up to seq"
)
async def mark_read(
    conversation_id: ConvId, body: ReadIn, db: Db, principal: Principal = Sessions
) -> None:
    conv = await conversation_for_staff(db, principal, conversation_id)
    if conv.agent_id == principal.user.id:
        await actions.mark_read(db, conv, body.seq)


@router.post("/conversations/{conversation_id}/end", summary="End the conversation (§3.7)")
async def end_conversation(
    conversation_id: ConvId, db: Db, principal: Principal = Sessions
) -> ConversationOut:
    conv = await conversation_for_staff(db, principal, conversation_id)
    holder = conv.agent_id == principal.user.id or await shares_broadcast(db, principal, conv)
    if not holder and not may_monitor(principal):
        raise ApiError("conversation_not_yours")
    await actions.end(db, conv, by="agent" if holder else "admin", actor_id=principal.user.id)
    return ConversationOut(**await conversation_view(db, conv, "staff"))


@router.get("/me/today", summary="My figures today: accepted, ended, ongoing, online time")
async def my_today(db: Db, principal: Principal = Sessions) -> TodayOut:
    return TodayOut(**await today_figures(db, principal))
