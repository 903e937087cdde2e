"""The visitor WebSocket: auth frame, hello, resume, send, typing (docs/protocol.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from fastapi import APIRouter, FastAPI, WebSocket, WebSocketDisconnect
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.chat.frames import error_frame, parse_send_frame, resume, send_and_ack
from kefu.chat.hub import CLOSE_UNAUTHENTICATED, Conn, RealtimeHub
from kefu.chat.unit import run_unit
from kefu.chat.visitor_api import visitor_conversation
from kefu.conversations import actions
from kefu.conversations.access import conversation_for_visitor
from kefu.conversations.models import Conversation, Message
from kefu.core.errors import ApiError
from kefu.core.i18n import from_accept_language, set_language
from kefu.events.bus import publish_all
from kefu.events.types import ChatTyping
from kefu.visitors.actions import VisitorPrincipal, principal_for_token

log = logging.getLogger("kefu.realtime")
visitor_ws_router = APIRouter()

HEARTBEAT_SECONDS = 25
AUTH_SECONDS = 10
CLOSE_REFUSED = 4403
TYPING_MIN_INTERVAL = 0.25  # at most 4 previews a second reach the agent


def _origin_ok(ws: WebSocket, vp: VisitorPrincipal) -> bool:
    allowed = [o for o in vp.widget.allowed_origins.split(",") if o]
    if not allowed:
        return True
    origin = (ws.headers.get("origin") or "").rstrip("/")
    own = f"{'https' if ws.url.scheme == 'wss' else 'http'}://{ws.url.netloc}"
    return origin in allowed or origin == own


async def _authenticate(ws: WebSocket) -> VisitorPrincipal | None:
    app: FastAPI = ws.app
    try:
        raw = await asyncio.wait_for(ws.receive_text(), timeout=AUTH_SECONDS)
        frame = json.loads(raw)
    except (TimeoutError, ValueError, WebSocketDisconnect):
        await _close(ws, CLOSE_UNAUTHENTICATED)
        return None
    token = frame.get("token") if isinstance(frame, dict) and frame.get("type") == "auth" else None
    if not isinstance(token, str) or not 22 <= len(token) <= 64:
        await _close(ws, CLOSE_UNAUTHENTICATED)
        return None

    async def load(db: AsyncSession) -> VisitorPrincipal:
        return await principal_for_token(db, token)

    try:
        vp = await run_unit(app, load, write=False)
    except ApiError:
        await _close(ws, CLOSE_UNAUTHENTICATED)
        return None
    if vp.widget.key != ws.query_params.get("widget") or not _origin_ok(ws, vp):
        await _close(ws, CLOSE_REFUSED)
        return None
    return vp


async def _close(ws: WebSocket, code: int) -> None:
    with contextlib.suppress(RuntimeError):
        await ws.close(code=code)


@visitor_ws_router.websocket("/visitor/ws")
async def visitor_socket(ws: WebSocket) -> None:
    app: FastAPI = ws.app
    set_language(
        ws.query_params.get("lang") or from_accept_language(ws.headers.get("accept-language"))
    )
    await ws.accept()
    vp = await _authenticate(ws)
    if vp is None:
        return
    conn = Conn(ws, vp.tenant_id, visitor_id=vp.visitor.id)
    hub: RealtimeHub = app.state.hub
    hub.add(conn)

    async def hello(db: AsyncSession) -> dict[str, Any]:
        return {
            "type": "hello",
            "visitor_id": vp.visitor.id,
            "heartbeat": HEARTBEAT_SECONDS,
            "conversation": await visitor_conversation(db, vp),
        }

    state = _State()
    try:
        await conn.send(await run_unit(app, hello, write=False))
        while True:
            try:
                raw = await asyncio.wait_for(ws.receive_text(), timeout=HEARTBEAT_SECONDS * 2)
            except TimeoutError:
                await ws.close(code=1001)
                break
            try:
                msg = json.loads(raw)
            except ValueError:
                msg = None
            if not isinstance(msg, dict):
                await conn.send({"type": "error", "code": "bad_request"})
                continue
            await _handle(app, conn, vp, state, msg)
    except WebSocketDisconnect:
        pass
    except Exception:
        log.exception("visitor socket failed")
        await _close(ws, 1011)
    finally:
        hub.remove(conn)


class _State:
    def __init__(self) -> None:
        self.last_typing = 0.0


async def _handle(
    app: FastAPI, conn: Conn, vp: VisitorPrincipal, state: _State, msg: dict[str, Any]
) -> None:
    kind = msg.get("type")
    try:
        if kind == "ping":
            await conn.send({"type": "pong", "t": msg.get("t")})
        elif kind == "send":
            await _send(app, conn, vp, msg)
        elif kind == "resume":
            conv_id, after = msg.get("conversation_id"), msg.get("after_seq")
            if not isinstance(conv_id, int) or not isinstance(after, int) or after < 0:
                raise ApiError("bad_request")

            async def load(db: AsyncSession, cid: int) -> Conversation:
                return await conversation_for_visitor(db, vp, cid)

            await resume(app, conn, {conv_id: after}, "visitor", load)
        elif kind == "typing":
            await _typing(app, vp, state, msg)
        else:
            await conn.send({"type": "error", "code": "bad_request", "frame": str(kind)[:40]})
    except ApiError as err:
        await conn.send(error_frame("error", err))


async def _send(app: FastAPI, conn: Conn, vp: VisitorPrincipal, msg: dict[str, Any]) -> None:
    client_msg_id = msg.get("client_msg_id")
    try:
        send, body = parse_send_frame(msg)
    except ApiError as err:
        await conn.send(error_frame("nack", err, client_msg_id))
        return

    async def work(db: AsyncSession) -> tuple[Message, bool]:
        fresh = await principal_for_token_or_same(db, vp)
        return await actions.visitor_send(
            db, fresh, client_msg_id=send.client_msg_id, kind=send.kind, body=body
        )

    await send_and_ack(app, conn, send.client_msg_id, "visitor", work)


async def principal_for_token_or_same(db: AsyncSession, vp: VisitorPrincipal) -> VisitorPrincipal:
    """The socket's visitor rows attached to this transaction's session, without re-reading them
    (they were read when the socket authenticated; sends do not change them)."""
    return VisitorPrincipal(
        visitor=await db.merge(vp.visitor, load=False),
        device=vp.device,
        widget=await db.merge(vp.widget, load=False),
        tenant=await db.merge(vp.tenant, load=False),
    )


async def _typing(app: FastAPI, vp: VisitorPrincipal, state: _State, msg: dict[str, Any]) -> None:
    text = msg.get("text")
    if not isinstance(text, str):
        raise ApiError("bad_request")
    now = time.monotonic()
    if now - state.last_typing < TYPING_MIN_INTERVAL and text:
        return
    state.last_typing = now

    async def find(db: AsyncSession) -> Conversation | None:
        return await actions.open_conversation_of(db, vp.visitor.id)

    conv = await run_unit(app, find, write=False)
    if conv is None or conv.state != "ongoing" or conv.agent_id is None:
        return
    await publish_all(
        app.state.bus,
        [
            ChatTyping(
                tenant_id=vp.tenant_id,
                conversation_id=conv.id,
                agent_id=conv.agent_id,
                text=text[:500],
            )
        ],
    )
