"""The WebSocket endpoint and the hub that pushes events to signed-in users' sockets.

Foundation scope: account events (role changed, sessions revoked) and heartbeats. The
conversation protocol (sequence numbers, acks, resume) builds on this in the live-chat issue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from typing import Any, cast

from fastapi import APIRouter, FastAPI, Request, WebSocket, WebSocketDisconnect
from pydantic import BaseModel

from kefu.access.principal import resolve_principal
from kefu.core.errors import ApiError
from kefu.events.bus import publish_all, take_events
from kefu.events.types import PresenceChanged, UserRoleChanged, UserSessionsRevoked, UserUpdated
from kefu.presence import actions as presence

log = logging.getLogger("kefu.realtime")
ws_router = APIRouter()

HEARTBEAT_SECONDS = 25
# Close code for "signed out elsewhere"; 4401 mirrors HTTP 401.
CLOSE_UNAUTHENTICATED = 4401


class _Conn:
    def __init__(self, ws: WebSocket, tenant_id: int, user_id: int, session_id: int) -> None:
        self.ws = ws
        self.tenant_id = tenant_id
        self.user_id = user_id
        self.session_id = session_id


class RealtimeHub:
    """Sockets on this process, by user; events arrive from the bus after commit."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._by_user: dict[int, set[_Conn]] = defaultdict(set)
        self._by_tenant: dict[int, set[_Conn]] = defaultdict(set)

    def add(self, conn: _Conn) -> None:
        self._by_user[conn.user_id].add(conn)
        self._by_tenant[conn.tenant_id].add(conn)

    def remove(self, conn: _Conn) -> None:
        for index, key in ((self._by_user, conn.user_id), (self._by_tenant, conn.tenant_id)):
            conns = index.get(key)
            if conns is not None:
                conns.discard(conn)
                if not conns:
                    index.pop(key, None)

    async def send_tenant(self, tenant_id: int, message: dict[str, Any]) -> None:
        text = json.dumps(message)
        for conn in list(self._by_tenant.get(tenant_id, ())):
            with contextlib.suppress(Exception):
                await conn.ws.send_text(text)

    async def send_user(self, user_id: int, message: dict[str, Any]) -> None:
        for conn in list(self._by_user.get(user_id, ())):
            with contextlib.suppress(Exception):
                await conn.ws.send_text(json.dumps(message))

    async def on_event(self, event: BaseModel) -> None:
        if isinstance(event, UserSessionsRevoked):
            for conn in list(self._by_user.get(event.user_id, ())):
                if event.only_session_id is not None:
                    ending = conn.session_id == event.only_session_id
                else:
                    ending = conn.session_id != event.keep_session_id
                if ending:
                    with contextlib.suppress(Exception):
                        await conn.ws.close(code=CLOSE_UNAUTHENTICATED)
                    self.remove(conn)
        elif isinstance(event, (UserRoleChanged, UserUpdated)):
            await self.send_user(event.user_id, event.model_dump(exclude={"tenant_id"}))
        elif isinstance(event, PresenceChanged):
            await self.send_tenant(
                event.tenant_id, event.model_dump(include={"type", "user_id", "status"})
            )

    async def close(self) -> None:
        for conns in list(self._by_user.values()):
            for conn in list(conns):
                with contextlib.suppress(Exception):
                    await conn.ws.close(code=1001)
        self._by_user.clear()
        self._by_tenant.clear()


@ws_router.websocket("/ws")
async def websocket_endpoint(ws: WebSocket) -> None:
    """Authenticated by the session cookie (origin-checked) or `?token=` for API clients."""
    app = ws.app
    token = ws.query_params.get("token")
    async with app.state.sessionmaker() as db:
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
            return
    await ws.accept()
    conn = _Conn(ws, principal.tenant_id, principal.user.id, principal.session.id)
    hub: RealtimeHub = app.state.hub
    try:
        status = await _presence_change(app, conn, opened=True)
    except Exception:
        log.exception("presence bookkeeping failed on connect")
        await ws.close(code=1011)
        return
    hub.add(conn)
    await ws.send_text(
        json.dumps(
            {
                "type": "hello",
                "user_id": principal.user.id,
                "heartbeat": HEARTBEAT_SECONDS,
                "status": status,
            }
        )
    )
    try:
        while True:
            try:
                raw = await asyncio.wait_for(ws.receive_text(), timeout=HEARTBEAT_SECONDS * 2)
            except TimeoutError:
                # No heartbeat for two periods: the client is gone.
                await ws.close(code=1001)
                break
            try:
                msg = json.loads(raw)
            except ValueError:
                await ws.send_text(json.dumps({"type": "error", "code": "bad_request"}))
                continue
            if isinstance(msg, dict) and msg.get("type") == "ping":
                await ws.send_text(json.dumps({"type": "pong", "t": msg.get("t")}))
    except WebSocketDisconnect:
        pass
    finally:
        hub.remove(conn)
        try:
            await _presence_change(app, conn, opened=False)
        except Exception:
            log.exception("presence bookkeeping failed on disconnect")


async def _presence_change(app: FastAPI, conn: _Conn, *, opened: bool) -> str:
    """Count the socket in or out of the user's presence (own transaction), then publish."""
    status = ""
    async with app.state.sessionmaker() as db:
        if opened:
            status = await presence.socket_opened(
                db, tenant_id=conn.tenant_id, user_id=conn.user_id
            )
        else:
            await presence.socket_closed(db, tenant_id=conn.tenant_id, user_id=conn.user_id)
        await db.commit()
        events = take_events(db)
    await publish_all(app.state.bus, events)
    return status


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
