"""Sockets on this process and the routing of bus events to them (recipients explicit)."""

from __future__ import annotations

import contextlib
import json
from collections import defaultdict
from typing import Any

from fastapi import WebSocket
from pydantic import BaseModel

from kefu.events.types import (
    ChatEvent,
    ChatTyping,
    ColleagueMessageSent,
    NotificationCreated,
    PresenceChanged,
    QueueChanged,
    TransferRequestChanged,
    UserRoleChanged,
    UserSessionsRevoked,
    UserUpdated,
)

# Close code for "signed out elsewhere"; 4401 mirrors HTTP 401.
CLOSE_UNAUTHENTICATED = 4401


class Conn:
    """One open socket: a staff user's (user_id) or a visitor's (visitor_id)."""

    def __init__(
        self,
        ws: WebSocket,
        tenant_id: int,
        *,
        user_id: int | None = None,
        session_id: int | None = None,
        visitor_id: int | None = None,
    ) -> None:
        self.ws = ws
        self.tenant_id = tenant_id
        self.user_id = user_id
        self.session_id = session_id
        self.visitor_id = visitor_id
        self.watching: set[int] = set()
        # A new socket learns its own status from hello, not from the event its arrival caused:
        # ids of the events being published for its arrival.
        self.hidden_events: set[int] = set()
        # While a resume replays history, live frames wait here so the client sees seq order.
        self._held: list[str] | None = None

    async def send(self, message: dict[str, Any] | str) -> None:
        text = message if isinstance(message, str) else json.dumps(message, default=str)
        if self._held is not None:
            self._held.append(text)
            return
        await self.send_now(text)

    async def send_now(self, message: dict[str, Any] | str) -> None:
        text = message if isinstance(message, str) else json.dumps(message, default=str)
        with contextlib.suppress(Exception):
            await self.ws.send_text(text)

    def hold(self) -> None:
        self._held = []

    async def release(self, already_sent: set[tuple[int, int]]) -> None:
        """Send what was held, minus events the replay already delivered."""
        held, self._held = self._held or [], None
        for text in held:
            frame = json.loads(text)
            if (frame.get("conversation_id"), frame.get("seq")) in already_sent:
                continue
            await self.send_now(text)


class RealtimeHub:
    def __init__(self) -> None:
        self._by_user: dict[int, set[Conn]] = defaultdict(set)
        self._staff_by_tenant: dict[int, set[Conn]] = defaultdict(set)
        self._by_visitor: dict[int, set[Conn]] = defaultdict(set)
        self._watchers: dict[int, set[Conn]] = defaultdict(set)

    def add(self, conn: Conn) -> None:
        if conn.visitor_id is not None:
            self._by_visitor[conn.visitor_id].add(conn)
        if conn.user_id is not None:
            self._by_user[conn.user_id].add(conn)
            self._staff_by_tenant[conn.tenant_id].add(conn)

    def remove(self, conn: Conn) -> None:
        pairs: list[tuple[dict[int, set[Conn]], int | None]] = [
            (self._by_user, conn.user_id),
            (self._staff_by_tenant, conn.tenant_id if conn.user_id is not None else None),
            (self._by_visitor, conn.visitor_id),
            *((self._watchers, cid) for cid in conn.watching),
        ]
        for index, key in pairs:
            if key is None:
                continue
            conns = index.get(key)
            if conns is not None:
                conns.discard(conn)
                if not conns:
                    index.pop(key, None)

    def watch(self, conn: Conn, conversation_id: int) -> None:
        conn.watching.add(conversation_id)
        self._watchers[conversation_id].add(conn)

    def unwatch(self, conn: Conn, conversation_id: int) -> None:
        conn.watching.discard(conversation_id)
        conns = self._watchers.get(conversation_id)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                self._watchers.pop(conversation_id, None)

    def connection_count(self) -> int:
        return sum(len(c) for c in self._by_user.values()) + sum(
            len(c) for c in self._by_visitor.values()
        )

    async def _send_all(self, conns: set[Conn], message: dict[str, Any]) -> None:
        text = json.dumps(message, default=str)
        for conn in list(conns):
            await conn.send(text)

    async def on_event(self, event: BaseModel) -> None:
        if isinstance(event, ChatEvent):
            await self._chat_event(event)
        elif isinstance(event, ChatTyping):
            frame = {"type": "typing", "conversation_id": event.conversation_id, "text": event.text}
            await self._send_all(self._by_user.get(event.agent_id, set()), frame)
        elif isinstance(event, ColleagueMessageSent):
            frame = {"type": "colleague.message", "message": event.message}
            for user_id in event.user_ids:
                await self._send_all(self._by_user.get(user_id, set()), frame)
        elif isinstance(event, NotificationCreated):
            frame = {"type": "notification.created", "notification": event.notification}
            conns = {
                c for c in self._by_user.get(event.user_id, ()) if c.tenant_id == event.tenant_id
            }
            await self._send_all(conns, frame)
        elif isinstance(event, TransferRequestChanged):
            for user_id in event.user_ids:
                conns = {
                    c for c in self._by_user.get(user_id, ()) if c.tenant_id == event.tenant_id
                }
                await self._send_all(conns, event.frame)
        elif isinstance(event, QueueChanged):
            frame = {"type": "queue.changed", "waiting": event.waiting}
            await self._send_all(self._staff_by_tenant.get(event.tenant_id, set()), frame)
        elif isinstance(event, UserSessionsRevoked):
            await self._revoke(event)
        elif isinstance(event, (UserRoleChanged, UserUpdated)):
            await self._send_all(
                self._by_user.get(event.user_id, set()), event.model_dump(exclude={"tenant_id"})
            )
        elif isinstance(event, PresenceChanged):
            conns = {
                c
                for c in self._staff_by_tenant.get(event.tenant_id, ())
                if not (id(event) in c.hidden_events and c.user_id == event.user_id)
            }
            await self._send_all(conns, event.model_dump(include={"type", "user_id", "status"}))

    async def _chat_event(self, event: ChatEvent) -> None:
        staff: set[Conn] = set(self._watchers.get(event.conversation_id, ()))
        for agent_id in event.agent_ids:
            staff |= {c for c in self._by_user.get(agent_id, ()) if c.tenant_id == event.tenant_id}
        await self._send_all(staff, event.staff_frame)
        if event.visitor_frame is not None:
            visitors = {
                c
                for c in self._by_visitor.get(event.visitor_id, ())
                if c.tenant_id == event.tenant_id
            }
            await self._send_all(visitors, event.visitor_frame)

    async def _revoke(self, event: UserSessionsRevoked) -> None:
        for conn in list(self._by_user.get(event.user_id, ())):
            if event.only_session_id is not None:
                ending = conn.session_id == event.only_session_id
            else:
                ending = conn.session_id != event.keep_session_id
            if ending:
                with contextlib.suppress(Exception):
                    await conn.ws.close(code=CLOSE_UNAUTHENTICATED)
                self.remove(conn)

    async def close(self) -> None:
        conns = {c for group in self._by_user.values() for c in group}
        conns |= {c for group in self._by_visitor.values() for c in group}
        for conn in conns:
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001)
        for index in (self._by_user, self._staff_by_tenant, self._by_visitor, self._watchers):
            index.clear()
