"""The staff WebSocket endpoint: authentication, presence, heartbeats and conversation frames.

The hub (kefu.chat.hub) routes bus events to sockets; conversation frames are handled in
kefu.chat.staff_socket (docs/protocol.md).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from fastapi import APIRouter, FastAPI, Request, WebSocket, WebSocketDisconnect
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal, resolve_principal
from kefu.chat import staff_socket
from kefu.chat.frames import STORAGE_ERRORS, error_frame, resume
from kefu.chat.hub import CLOSE_TRY_AGAIN, CLOSE_UNAUTHENTICATED, Conn, RealtimeHub
from kefu.chat.unit import run_unit
from kefu.conversations.access import conversation_for_staff
from kefu.conversations.models import Conversation
from kefu.core import json_text
from kefu.core.db import sqlite_write_intent
from kefu.core.errors import ApiError
from kefu.events.bus import publish_all, take_events
from kefu.presence import actions as presence

log = logging.getLogger("kefu.realtime")
ws_router = APIRouter()

HEARTBEAT_SECONDS = 25


@ws_router.websocket("/ws")
async def websocket_endpoint(ws: WebSocket) -> None:
    """Authenticated by the session cookie (origin-checked) or `?token=` for API clients."""
    app = ws.app
    token = ws.query_params.get("token")
    # A read: sliding the session's expiry runs in its own short write transaction.
    intent = sqlite_write_intent.set(False)
    try:
        principal = await _authenticate(ws, token)
    except STORAGE_ERRORS:
        # The database is unreachable: "try again later", not a failed handshake (HTTP 500).
        log.warning("staff socket refused: database unavailable", exc_info=True)
        await ws.accept()
        await ws.close(code=CLOSE_TRY_AGAIN)
        return
    finally:
        sqlite_write_intent.reset(intent)
    if principal is None:
        return
    await ws.accept()
    conn = Conn(ws, principal.tenant_id, user_id=principal.user.id, session_id=principal.session.id)
    hub: RealtimeHub = app.state.hub
    try:
        status, events = await _presence_change(app, conn, opened=True)
    except Exception as err:
        log.exception("presence bookkeeping failed on connect")
        await ws.close(code=CLOSE_TRY_AGAIN if isinstance(err, STORAGE_ERRORS) else 1011)
        return
    # Nothing reaches the socket before its hello: events for it wait until hello is sent.
    conn.hold()
    hub.add(conn)
    conn.rehello = lambda: _hello(app, conn)  # sent again after a broker gap (docs/cluster.md)
    conn.repair = lambda seqs: _repair(app, conn, seqs)  # gap repair (hub.Conn)
    try:
        if hub.settle is not None:
            await hub.settle()  # other nodes' events for this user now reach this node
        await conn.send_now(
            {
                "type": "hello",
                "user_id": principal.user.id,
                "heartbeat": HEARTBEAT_SECONDS,
                "status": status,
            }
        )
    finally:
        await conn.release()
    # Published after hello, so this socket hears what coming online caused (assignments).
    # Only these events are hidden from this socket: a status change that happens meanwhile
    # (an admin forcing one) must still reach it, however long the listeners take.
    conn.hidden_events = {id(ev) for ev in events}
    try:
        await publish_all(app.state.bus, events)
    finally:
        conn.hidden_events = set()
    try:
        while True:
            try:
                raw = await asyncio.wait_for(ws.receive_text(), timeout=HEARTBEAT_SECONDS * 2)
            except TimeoutError:
                # No heartbeat for two periods: the client is gone.
                await conn.close(1001)
                break
            try:
                msg = json_text.loads(raw)
            except ValueError:
                await conn.send({"type": "error", "code": "bad_request"})
                continue
            if not isinstance(msg, dict):
                await conn.send({"type": "error", "code": "bad_request"})
            elif msg.get("type") == "ping":
                await conn.send({"type": "pong", "t": msg.get("t")})
            else:
                try:
                    await staff_socket.handle(app, conn, msg)
                except STORAGE_ERRORS:
                    # The database is away for a moment: the frame fails, the socket stays.
                    log.warning("staff frame failed: database unavailable", exc_info=True)
                    await conn.send(error_frame("error", ApiError("server_busy")))
    except WebSocketDisconnect:
        pass
    except asyncio.CancelledError:
        if not conn.ended_by_drop():
            raise
    finally:
        hub.remove(conn)
        try:
            _, events = await _presence_change(app, conn, opened=False)
            await publish_all(app.state.bus, events)
        except Exception:
            log.exception("presence bookkeeping failed on disconnect")


async def _authenticate(ws: WebSocket, token: str | None) -> Principal | None:
    """The signed-in caller, or None after closing the socket with 4401."""
    async with ws.app.state.sessionmaker() as db:
        try:
            scope_headers = dict(ws.headers)
            if token:
                scope_headers["authorization"] = f"Bearer {token}"
            # resolve_principal reads only what _WsRequest offers.
            request = cast(Request, _WsRequest(ws, scope_headers))
            principal = await resolve_principal(request, db, websocket=True)
            await db.commit()
        except ApiError as err:
            await ws.close(code=CLOSE_UNAUTHENTICATED, reason=err.code)
            return None
    return principal


async def _presence_change(app: FastAPI, conn: Conn, *, opened: bool) -> tuple[str, list[Any]]:
    """Count the socket in or out of the user's presence (own transaction); its events."""
    status = ""
    user_id = conn.user_id
    assert user_id is not None
    async with app.state.write_gate.hold(), app.state.sessionmaker() as db:
        node = app.state.node_id
        if opened:
            status = await presence.socket_opened(
                db, tenant_id=conn.tenant_id, user_id=user_id, node_id=node
            )
        else:
            await presence.socket_closed(
                db, tenant_id=conn.tenant_id, user_id=user_id, node_id=node
            )
        await db.commit()
        events = take_events(db)
    return status, events


async def _repair(app: FastAPI, conn: Conn, seqs: dict[int, int]) -> None:
    """Replay events this socket missed, with the user's current rights (as a resume)."""

    async def load(db: AsyncSession, conv_id: int) -> Conversation:
        return await conversation_for_staff(
            db, await staff_socket.socket_principal(db, conn), conv_id
        )

    await resume(app, conn, seqs, "staff", load)


async def _hello(app: FastAPI, conn: Conn) -> dict[str, Any]:
    """A fresh hello for an open socket (its user's status now)."""
    user_id = conn.user_id
    assert user_id is not None

    async def read(db: AsyncSession) -> str:
        return await presence.status_of(db, tenant_id=conn.tenant_id, user_id=user_id)

    status = await run_unit(app, read, write=False)
    return {"type": "hello", "user_id": user_id, "heartbeat": HEARTBEAT_SECONDS, "status": status}


class _WsRequest:
    """The few request attributes resolve_principal reads, taken from a WebSocket."""

    method = "GET"

    def __init__(self, ws: WebSocket, headers: dict[str, str]) -> None:
        self.app = ws.app
        self.url = ws.url.replace(scheme="https" if ws.url.scheme == "wss" else "http")
        self.headers = headers
        self.cookies = ws.cookies
        self.state = ws.state
        self.client = ws.client
