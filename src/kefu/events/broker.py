"""The event broker: socket-bound events reach the sockets of every node (issue 7).

Without `KEFU_REDIS_URL` nothing here runs: the in-process `EventBus` hands each event to the
local hub and listeners, exactly as on one node.

With Redis, `RedisRelay` is the bus's `remote` leg (see docs/cluster.md):

- The committing node still runs every local listener (domain reactions such as queue drains)
  and delivers to its own sockets directly, honouring `Conn.hidden_events`. Listeners run once,
  on that node only; other nodes only deliver to their sockets.
- A socket-bound event (the hub's event types, `HUB_EVENTS`) is also serialised as JSON with
  its `type` and published to one Redis channel per recipient key: `u:<user>` (a staff user's
  sockets), `v:<visitor>`, `t:<tenant>` (every staff socket of a tenant: presence, queue) and
  `w:<conversation>` (admins watching it). A node subscribes to the channel of a key while it
  holds a socket for it, so Redis's own subscription table is the socket registry: a node gets
  only events with a recipient on it, and a dead node's subscriptions vanish with its
  connection. An event type without keys goes to the broadcast channel.
- Publishing never waits on Redis: events are queued and a sender task pipelines them. When
  Redis is away the events are dropped (they are committed; clients catch up) and, once it is
  back, every node re-sends `hello` with `"resync": true` to its sockets, which resume each
  conversation from their last `seq` exactly as after a reconnect. Logged once per outage.
- The origin node's own copies come back to it (it may hold the key too) and are skipped by the
  node id in the payload; a node holding several keys of one event keeps the first copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections import OrderedDict
from typing import Any

from pydantic import BaseModel
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from kefu.chat.hub import RealtimeHub
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

log = logging.getLogger("kefu.cluster")

PREFIX = "kefu:ev:"
BROADCAST = PREFIX + "*"
GAP = "gap"
QUEUE_SIZE = 20_000
BATCH = 500
SUBSCRIBE_CHUNK = 1000
SETTLE_SECONDS = 2.0
RESYNC_DELAY = 0.2
RESYNC_CONCURRENCY = 8
SEEN = 4096

# The events the hub delivers to sockets, by their `type`.
HUB_EVENTS: dict[str, type[BaseModel]] = {
    cls.model_fields["type"].default: cls
    for cls in (
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
}


def encode(event: BaseModel) -> str:
    """JSON with the event's `type` (every hub event carries it as a field)."""
    return event.model_dump_json()


def decode(text: str | bytes) -> BaseModel | None:
    """The hub event a payload holds; None for an unknown type (a newer node's event)."""
    data = json.loads(text)
    cls = HUB_EVENTS.get(str(data.get("type"))) if isinstance(data, dict) else None
    return cls.model_validate(data) if cls is not None else None


def keys_of(event: BaseModel) -> list[str] | None:
    """The recipient keys of a hub event (see RealtimeHub.on_keys); None: broadcast it."""
    if isinstance(event, ChatEvent):
        keys = [f"w:{event.conversation_id}", *(f"u:{a}" for a in event.agent_ids)]
        if event.visitor_frame is not None:
            keys.append(f"v:{event.visitor_id}")
        return keys
    if isinstance(event, ChatTyping):
        return [f"u:{event.agent_id}"]
    if isinstance(event, (ColleagueMessageSent, TransferRequestChanged)):
        return [f"u:{u}" for u in event.user_ids]
    if isinstance(event, (NotificationCreated, UserRoleChanged, UserUpdated, UserSessionsRevoked)):
        return [f"u:{event.user_id}"]
    if isinstance(event, (QueueChanged, PresenceChanged, LeaveMessagesChanged)):
        return [f"t:{event.tenant_id}"]
    return None


