"""The load generator: visitor and agent sockets, open-loop schedules, latency bookkeeping.

Everything here runs on one asyncio loop in the benchmark process (never in a server process).
Latency is measured from a message's *scheduled* send time, so time a message waited because
the generator or the server fell behind is counted (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

HEARTBEAT_EVERY = 20.0  # app-level ping on sockets idle this long (Kefu closes after 50 s)
PAYLOAD = "benchmark message: the quick brown fox jumps over the lazy dog 0123456789"


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class Window:
    """One measurement: a fixed offered rate (or the closed-loop capacity step)."""

    tag: str
    offered: float | None  # msgs/s; None for closed loop
    start: float = 0.0
    end: float = 0.0  # end of the sending schedule
    sent: int = 0
    acked: int = 0
    delivered: int = 0
    acked_in_window: int = 0
    delivered_in_window: int = 0
    misrouted: int = 0
    answered_errors: int = 0  # nacks: answered, never stored
    cut_short: bool = False  # sending stopped early: the backlog bound was exceeded
    last_ack: float = 0.0
    last_delivery: float = 0.0
    latencies: list[float] = field(default_factory=list)  # visitor -> agent, seconds
    sent_at: list[float] = field(default_factory=list)  # when each of `latencies` was due
    ack_latencies: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)  # generator: actual send - scheduled
    errors: Counter[str] = field(default_factory=Counter)


@dataclass
class Pending:
    cmid: str
    window: Window
    scheduled: float
    agent_id: int | None
    visitor: VisitorSock
    acked: bool = False
    delivered: bool = False


@dataclass
class AgentSock:
    ws: ClientConnection
    user_id: int
    last_sent: float = 0.0
    frames: int = 0


@dataclass
class VisitorSock:
    ws: ClientConnection
    index: int
    visitor_id: int
    agent_id: int | None
    conversation_state: str | None
    last_sent: float = 0.0
    waiter: asyncio.Future[None] | None = None  # closed loop: the outstanding send


class Fleet:
    """All sockets of one target, and the bookkeeping their reader tasks update."""

    def __init__(self, name: str, ws_base: str, compression: str | None) -> None:
        self.name = name
        self.ws_base = ws_base
        self.compression = compression
        self.agents: dict[int, AgentSock] = {}
        self.visitors: list[VisitorSock] = []
        self.inflight: dict[str, Pending] = {}
        self.sent_ids: set[str] = set()
        self.acked_ids: set[str] = set()
        self.closed: Counter[str] = Counter()
        self.unmatched_frames: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        self._windows = itertools.count(1)

    # -- connecting -------------------------------------------------------------------------

    async def _connect(self, path: str, **kw: Any) -> ClientConnection:
        return await connect(
            self.ws_base + path,
            open_timeout=30,
            ping_interval=None,  # uvicorn pings the clients (ws_ping_interval=20); they pong
            max_queue=1024,
            compression=self.compression,
            **kw,
        )

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def add_agent(self, headers: dict[str, str], origin: str | None) -> AgentSock:
        ws = await self._connect("/api/v1/ws", additional_headers=headers, origin=origin)
        hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if hello.get("type") != "hello":
            raise RuntimeError(f"{self.name}: staff socket answered {hello}")
        agent = AgentSock(ws, int(hello["user_id"]), last_sent=time.perf_counter())
        self.agents[agent.user_id] = agent
        self._spawn(self._agent_reader(agent))
        return agent

    async def add_visitor(self, index: int, widget_key: str, token: str) -> VisitorSock:
        ws = await self._connect(f"/api/v1/visitor/ws?widget={widget_key}")
        await ws.send(json.dumps({"type": "auth", "token": token}))
        hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if hello.get("type") != "hello":
            raise RuntimeError(f"{self.name}: visitor socket answered {hello}")
        conv = hello.get("conversation") or {}
        agent = conv.get("agent") or {}
        v = VisitorSock(
            ws,
            index,
            int(hello["visitor_id"]),
            agent.get("id"),
            conv.get("state"),
            last_sent=time.perf_counter(),
        )
        self.visitors.append(v)
        self._spawn(self._visitor_reader(v))
        return v

    async def open_probe(
        self, widget_key: str, token: str, compression: str | None
    ) -> ClientConnection:
        """An extra visitor socket, authenticated and idle (memory probes); no reader task."""
        ws = await connect(
            self.ws_base + f"/api/v1/visitor/ws?widget={widget_key}",
            open_timeout=30,
            ping_interval=None,
            compression=compression,
        )
        await ws.send(json.dumps({"type": "auth", "token": token}))
        hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if hello.get("type") != "hello":
            raise RuntimeError(f"{self.name}: probe socket answered {hello}")
        return ws

    def open_connections(self) -> int:
        socks: list[ClientConnection] = [a.ws for a in self.agents.values()]
        socks += [v.ws for v in self.visitors]
        return sum(1 for ws in socks if ws.close_code is None)

    # -- readers ----------------------------------------------------------------------------

    async def _agent_reader(self, agent: AgentSock) -> None:
        try:
            async for raw in agent.ws:
                now = time.perf_counter()
                agent.frames += 1
                if '"message.created"' not in raw:
                    continue
                frame = json.loads(raw)
                if frame.get("type") != "event" or frame.get("name") != "message.created":
                    continue
                cmid = ((frame.get("data") or {}).get("message") or {}).get("client_msg_id")
                p = self.inflight.get(cmid) if isinstance(cmid, str) else None
                if p is None or p.delivered:
                    self.unmatched_frames["agent_event"] += 1
                    continue
                p.delivered = True
                w = p.window
                w.delivered += 1
                w.last_delivery = now
                w.latencies.append(now - p.scheduled)
                w.sent_at.append(p.scheduled)
                if now <= w.end:
                    w.delivered_in_window += 1
                if p.agent_id is not None and p.agent_id != agent.user_id:
                    w.misrouted += 1
                if p.acked:
                    self.inflight.pop(p.cmid, None)
        except ConnectionClosed as exc:
            self.closed[f"agent:{exc.rcvd.code if exc.rcvd else 'none'}"] += 1
        else:
            code = agent.ws.close_code
            self.closed[f"agent:{code}"] += 1

    async def _visitor_reader(self, v: VisitorSock) -> None:
        try:
            async for raw in v.ws:
                now = time.perf_counter()
                if '"ack"' not in raw and '"nack"' not in raw and '"error"' not in raw:
                    continue  # its own message.created echo, pong, assignment events
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind not in ("ack", "nack", "error"):
                    continue
                cmid = frame.get("client_msg_id")
                p = self.inflight.get(cmid) if isinstance(cmid, str) else None
                if kind == "error" or p is None:
                    self.unmatched_frames[f"visitor_{kind}:{frame.get('code')}"] += 1
                    if p is None:
                        continue
                w = p.window
                if kind == "ack":
                    if not p.acked:
                        p.acked = True
                        w.acked += 1
                        w.last_ack = now
                        self.acked_ids.add(cmid)
                        w.ack_latencies.append(now - p.scheduled)
                        if now <= w.end:
                            w.acked_in_window += 1
                else:
                    w.errors[f"{kind}:{frame.get('code')}"] += 1
                    w.answered_errors += 1
                    p.acked = True  # answered; it will never be delivered
                    p.delivered = True
                if p.acked and p.delivered:
                    self.inflight.pop(cmid, None)
                if v.waiter is not None and not v.waiter.done():
                    v.waiter.set_result(None)
        except ConnectionClosed as exc:
            self.closed[f"visitor:{exc.rcvd.code if exc.rcvd else 'none'}"] += 1
        else:
            self.closed[f"visitor:{v.ws.close_code}"] += 1
        if v.waiter is not None and not v.waiter.done():
            v.waiter.set_result(None)

    # -- heartbeats -------------------------------------------------------------------------

    async def heartbeat(self) -> None:
        """Ping idle sockets so the server's 50-second silence timeout never fires."""
        while True:
            await asyncio.sleep(2)
            now = time.perf_counter()
            socks: list[AgentSock | VisitorSock] = [*self.agents.values(), *self.visitors]
            for s in socks:
                if now - s.last_sent > HEARTBEAT_EVERY and s.ws.close_code is None:
                    s.last_sent = now
                    with contextlib.suppress(ConnectionClosed):
                        await s.ws.send(json.dumps({"type": "ping", "t": int(now)}))

    # -- sending ----------------------------------------------------------------------------

    def _frame(self, cmid: str) -> str:
        return json.dumps(
            {"type": "send", "client_msg_id": cmid, "kind": "text", "body": {"text": PAYLOAD}}
        )

    async def _send(self, v: VisitorSock, w: Window, cmid: str, scheduled: float) -> None:
        p = Pending(cmid, w, scheduled, v.agent_id, v)
        self.inflight[cmid] = p
        self.sent_ids.add(cmid)
        w.sent += 1
        try:
            await v.ws.send(self._frame(cmid))
        except ConnectionClosed:
            w.errors["send_on_closed_socket"] += 1
            p.acked = p.delivered = True
            self.inflight.pop(cmid, None)
            return
        v.last_sent = now = time.perf_counter()
        w.lags.append(now - scheduled)

    async def open_loop(self, rate: float, duration: float, max_backlog: int) -> Window:
        """Send `rate` msgs/s for `duration` s, round-robin over visitors, regardless of replies.

        Sending stops early (`cut_short`) once more than `max_backlog` sends are unanswered: the
        server is saturated, and a longer backlog would only lengthen the drain that follows.
        """
        w = Window(f"{self.name[0]}{next(self._windows)}", rate)
        live = [v for v in self.visitors if v.ws.close_code is None]
        if not live:
            w.errors["no_open_visitor_socket"] += 1
            return w
        total = int(rate * duration)
        interval = 1.0 / rate
        w.start = time.perf_counter() + 0.02
        w.end = w.start + duration
        k = 0
        while k < total:
            now = time.perf_counter()
            due = min(total, int((now - w.start) / interval) + 1) if now >= w.start else 0
            while k < due:
                await self._send(live[k % len(live)], w, f"{w.tag}-{k}", w.start + k * interval)
                k += 1
            if w.sent - w.acked - w.answered_errors > max_backlog:
                w.cut_short = True
                w.end = time.perf_counter()
                break
            if k < total:
                delay = w.start + k * interval - time.perf_counter()
                await asyncio.sleep(max(0.0, delay))
        return w

    async def closed_loop(self, duration: float, concurrency: int | None = None) -> Window:
        """Capacity: `concurrency` visitors (default all) keep one send outstanding each."""
        w = Window(f"{self.name[0]}{next(self._windows)}", None)
        w.start = time.perf_counter()
        w.end = w.start + duration
        counter = itertools.count()

        async def one(v: VisitorSock) -> None:
            while time.perf_counter() < w.end and v.ws.close_code is None:
                v.waiter = asyncio.get_running_loop().create_future()
                await self._send(v, w, f"{w.tag}-{next(counter)}", time.perf_counter())
                try:
                    await asyncio.wait_for(v.waiter, timeout=max(0.1, w.end - time.perf_counter()))
                except TimeoutError:
                    break
                finally:
                    v.waiter = None

        live = [v for v in self.visitors if v.ws.close_code is None][:concurrency]
        await asyncio.gather(*(one(v) for v in live))
        return w

    def unfinished(self, w: Window) -> int:
        return sum(1 for p in self.inflight.values() if p.window is w)

    async def drain(self, w: Window, grace: float) -> bool:
        """Wait until every message of `w` is acked and delivered, or `grace` seconds pass."""
        deadline = time.perf_counter() + grace
        while time.perf_counter() < deadline:
            if not any(p.window is w for p in self.inflight.values()):
                return True
            await asyncio.sleep(0.05)
        return False

    async def drain_all(self, grace: float) -> bool:
        deadline = time.perf_counter() + grace
        while time.perf_counter() < deadline:
            if not self.inflight:
                return True
            await asyncio.sleep(0.05)
        return not self.inflight

    async def close(self) -> None:
        socks = [a.ws for a in self.agents.values()] + [v.ws for v in self.visitors]
        await asyncio.gather(*(ws.close() for ws in socks), return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()


def summarize(w: Window, fleet: Fleet) -> dict[str, Any]:
    """The figures of one window (latencies in ms, rates in msgs/s over the sending period)."""
    duration = max(1e-6, w.end - w.start)
    lat = sorted(w.latencies)
    ack = sorted(w.ack_latencies)
    lags = sorted(w.lags)
    mine = [p for p in fleet.inflight.values() if p.window is w]
    unacked = sum(1 for p in mine if not p.acked)
    undelivered = sum(1 for p in mine if not p.delivered)

    def ms(v: float | None) -> float | None:
        return None if v is None else round(v * 1000, 2)

    if w.cut_short:
        # Saturated: the rate the server worked its backlog off, from start to the last answer.
        persisted = w.acked / max(1e-6, w.last_ack - w.start) if w.acked else 0.0
        delivered = w.delivered / max(1e-6, w.last_delivery - w.start) if w.delivered else 0.0
    else:
        persisted = w.acked_in_window / duration
        delivered = w.delivered_in_window / duration
    return {
        "offered": w.offered,
        "sent": w.sent,
        "seconds": round(duration, 2),
        "cut_short": w.cut_short,
        "persisted_per_s": round(persisted, 1),
        "delivered_per_s": round(delivered, 1),
        "acked": w.acked,
        "delivered": w.delivered,
        "p50_ms": ms(percentile(lat, 50)),
        "p95_ms": ms(percentile(lat, 95)),
        "p99_ms": ms(percentile(lat, 99)),
        "max_ms": ms(lat[-1] if lat else None),
        "ack_p99_ms": ms(percentile(ack, 99)),
        "errors": sum(w.errors.values()),
        "error_kinds": dict(w.errors),
        "unacked": unacked,
        "undelivered": undelivered,
        "lost": sum(1 for p in mine if not p.acked and not p.delivered),
        "misrouted": w.misrouted,
        "gen_lag_p99_ms": ms(percentile(lags, 99)),
        **_timeline(w),
    }


TIMELINE_AFTER_S = 60.0  # windows at least this long report their p99 per slice of time
TIMELINE_SLICE_S = 10.0


def _timeline(w: Window) -> dict[str, Any]:
    """Long windows: p99 (ms) of the messages sent in each 10-second slice, so that a
    degradation over time (or a single stall) shows where it happened."""
    if w.end - w.start < TIMELINE_AFTER_S:
        return {}
    slices: dict[int, list[float]] = {}
    for at, latency in zip(w.sent_at, w.latencies, strict=True):
        slices.setdefault(int((at - w.start) // TIMELINE_SLICE_S), []).append(latency)
    p99 = [percentile(sorted(v), 99) for _, v in sorted(slices.items())]
    return {"p99_ms_by_10s": [None if v is None else round(v * 1000, 1) for v in p99]}
