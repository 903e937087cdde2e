"""Sockets on this process and the routing of bus events to them (recipients explicit)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import WebSocket
from pydantic import BaseModel

from kefu.core import json_text
from kefu.events.types import (
    ChatEvent,
    ChatTyping,
    ColleagueMessageSent,
    LeaveMessagesChanged,
    NotificationCreated,
    PresenceChanged,
    QueueChanged,
    TransferRequestChanged,
    UserRoleChanged,
    UserSessionsRevoked,
    UserUpdated,
)
from kefu.observability import metrics

log = logging.getLogger("kefu.realtime")

# Close code for "signed out elsewhere"; 4401 mirrors HTTP 401.
CLOSE_UNAUTHENTICATED = 4401
# "Try again later": the database is unreachable while the socket opens.
CLOSE_TRY_AGAIN = 1013


# Frames waiting for one socket whose client is not reading them (its transport is paused):
# beyond this many, the socket is dropped (see `Conn.send_now`). A busy agent's socket gets
# a batch's frames (up to 128) at once, so the limit sits well above that.
OUTBOX_LIMIT = 1000


CLOSE_WAIT = 1.0  # seconds a close waits for the frames queued before it

# Catching up a socket while the database is away (`Conn.retry`): first wait, longest wait, and
# how long before the socket is closed with 1013 instead.
RETRY_FIRST = 0.5
RETRY_MAX = 5.0
RETRY_FOR = 300.0


@dataclass(frozen=True, slots=True)
class _Close:
    code: int


# A held chat event: (conversation id, seq, encoded frame); other held frames are plain text.
_HeldEvent = tuple[int, int, str]
# Replays what a socket missed of conversations (after the given seqs): `frames.resume` with the
# socket's own loader (staff or visitor rights), set by the socket endpoint.
Repair = Callable[[dict[int, int]], Awaitable[None]]


class Conn:
    """One open socket: a staff user's (user_id) or a visitor's (visitor_id).

    Gap repair (docs/protocol.md): the socket remembers the last seq it was sent per
    conversation. A live event further ahead than the next seq (an event was lost on the way,
    e.g. while the cluster broker was down) is sent only after the missing ones, replayed from
    the conversation log through `repair`; an event already sent is not sent again. So a
    client never sees a conversation's seq jump over an event it is entitled to.

    Slow clients: frames are written by a task of the socket's own (`_write`), so a client that
    stops reading (a frozen tab, a dead mobile link) holds up nobody else's frames, nor the
    batch writer that delivers them. Frames wait in the socket's outbox; past `OUTBOX_LIMIT`
    the socket is dropped (its endpoint ends, as on a disconnect): the client reconnects and
    resumes from its last seq, so nothing is lost.
    """

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
        # While a resume replays history (or before hello), live frames wait here so the
        # client sees hello first and every conversation in seq order. Holds nest.
        self._held: list[str | _HeldEvent] | None = None
        self._holds = 0
        # The last seq sent per conversation (live or replayed); see gap repair above.
        self.seqs: dict[int, int] = {}
        # Builds a fresh `hello` for this socket; sent with `resync: true` after a broker gap.
        self.rehello: Callable[[], Awaitable[dict[str, Any]]] | None = None
        self.repair: Repair | None = None
        # Frames not yet written and the task writing them (both only while there are some).
        self._outbox: deque[str | _Close] | None = None
        self._writer: asyncio.Task[None] | None = None
        self.dropped = False  # too slow: nothing more is written
        # The endpoint's task: cancelled when the socket is dropped (see `ended_by_drop`).
        self._endpoint = asyncio.current_task()
        # Catching up that waits for the database (`retry`), and whether the socket has ended.
        self._retries: set[asyncio.Task[None]] = set()
        self.gone = False

    async def send(self, message: dict[str, Any] | str) -> None:
        text = message if isinstance(message, str) else json_text.dumps(message)
        if self._held is not None:
            self._held.append(text)
            return
        await self.send_now(text)

    async def send_now(self, message: dict[str, Any] | str) -> None:
        """Queue a frame for this socket's writer; returns at once (see the class doc)."""
        self._post(message if isinstance(message, str) else json_text.dumps(message))

    async def close(self, code: int) -> None:
        """Close the socket after the frames already queued (at most `CLOSE_WAIT` for them)."""
        self._post(_Close(code))
        writer = self._writer
        if writer is not None:
            await asyncio.wait({writer}, timeout=CLOSE_WAIT)
        if self._writer is not None:  # still stuck: give up on the frames, close anyway
            self._writer.cancel()
            # A paused transport would hold the close frame too: bounded, like the frames.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_WAIT):
                    await self.ws.close(code=code)

    def close_soon(self, code: int) -> None:
        """Close after the frames already queued, without waiting."""
        self._post(_Close(code))

    def retry(self, attempt: Callable[[], Awaitable[bool]]) -> None:
        """Run `attempt` again, with backoff, until it returns True (done; False: the database
        is still away) or the socket closes. Past `RETRY_FOR` the socket is closed with 1013:
        its client reconnects and catches up then."""

        async def run() -> None:
            delay, deadline = RETRY_FIRST, time.monotonic() + RETRY_FOR
            while not self.gone:
                await asyncio.sleep(delay)
                if self.gone or await attempt():
                    return
                if time.monotonic() > deadline:
                    self.close_soon(CLOSE_TRY_AGAIN)
                    return
                delay = min(delay * 2, RETRY_MAX)

        task = asyncio.create_task(run())
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    def closed(self) -> None:
        """The endpoint has ended (the hub forgot this socket): pending retries stop."""
        self.gone = True
        for task in list(self._retries):
            task.cancel()

    def _post(self, item: str | _Close) -> None:
        if self.dropped:
            return
        if self._outbox is None:
            self._outbox = deque()
        elif len(self._outbox) >= OUTBOX_LIMIT:
            self._drop()
            return
        self._outbox.append(item)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())

    async def _write(self) -> None:
        outbox = self._outbox
        try:
            while outbox:
                item = outbox.popleft()
                if isinstance(item, _Close):
                    with contextlib.suppress(Exception):
                        await self.ws.close(code=item.code)
                    outbox.clear()
                    self.dropped = True  # closed: nothing more to write
                    break
                try:
                    await self.ws.send_text(item)
                except Exception:
                    outbox.clear()  # the socket is gone; its endpoint cleans up
                    break
        finally:
            if self._outbox is outbox:
                self._outbox = None
                self._writer = None

    def _drop(self) -> None:
        """The client stopped reading: stop writing to it and end its endpoint."""
        self.dropped = True
        self._outbox = None
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None
        metrics.slow_socket_dropped(self)
        log.warning("socket dropped: its client stopped reading (%s frames waiting)", OUTBOX_LIMIT)
        if self._endpoint is not None:
            self._endpoint.cancel()

    def ended_by_drop(self) -> bool:
        """For the endpoint catching CancelledError: True (and the cancel is taken back) when
        it came from `_drop`, so the endpoint ends as on a disconnect."""
        task = asyncio.current_task()
        if not self.dropped or task is None or task is not self._endpoint:
            return False
        task.uncancel()
        return True

    async def send_event(self, conversation_id: int, seq: int, text: str) -> None:
        """A live conversation event (encoded frame): in seq order, without gaps or repeats."""
        if self._held is not None:
            self._held.append((conversation_id, seq, text))
            return
        await self._deliver(conversation_id, seq, text)

    async def send_replayed(self, frame: dict[str, Any]) -> None:
        """A frame of a resume (replayed event, `resumed`, `resync`): sent at once, even when
        the socket already had the event (the client asked for it)."""
        kind = frame.get("type")
        conv = frame.get("conversation_id")
        if isinstance(conv, int):
            if kind in ("event", "resumed"):
                self.seqs[conv] = max(self.seqs.get(conv, 0), int(frame["seq"]))
            elif kind == "resync":
                self.seqs.pop(conv, None)  # the client reloads it; the next event starts over
        await self.send_now(frame)

    async def _deliver(self, conv: int, seq: int, text: str) -> None:
        last = self.seqs.get(conv)
        if last is not None and seq <= last:
            return  # already sent (a replay covered it)
        if last is not None and seq > last + 1 and self.repair is not None:
            # Missing events first. A visitor's seqs skip staff-only events, so this may find
            # nothing to add; the replay then only confirms the seq.
            self.hold()
            try:
                await self.repair({conv: last})
            except Exception:
                # Storage unavailable: keep the gap unfilled rather than skip it; the next
                # event of the conversation (or the client's next resume) repairs it.
                log.warning("gap repair of conversation %s failed", conv, exc_info=True)
                await self.release()
                return
            after = self.seqs.get(conv)
            if after is None or seq > after:
                await self.send_now(text)
                self.seqs[conv] = seq
            await self.release()
            return
        self.seqs[conv] = seq
        await self.send_now(text)

    def hold(self) -> None:
        self._holds += 1
        if self._held is None:
            self._held = []

    async def release(self, already_sent: set[tuple[int, int]] | None = None) -> None:
        """End a hold; the last one sends what was held (events not sent since, in order).

        `already_sent` is accepted for older callers: replayed events are known by `seqs`."""
        self._holds = max(0, self._holds - 1)
        if self._holds:
            return
        while self._held:
            item = self._held.pop(0)
            if isinstance(item, tuple):
                await self._deliver(*item)  # may hold again (a repair): new frames queue behind
            else:
                await self.send_now(item)
            if self._holds:
                return  # a nested hold took over; its release sends the rest
        if not self._holds:
            self._held = None