class RedisRelay:
    """The bus's cross-node leg: see the module docstring."""

    def __init__(self, url: str, node_id: str, hub: RealtimeHub) -> None:
        self.url = url
        self.node_id = node_id
        self.hub = hub
        self._ids = itertools.count(1)
        self._queue: asyncio.Queue[tuple[list[str], str]] = asyncio.Queue(QUEUE_SIZE)
        self._tasks: list[asyncio.Task[None]] = []
        self._pub: Redis | None = None
        self._ps: PubSub | None = None
        # Channels this node wants (keys with a local socket), sent and confirmed.
        self._wanted: set[str] = {BROADCAST}
        self._sent: set[str] = set()
        self._confirmed: set[str] = set()
        self._waiters: dict[str, asyncio.Future[None]] = {}
        self._wake = asyncio.Event()
        self._seen: OrderedDict[str, None] = OrderedDict()
        # Outage bookkeeping: logged once per outage.
        self._pub_down = False
        self._sub_down = False
        self._down_since: float | None = None
        self._dropped = 0
        self._resync_task: asyncio.Task[None] | None = None
        self._recovery: asyncio.Task[None] | None = None
        self.stats = {"published": 0, "received": 0, "dropped": 0, "resyncs": 0}

    # ---- wiring -------------------------------------------------------------------------------

    def install(self, bus: Any) -> None:
        bus.remote = self
        self.hub.on_keys = self.keys_changed
        self.hub.settle = self.settle

    def _client(self, *, timeout: float | None = None) -> Redis:
        # The publisher has a socket timeout (a hung Redis must not stall it); the subscriber
        # blocks on reads by design and relies on TCP keepalive.
        return Redis.from_url(
            self.url,
            socket_connect_timeout=2,
            socket_timeout=timeout,
            socket_keepalive=True,
            health_check_interval=15,
            retry=Retry(NoBackoff(), 0),
        )

    async def start(self) -> None:
        self._pub = self._client(timeout=5)
        self._tasks = [
            asyncio.create_task(self._sender(), name="kefu-broker-sender"),
            asyncio.create_task(self._subscriber(), name="kefu-broker-subscriber"),
            asyncio.create_task(self._subscriptions(), name="kefu-broker-subscriptions"),
        ]
        await self.settle()
        if not (self._pub_down or self._sub_down):
            metrics.REDIS_UP.set(1)

    async def stop(self) -> None:
        for task in [*self._tasks, self._resync_task, self._recovery]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._tasks = []
        if self._pub is not None:
            with contextlib.suppress(Exception):
                await self._pub.aclose()

    # ---- publishing ---------------------------------------------------------------------------

    def offer(self, event: BaseModel) -> None:
        """Queue a copy of a socket-bound event for the other nodes (never waits, never fails)."""
        kind = getattr(event, "type", None)
        if kind not in HUB_EVENTS:
            return  # a domain event: its listeners ran on this node
        if self._pub_down:
            self._drop(1)
            return
        keys = keys_of(event)
        channels = [PREFIX + k for k in keys] if keys is not None else [BROADCAST]
        payload = f"{self.node_id}|{next(self._ids)}|{encode(event)}"
        try:
            self._queue.put_nowait((channels, payload))
        except asyncio.QueueFull:
            self._drop(1)
            self._mark_down("publish", "relay queue full")

    def _drop(self, n: int) -> None:
        self._dropped += n
        self.stats["dropped"] += n

    async def _sender(self) -> None:
        assert self._pub is not None
        while True:
            batch = [await self._queue.get()]
            while len(batch) < BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                async with self._pub.pipeline(transaction=False) as pipe:
                    for channels, payload in batch:
                        for channel in channels:
                            pipe.publish(channel, payload)
                    await pipe.execute()
                self.stats["published"] += len(batch)
            except (RedisError, OSError) as err:
                self._drop(len(batch))
                self._mark_down("publish", err)
                await self._recover_publisher()

    async def _recover_publisher(self) -> None:
        """Drop what is queued, probe until Redis answers, then tell every node to resync."""
        self._pub_down = True
        backoff = 0.2
        while True:
            while not self._queue.empty():
                self._queue.get_nowait()
                self._drop(1)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
            try:
                assert self._pub is not None
                await self._pub.ping()
                await self._pub.publish(BROADCAST, f"{self.node_id}|{GAP}|")
            except (RedisError, OSError):
                continue
            self._pub_down = False
            self._mark_up()
            return

    # ---- subscriptions ------------------------------------------------------------------------

    def keys_changed(self, added: list[str], removed: list[str]) -> None:
        """The hub gained the first / lost the last local socket of these keys."""
        for key in added:
            channel = PREFIX + key
            self._wanted.add(channel)
            if channel not in self._confirmed and channel not in self._waiters:
                self._waiters[channel] = asyncio.get_running_loop().create_future()
        for key in removed:
            channel = PREFIX + key
            self._wanted.discard(channel)
            self._resolve(channel)
        self._wake.set()

    def _resolve(self, channel: str) -> None:
        fut = self._waiters.pop(channel, None)
        if fut is not None and not fut.done():
            fut.set_result(None)

    async def settle(self) -> None:
        """Wait (bounded) until Redis confirmed the channels of this node's current keys, so an
        event committed after a socket's `hello` reaches it (called before the hello)."""
        if self._ps is None or self._sub_down:
            return
        pending = [f for f in self._waiters.values() if not f.done()]
        if pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*pending), SETTLE_SECONDS)

    async def _subscriptions(self) -> None:
        """Send SUBSCRIBE / UNSUBSCRIBE for changes of the wanted channels, in batches."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            ps = self._ps
            if ps is None:
                continue
            add = sorted(self._wanted - self._sent)
            remove = sorted(self._sent - self._wanted)
            try:
                for i in range(0, len(add), SUBSCRIBE_CHUNK):
                    chunk = add[i : i + SUBSCRIBE_CHUNK]
                    self._sent.update(chunk)
                    await ps.subscribe(*chunk)
                for i in range(0, len(remove), SUBSCRIBE_CHUNK):
                    chunk = remove[i : i + SUBSCRIBE_CHUNK]
                    self._sent.difference_update(chunk)
                    await ps.unsubscribe(*chunk)
            except (RedisError, OSError):
                pass  # the reader sees the broken connection and reconnects

    async def _subscriber(self) -> None:
        backoff = 0.2
        first = True
        while True:
            ps = self._client().pubsub(ignore_subscribe_messages=False)
            try:
                await ps.connect()  # type: ignore[no-untyped-call]
                self._sent, self._confirmed = set(), set()
                for channel in self._wanted:
                    if channel not in self._waiters:
                        self._waiters[channel] = asyncio.get_running_loop().create_future()
                self._ps = ps
                self._wake.set()
                if not first or self._sub_down:  # events may have been missed meanwhile
                    self._recovery = asyncio.create_task(self._recovered())
                first = False
                backoff = 0.2
                await self._read(ps)
            except (RedisError, OSError) as err:
                self._mark_down("subscribe", err)
            finally:
                self._ps = None
                for channel in list(self._waiters):
                    self._resolve(channel)
                with contextlib.suppress(Exception):
                    await ps.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _recovered(self) -> None:
        """Subscribed again after a broken connection: what was missed meanwhile is resent by
        resync (clients resume from their last seq)."""
        await self.settle()
        self._sub_down = False
        self._mark_up()
        self.resync_soon()

    async def _read(self, ps: PubSub) -> None:
        while True:
            msg = await ps.get_message(ignore_subscribe_messages=False, timeout=None)
            if msg is None:
                continue
            kind = msg.get("type")
            channel = msg.get("channel")
            if isinstance(channel, bytes):
                channel = channel.decode()
            if kind == "subscribe":
                self._confirmed.add(channel)
                self._resolve(channel)
            elif kind == "unsubscribe":
                self._confirmed.discard(channel)
            elif kind == "message":
                await self._received(msg["data"])

    async def _received(self, data: bytes | str) -> None:
        text = data.decode() if isinstance(data, bytes) else data
        node, uid, body = text.split("|", 2)
        if node == self.node_id:
            return
        if uid == GAP:
            self.resync_soon()
            return
        key = f"{node}|{uid}"
        if key in self._seen:
            return
        self._seen[key] = None
        if len(self._seen) > SEEN:
            self._seen.popitem(last=False)
        try:
            event = decode(body)
        except ValueError:
            log.warning("undecodable broker payload from %s dropped", node)
            return
        if event is None:
            return
        self.stats["received"] += 1
        try:
            await self.hub.on_event(event)
        except Exception:
            log.exception("delivering a relayed %s failed", getattr(event, "type", "?"))

    # ---- outages and resync -------------------------------------------------------------------

    def _mark_down(self, side: str, err: object) -> None:
        metrics.REDIS_UP.set(0)
        if side == "subscribe":
            self._sub_down = True
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.warning(
                "redis unavailable (%s: %s): cross-node delivery paused, local delivery continues",
                side,
                err,
            )

    def _mark_up(self) -> None:
        if self._pub_down or self._sub_down:
            return
        metrics.REDIS_UP.set(1)
        if self._down_since is None:
            return
        log.warning(
            "redis back after %.1f s: %d events not relayed; sockets resynced",
            time.monotonic() - self._down_since,
            self._dropped,
        )
        self._down_since = None
        self._dropped = 0

    def resync_soon(self) -> None:
        """Send every local socket a fresh `hello` with `resync: true` (coalesced)."""
        if self._resync_task is not None and not self._resync_task.done():
            return
        self._resync_task = asyncio.create_task(self._resync(), name="kefu-broker-resync")

    async def _resync(self) -> None:
        await asyncio.sleep(RESYNC_DELAY)
        self.stats["resyncs"] += 1
        gate = asyncio.Semaphore(RESYNC_CONCURRENCY)

        async def rehello(conn: Any) -> bool:
            try:
                frame = dict(await conn.rehello())
            except Exception:
                log.debug("resync hello failed", exc_info=True)
                return False
            frame["resync"] = True
            await conn.send(frame)
            return True

        async def one(conn: Any) -> None:
            if conn.rehello is None:
                return
            async with gate:
                if not await rehello(conn):
                    # The database is away too (it builds the hello): without the resync hello
                    # the client would never catch up on conversations whose events all fell
                    # in the outage, so it comes once the database answers.
                    conn.retry(lambda: rehello(conn))

        await asyncio.gather(*(one(c) for c in self.hub.conns()))


def make_relay(redis_url: str, node_id: str, hub: RealtimeHub) -> RedisRelay | None:
    """The Redis leg when configured; None keeps the in-process bus alone (one node)."""
    return RedisRelay(redis_url, node_id, hub) if redis_url else None
