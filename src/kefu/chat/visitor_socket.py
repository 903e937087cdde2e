"""The visitor WebSocket: auth frame, hello, resume, send, typing (docs/protocol.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, FastAPI, WebSocket, WebSocketDisconnect
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.chat.frames import (
    STORAGE_ERRORS,
    ack_frame,
    error_frame,
    parse_send_frame,
    resume,
    send_and_ack,
)
from kefu.chat.hub import CLOSE_TRY_AGAIN, CLOSE_UNAUTHENTICATED, Conn, RealtimeHub
from kefu.chat.unit import run_unit
from kefu.chat.visitor_api import visitor_conversation
from kefu.conversations import actions, bulk_send
from kefu.conversations.access import conversation_for_visitor
from kefu.conversations.models import Conversation, Message
from kefu.core import clock, json_text
from kefu.core.errors import ApiError
from kefu.core.i18n import from_accept_language, set_language
from kefu.events.bus import publish_all
from kefu.events.types import ChatTyping
from kefu.observability import context as log_context
from kefu.visitors.actions import (
    SharedRows,
    VisitorPrincipal,
    principal_for_token,
    reread_principal,
    reread_principals,
)

log = logging.getLogger("kefu.realtime")
visitor_ws_router = APIRouter()

HEARTBEAT_SECONDS = 25
PRINCIPAL_TTL = timedelta(seconds=10)
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
        frame = json_text.loads(raw)
    except (TimeoutError, ValueError, WebSocketDisconnect):
        await _close(ws, CLOSE_UNAUTHENTICATED)
        return None
    token = frame.get("token") if isinstance(frame, dict) and frame.get("type") == "auth" else None
    if not isinstance(token, str) or not 22 <= len(token) <= 64:
        await _close(ws, CLOSE_UNAUTHENTICATED)
        return None

    async def load(db: AsyncSession) -> VisitorPrincipal:
        return await principal_for_token(db, token, shared_rows(app))

    try:
        vp = await run_unit(app, load, write=False)
    except ApiError:
        await _close(ws, CLOSE_UNAUTHENTICATED)
        return None
    except STORAGE_ERRORS:
        log.warning("visitor socket refused: database unavailable", exc_info=True)
        await _close(ws, CLOSE_TRY_AGAIN)
        return None
    if vp.widget.key != ws.query_params.get("widget") or not _origin_ok(ws, vp):
        await _close(ws, CLOSE_REFUSED)
        return None
    return vp


async def _close(ws: WebSocket, code: int) -> None:
    with contextlib.suppress(RuntimeError):
        await ws.close(code=code)


# kefu.api.app also mounts this endpoint as a plain Starlette route in front of this one, which
# it shadows (less memory per open socket); this route stays for the route walkers.
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
    conn.hold()  # nothing reaches the socket before its hello
    hub.add(conn)

    async def hello(db: AsyncSession) -> dict[str, Any]:
        return {
            "type": "hello",
            "visitor_id": vp.visitor.id,
            "heartbeat": HEARTBEAT_SECONDS,
            "conversation": await visitor_conversation(db, vp),
        }

    state = _State(vp)
    state.shared = shared_rows(app)
    conn.rehello = lambda: run_unit(app, hello, write=False)  # after a broker gap
    conn.repair = lambda seqs: resume(  # gap repair (hub.Conn), with the visitor's rights
        app, conn, seqs, "visitor", lambda db, cid: conversation_for_visitor(db, state.vp, cid)
    )
    try:
        if hub.settle is not None:
            await hub.settle()  # other nodes' events for this visitor now reach this node
        first = await run_unit(app, hello, write=False)
        state.conversation_id = (first.get("conversation") or {}).get("id")  # a batch's order
        await conn.send_now(first)
        await conn.release()
        while True:
            try:
                # asyncio.timeout, not wait_for: no extra task (and its frames) per socket.
                async with asyncio.timeout(HEARTBEAT_SECONDS * 2):
                    raw = await ws.receive_text()
            except TimeoutError:
                await conn.close(1001)
                break
            try:
                msg = json_text.loads(raw)
            except ValueError:
                msg = None
            if not isinstance(msg, dict):
                await conn.send({"type": "error", "code": "bad_request"})
                continue
            await _handle(app, conn, state.vp, state, msg)
    except WebSocketDisconnect:
        pass
    except asyncio.CancelledError:
        if not conn.ended_by_drop():
            raise
    except STORAGE_ERRORS:
        log.warning("visitor socket closed: database unavailable", exc_info=True)
        await _close(ws, CLOSE_TRY_AGAIN)
    except Exception:
        log.exception("visitor socket failed")
        await _close(ws, 1011)
    finally:
        hub.remove(conn)


class _State:
    def __init__(self, vp: VisitorPrincipal) -> None:
        self.last_typing = 0.0
        # The socket's visitor, device, widget and tenant rows, re-read when older than
        # PRINCIPAL_TTL (a rename, a widget's settings or the tenant's switches then apply).
        self.vp = vp
        self.loaded_at = clock.now()
        self.shared: SharedRows | None = None  # the process's tenant/widget rows
        self.conversation_id: int | None = None  # of the last send (a batch's lock order)


async def _handle(
    app: FastAPI, conn: Conn, vp: VisitorPrincipal, state: _State, msg: dict[str, Any]
) -> None:
    kind = msg.get("type")
    log_context.frame_scope(tenant_id=conn.tenant_id, conversation_id=msg.get("conversation_id"))
    try:
        if kind == "ping":
            await conn.send({"type": "pong", "t": msg.get("t")})
        elif kind == "send":
            await _send(app, conn, state, msg)
        elif kind == "resume":
            conv_id, after = msg.get("conversation_id"), msg.get("after_seq")
            if not isinstance(conv_id, int) or not isinstance(after, int) or after < 0:
                raise ApiError("bad_request")

            async def load(db: AsyncSession, cid: int) -> Conversation:
                return await conversation_for_visitor(db, vp, cid)

            await resume(app, conn, {conv_id: after}, "visitor", load, retry=True)
        elif kind == "typing":
            await _typing(app, vp, state, msg)
        else:
            await conn.send({"type": "error", "code": "bad_request", "frame": str(kind)[:40]})
    except ApiError as err:
        await conn.send(error_frame("error", err))
    except STORAGE_ERRORS:  # the database is away for a moment: the frame fails, not the socket
        log.warning("visitor frame failed: database unavailable", exc_info=True)
        await conn.send(error_frame("error", ApiError("server_busy")))


async def _send(app: FastAPI, conn: Conn, state: _State, msg: dict[str, Any]) -> None:
    client_msg_id = msg.get("client_msg_id")
    try:
        send, body = parse_send_frame(msg)
    except ApiError as err:
        await conn.send(error_frame("nack", err, client_msg_id))
        return

    async def work(db: AsyncSession, fast: bool) -> tuple[Message, bool]:
        vp = await current_principal(db, state)
        sent = await actions.visitor_send(
            db,
            vp,
            client_msg_id=send.client_msg_id,
            kind=send.kind,
            body=body,
            trust_unique_index=fast,
        )
        state.conversation_id = sent[0].conversation_id
        return sent

    bulk = None
    if bulk_send.takes(send.kind, body):
        bulk = (_send_many, _BulkSend(state, send.client_msg_id, send.kind, body))
    await send_and_ack(
        app,
        conn,
        send.client_msg_id,
        "visitor",
        work,
        conversation_id=state.conversation_id,
        bulk=bulk,
    )


@dataclass(frozen=True, slots=True)
class _BulkSend:
    state: _State
    client_msg_id: str
    kind: str
    body: dict[str, Any]


async def _send_many(db: AsyncSession, sends: list[_BulkSend]) -> list[tuple[Any, int] | None]:
    """A batch's run of visitor sends, set-wise (`bulk_send`); each result is its ack. Sockets
    whose rows are due to be read again (`current_principal`) get them read here, together."""
    now = clock.now()
    stale = [i for i, s in enumerate(sends) if now - s.state.loaded_at >= PRINCIPAL_TTL]
    fresh = [i for i, s in enumerate(sends) if now - s.state.loaded_at < PRINCIPAL_TTL]
    if stale:
        states = [sends[i].state for i in stale]
        shared = states[0].shared  # the process's: set when each socket signed in
        assert shared is not None
        reread = await reread_principals(db, [st.vp for st in states], shared)
        for i, st, vp in zip(stale, states, reread, strict=True):
            if vp is not None:  # else its own send ends the sign-in
                st.vp, st.loaded_at = vp, now
                fresh.append(i)
        fresh.sort()
    items = [
        bulk_send.VisitorMessage(
            vp=sends[i].state.vp,
            client_msg_id=sends[i].client_msg_id,
            kind=sends[i].kind,
            body=sends[i].body,
            content=actions.digest(sends[i].kind, sends[i].body),
        )
        for i in fresh
    ]
    out: list[tuple[Any, int] | None] = [None] * len(sends)
    for i, stored in zip(fresh, await bulk_send.visitor_send_many(db, items), strict=True):
        if stored is not None:
            send = sends[i]
            send.state.conversation_id = stored.message.conversation_id
            ack = ack_frame(
                send.client_msg_id,
                stored.message,
                stored.visitor_view,
                replayed=False,
                plain=True,
            )
            out[i] = (ack, stored.events)
    return out


def shared_rows(app: FastAPI) -> SharedRows:
    """The tenant and widget rows this process's visitor sockets share (PRINCIPAL_TTL)."""
    rows: SharedRows | None = getattr(app.state, "visitor_shared_rows", None)
    if rows is None:
        rows = app.state.visitor_shared_rows = SharedRows(PRINCIPAL_TTL)
    return rows


async def current_principal(db: AsyncSession, state: _State) -> VisitorPrincipal:
    """The socket's principal; its rows are not re-read for every send, only once they are
    older than PRINCIPAL_TTL (then in this transaction; gone rows end the sign-in)."""
    if clock.now() - state.loaded_at < PRINCIPAL_TTL:
        return state.vp
    state.vp = await reread_principal(db, state.vp, state.shared)
    state.loaded_at = clock.now()
    return state.vp


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