# `queue.changed` goes to every staff socket of the tenant and carries the whole count, so a
# burst of changes (visitors arriving, a drain) is sent at most this often per tenant, the
# latest count last: a big team would otherwise get a frame per change on every socket.
QUEUE_FRAME_SECONDS = 0.25


class RealtimeHub:
    def __init__(self) -> None:
        self._queue_latest: dict[int, int] = {}
        self._queue_sent_at: dict[int, float] = {}
        self._queue_flush: dict[int, asyncio.TimerHandle] = {}
        self._flushing: set[asyncio.Task[None]] = set()
        self._by_user: dict[int, set[Conn]] = defaultdict(set)
        self._staff_by_tenant: dict[int, set[Conn]] = defaultdict(set)
        self._by_visitor: dict[int, set[Conn]] = defaultdict(set)
        self._watchers: dict[int, set[Conn]] = defaultdict(set)
        # Cross-node broker hooks (kefu.events.broker): recipient keys ("u:1", "v:2", "t:3",
        # "w:4") that gained their first / lost their last local socket, and a wait until the
        # broker listens for new keys (called before a socket's hello).
        self.on_keys: Callable[[list[str], list[str]], None] | None = None
        self.settle: Callable[[], Awaitable[None]] | None = None

    def add(self, conn: Conn) -> None:
        added: list[str] = []
        for index, key, prefix in (
            (self._by_visitor, conn.visitor_id, "v"),
            (self._by_user, conn.user_id, "u"),
            (self._staff_by_tenant, conn.tenant_id if conn.user_id is not None else None, "t"),
        ):
            if key is not None:
                if not index.get(key):
                    added.append(f"{prefix}:{key}")
                index[key].add(conn)
        if added and self.on_keys is not None:
            self.on_keys(added, [])
        metrics.socket_opened(conn)

    def conns(self) -> list[Conn]:
        """Every local socket, once."""
        out = {c for group in self._by_user.values() for c in group}
        out |= {c for group in self._by_visitor.values() for c in group}
        return list(out)

    def remove(self, conn: Conn) -> None:
        pairs: list[tuple[dict[int, set[Conn]], int | None, str]] = [
            (self._by_user, conn.user_id, "u"),
            (self._staff_by_tenant, conn.tenant_id if conn.user_id is not None else None, "t"),
            (self._by_visitor, conn.visitor_id, "v"),
            *((self._watchers, cid, "w") for cid in conn.watching),
        ]
        removed: list[str] = []
        conn.closed()
        metrics.socket_closed(conn)
        for index, key, prefix in pairs:
            if key is None:
                continue
            conns = index.get(key)
            if conns is not None:
                conns.discard(conn)
                if not conns:
                    index.pop(key, None)
                    removed.append(f"{prefix}:{key}")
        if removed and self.on_keys is not None:
            self.on_keys([], removed)

    def watch(self, conn: Conn, conversation_id: int) -> None:
        conn.watching.add(conversation_id)
        if not self._watchers.get(conversation_id) and self.on_keys is not None:
            self.on_keys([f"w:{conversation_id}"], [])
        self._watchers[conversation_id].add(conn)

    def unwatch(self, conn: Conn, conversation_id: int) -> None:
        conn.watching.discard(conversation_id)
        conn.seqs.pop(conversation_id, None)  # a later watch starts over (the client reloads)
        conns = self._watchers.get(conversation_id)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                self._watchers.pop(conversation_id, None)
                if self.on_keys is not None:
                    self.on_keys([], [f"w:{conversation_id}"])

    def connection_count(self) -> int:
        return sum(len(c) for c in self._by_user.values()) + sum(
            len(c) for c in self._by_visitor.values()
        )

    async def _send_all(self, conns: set[Conn], message: dict[str, Any]) -> None:
        text = json_text.dumps(message)
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
            await self._queue_changed(event.tenant_id, event.waiting)
        elif isinstance(event, LeaveMessagesChanged):
            frame = {"type": "leave_messages.changed"}
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

    async def _queue_changed(self, tenant_id: int, waiting: int) -> None:
        """Send the count now, or, within `QUEUE_FRAME_SECONDS` of the last one, once then."""
        self._queue_latest[tenant_id] = waiting
        if tenant_id in self._queue_flush:
            return  # a send is due: it will carry this count
        loop = asyncio.get_running_loop()
        due = self._queue_sent_at.get(tenant_id, -QUEUE_FRAME_SECONDS) + QUEUE_FRAME_SECONDS
        if loop.time() >= due:
            await self._flush_queue(tenant_id)
            return

        def later() -> None:
            task = loop.create_task(self._flush_queue(tenant_id))
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)

        self._queue_flush[tenant_id] = loop.call_at(due, later)

    async def _flush_queue(self, tenant_id: int) -> None:
        self._queue_flush.pop(tenant_id, None)
        waiting = self._queue_latest.pop(tenant_id, None)
        if waiting is None:
            return
        self._queue_sent_at[tenant_id] = asyncio.get_running_loop().time()
        frame = {"type": "queue.changed", "waiting": waiting}
        await self._send_all(self._staff_by_tenant.get(tenant_id, set()), frame)

    async def _chat_event(self, event: ChatEvent) -> None:
        staff: set[Conn] = set(self._watchers.get(event.conversation_id, ()))
        for agent_id in event.agent_ids:
            staff |= {c for c in self._by_user.get(agent_id, ()) if c.tenant_id == event.tenant_id}
        conv, seq = event.conversation_id, int(event.staff_frame["seq"])
        text = json_text.dumps(event.staff_frame)
        await self._send_events(staff, conv, seq, text)
        if event.visitor_frame is not None:
            visitors = {
                c
                for c in self._by_visitor.get(event.visitor_id, ())
                if c.tenant_id == event.tenant_id
            }
            if event.visitor_frame is not event.staff_frame:  # else the same frame, encoded
                text = json_text.dumps(event.visitor_frame)
            await self._send_events(visitors, conv, seq, text)

    async def _send_events(self, conns: set[Conn], conv: int, seq: int, text: str) -> None:
        for conn in list(conns):
            await conn.send_event(conv, seq, text)

    async def _revoke(self, event: UserSessionsRevoked) -> None:
        for conn in list(self._by_user.get(event.user_id, ())):
            if event.only_session_id is not None:
                ending = conn.session_id == event.only_session_id
            else:
                ending = conn.session_id != event.keep_session_id
            if ending:
                await conn.close(CLOSE_UNAUTHENTICATED)
                self.remove(conn)

    async def close(self) -> None:
        for handle in self._queue_flush.values():
            handle.cancel()
        self._queue_flush.clear()
        conns = {c for group in self._by_user.values() for c in group}
        conns |= {c for group in self._by_visitor.values() for c in group}
        for conn in conns:
            metrics.socket_closed(conn)
        await asyncio.gather(*(conn.close(1001) for conn in conns))
        for index in (self._by_user, self._staff_by_tenant, self._by_visitor, self._watchers):
            index.clear()
