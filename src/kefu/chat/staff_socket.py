"""Conversation frames on the staff socket: resume, send, whisper, watch, read."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal, principal_for_session
from kefu.accounts.models import AuthSession
from kefu.chat.frames import error_frame, parse_send_frame, resume, send_and_ack
from kefu.chat.hub import Conn, RealtimeHub
from kefu.chat.unit import run_unit
from kefu.conversations import actions
from kefu.conversations.access import conversation_for_staff, may_monitor
from kefu.conversations.models import Conversation, Message
from kefu.conversations.schemas import ClientMsgId, MessageText
from kefu.core.errors import ApiError
from kefu.observability import context as log_context

_conv_id = TypeAdapter(int)
_client_id = TypeAdapter(ClientMsgId)
_text = TypeAdapter(MessageText)


async def socket_principal(db: AsyncSession, conn: Conn) -> Principal:
    """The caller's rights now (a role change or sign-out applies to the next frame)."""
    sess = await db.get(AuthSession, conn.session_id)
    if sess is None or sess.revoked_at is not None:
        raise ApiError("unauthenticated")
    principal = await principal_for_session(db, sess)
    if "agent.sessions" not in principal.pages and not may_monitor(principal):
        raise ApiError("forbidden")
    return principal


def _id(value: Any) -> int:
    try:
        out = _conv_id.validate_python(value, strict=False)
    except ValidationError:
        raise ApiError("bad_request") from None
    if not 1 <= out <= 2**53:
        raise ApiError("bad_request")
    return out


async def handle(app: FastAPI, conn: Conn, msg: dict[str, Any]) -> None:
    kind = msg.get("type")
    log_context.frame_scope(tenant_id=conn.tenant_id, conversation_id=msg.get("conversation_id"))
    try:
        if kind == "send":
            await _send(app, conn, msg)
        elif kind == "resume":
            await _resume(app, conn, msg)
        elif kind in ("watch", "unwatch"):
            await _watch(app, conn, kind, _id(msg.get("conversation_id")))
        elif kind == "read":
            await _read(app, conn, msg)
        else:
            await conn.send({"type": "error", "code": "bad_request", "frame": str(kind)[:40]})
    except ApiError as err:
        await conn.send(error_frame("error", err))


async def _send(app: FastAPI, conn: Conn, msg: dict[str, Any]) -> None:
    client_msg_id = msg.get("client_msg_id")
    try:
        conv_id = _id(msg.get("conversation_id"))
        if msg.get("whisper"):
            cid = _client_id.validate_python(client_msg_id)
            text = _text.validate_python((msg.get("body") or {}).get("text"))
        else:
            send, body = parse_send_frame(msg)
    except ValidationError:
        await conn.send(
            error_frame("nack", ApiError("validation_error", detail="whisper"), client_msg_id)
        )
        return
    except ApiError as err:
        await conn.send(error_frame("nack", err, client_msg_id))
        return

    async def work(db: AsyncSession, fast: bool) -> tuple[Message, bool]:
        principal = await socket_principal(db, conn)
        conv = await conversation_for_staff(db, principal, conv_id)
        if msg.get("whisper"):
            if not may_monitor(principal):
                raise ApiError("forbidden")
            return await actions.whisper(db, principal.user, conv, client_msg_id=cid, text=text)
        return await actions.agent_send(
            db, principal.user, conv, client_msg_id=send.client_msg_id, kind=send.kind, body=body
        )

    await send_and_ack(app, conn, str(client_msg_id), "staff", work, conversation_id=conv_id)


async def _resume(app: FastAPI, conn: Conn, msg: dict[str, Any]) -> None:
    raw = msg.get("conversations")
    if not isinstance(raw, dict) or len(raw) > 500:
        raise ApiError("bad_request")
    seqs: dict[int, int] = {}
    for key, value in raw.items():
        if not isinstance(value, int) or value < 0:
            raise ApiError("bad_request")
        seqs[_id(key)] = value

    async def load(db: AsyncSession, conv_id: int) -> Conversation:
        return await conversation_for_staff(db, await socket_principal(db, conn), conv_id)

    await resume(app, conn, seqs, "staff", load, retry=True)


async def _watch(app: FastAPI, conn: Conn, kind: str, conv_id: int) -> None:
    hub: RealtimeHub = app.state.hub
    if kind == "unwatch":
        hub.unwatch(conn, conv_id)
        return

    async def check(db: AsyncSession) -> None:
        principal = await socket_principal(db, conn)
        if not may_monitor(principal):
            raise ApiError("forbidden")
        await conversation_for_staff(db, principal, conv_id)

    await run_unit(app, check, write=False)
    hub.watch(conn, conv_id)
    await conn.send({"type": "watching", "conversation_id": conv_id})


async def _read(app: FastAPI, conn: Conn, msg: dict[str, Any]) -> None:
    conv_id = _id(msg.get("conversation_id"))
    seq = msg.get("seq")
    if not isinstance(seq, int) or seq < 0:
        raise ApiError("bad_request")

    async def work(db: AsyncSession) -> None:
        principal = await socket_principal(db, conn)
        conv = await conversation_for_staff(db, principal, conv_id)
        if conv.agent_id == principal.user.id:
            await actions.mark_read(db, conv, seq)

    await run_unit(app, work)
