"""Baseline: a bare Starlette WebSocket relay speaking Kefu's frames, without persistence.

It implements only what the load generator uses, with Kefu's shapes (docs/protocol.md):

* `/api/v1/ws` (agents): `hello` with a `user_id`; `ping` -> `pong`.
* `/api/v1/visitor/ws?widget=…` (visitors): first frame `{"type":"auth","token":…}` -> `hello`
  with the visitor's conversation, assigned at once to the least-loaded connected agent;
  `send` -> `ack` to the visitor, then `event` `message.created` to the assigned agent's socket
  and to the visitor's own socket (as Kefu fans out); `ping` -> `pong`.
* `GET /api/v1/health` (readiness; with a persisting store also its batch counters).

Each socket's frames are handled one at a time, like Kefu's sockets. `bench/relay_sqlite.py`
plugs a store into the same relay; the store's `persist` returns once the message is committed
and the ack is sent only after that (persist, then acknowledge).

Run: `python -m bench.relay_bare --port 8101`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

HEARTBEAT_SECONDS = 25
AUTH_SECONDS = 10
CLOSE_UNAUTHENTICATED = 4401


class Store(Protocol):
    """Where a persisting relay writes messages (ack only after `persist` returns)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def persist(self, message: dict[str, Any]) -> None: ...

    def stats(self) -> dict[str, Any]: ...


class Agent:
    def __init__(self, ws: WebSocket, user_id: int) -> None:
        self.ws = ws
        self.user_id = user_id
        self.load = 0


async def _send(ws: WebSocket, text: str) -> None:
    # Like Kefu's Conn.send_now: a socket that went away does not fail the sender.
    with contextlib.suppress(Exception):
        await ws.send_text(text)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class Relay:
    def __init__(self, store: Store | None = None) -> None:
        self.store = store
        self.agents: dict[int, Agent] = {}
        self._user_ids = itertools.count(1)
        self._visitor_ids = itertools.count(1)
        self._conversation_ids = itertools.count(1)
        self._message_ids = itertools.count(1)

    def app(self) -> Starlette:
        @contextlib.asynccontextmanager
        async def lifespan(_app: Starlette) -> AsyncIterator[None]:
            if self.store is not None:
                await self.store.start()
            try:
                yield
            finally:
                if self.store is not None:
                    await self.store.stop()

        return Starlette(
            routes=[
                Route("/api/v1/health", self.health),
                WebSocketRoute("/api/v1/ws", self.agent_socket),
                WebSocketRoute("/api/v1/visitor/ws", self.visitor_socket),
            ],
            lifespan=lifespan,
        )

    async def health(self, _request: Request) -> JSONResponse:
        body: dict[str, Any] = {"status": "ok", "agents": len(self.agents)}
        if self.store is not None:
            body["store"] = self.store.stats()
        return JSONResponse(body)

    def _pick_agent(self) -> Agent | None:
        """Least-loaded connected agent (Kefu balances by load as well)."""
        if not self.agents:
            return None
        return min(self.agents.values(), key=lambda a: (a.load, a.user_id))

    async def agent_socket(self, ws: WebSocket) -> None:
        await ws.accept()
        agent = Agent(ws, next(self._user_ids))
        self.agents[agent.user_id] = agent
        try:
            hello = {
                "type": "hello",
                "user_id": agent.user_id,
                "heartbeat": HEARTBEAT_SECONDS,
                "status": "idle",
            }
            await ws.send_text(json.dumps(hello))
            while True:
                raw = await asyncio.wait_for(ws.receive_text(), timeout=HEARTBEAT_SECONDS * 2)
                try:
                    msg = json.loads(raw)
                except ValueError:
                    msg = None
                if isinstance(msg, dict) and msg.get("type") == "ping":
                    await _send(ws, json.dumps({"type": "pong", "t": msg.get("t")}))
                else:
                    await _send(ws, json.dumps({"type": "error", "code": "bad_request"}))
        except (WebSocketDisconnect, TimeoutError):
            pass
        finally:
            self.agents.pop(agent.user_id, None)

    async def _auth(self, ws: WebSocket) -> str | None:
        try:
            raw = await asyncio.wait_for(ws.receive_text(), timeout=AUTH_SECONDS)
            frame = json.loads(raw)
        except (TimeoutError, ValueError, WebSocketDisconnect):
            return None
        if not isinstance(frame, dict) or frame.get("type") != "auth":
            return None
        token = frame.get("token")
        if not isinstance(token, str) or not 22 <= len(token) <= 64:
            return None
        return token

    async def visitor_socket(self, ws: WebSocket) -> None:
        await ws.accept()
        if await self._auth(ws) is None:
            with contextlib.suppress(RuntimeError):
                await ws.close(code=CLOSE_UNAUTHENTICATED)
            return
        visitor_id = next(self._visitor_ids)
        conversation_id = next(self._conversation_ids)
        agent = self._pick_agent()
        if agent is not None:
            agent.load += 1
        seq = 0
        conversation = {
            "id": conversation_id,
            "state": "ongoing" if agent is not None else "waiting",
            "channel": "web",
            "seq": seq,
            "visitor": {"id": visitor_id, "name": f"访客{visitor_id}"},
            "agent": {"id": agent.user_id, "nickname": f"agent{agent.user_id}"} if agent else None,
        }
        hello = {
            "type": "hello",
            "visitor_id": visitor_id,
            "heartbeat": HEARTBEAT_SECONDS,
            "conversation": conversation,
        }
        try:
            await ws.send_text(json.dumps(hello))
            while True:
                raw = await asyncio.wait_for(ws.receive_text(), timeout=HEARTBEAT_SECONDS * 2)
                try:
                    msg = json.loads(raw)
                except ValueError:
                    msg = None
                if not isinstance(msg, dict):
                    await _send(ws, json.dumps({"type": "error", "code": "bad_request"}))
                    continue
                kind = msg.get("type")
                if kind == "ping":
                    await _send(ws, json.dumps({"type": "pong", "t": msg.get("t")}))
                    continue
                if kind != "send":
                    await _send(ws, json.dumps({"type": "error", "code": "bad_request"}))
                    continue
                client_msg_id = msg.get("client_msg_id")
                body = msg.get("body")
                text = body.get("text") if isinstance(body, dict) else None
                if (
                    not isinstance(client_msg_id, str)
                    or not 1 <= len(client_msg_id) <= 64
                    or msg.get("kind") != "text"
                    or not isinstance(text, str)
                    or not 1 <= len(text) <= 5000
                ):
                    nack = {
                        "type": "nack",
                        "client_msg_id": client_msg_id,
                        "code": "validation_error",
                        "message": "invalid send",
                    }
                    await _send(ws, json.dumps(nack))
                    continue
                seq += 1
                now = _now()
                message = {
                    "id": next(self._message_ids),
                    "conversation_id": conversation_id,
                    "seq": seq,
                    "client_msg_id": client_msg_id,
                    "kind": "text",
                    "sender": {"type": "visitor", "id": visitor_id, "name": f"访客{visitor_id}"},
                    "body": {"text": text},
                    "whisper": False,
                    "recalled": False,
                    "created_at": now,
                }
                if self.store is not None:
                    try:
                        await self.store.persist(message)
                    except Exception as exc:
                        nack = {
                            "type": "nack",
                            "client_msg_id": client_msg_id,
                            "code": "store_failed",
                            "message": str(exc)[:200],
                        }
                        await _send(ws, json.dumps(nack))
                        continue
                ack = {
                    "type": "ack",
                    "client_msg_id": client_msg_id,
                    "conversation_id": conversation_id,
                    "seq": seq,
                    "message": message,
                    "replayed": False,
                }
                await _send(ws, json.dumps(ack))
                event = json.dumps(
                    {
                        "type": "event",
                        "conversation_id": conversation_id,
                        "seq": seq,
                        "name": "message.created",
                        "data": {"message": message},
                        "at": now,
                    }
                )
                if agent is not None and agent.user_id in self.agents:
                    await _send(agent.ws, event)
                await _send(ws, event)
        except (WebSocketDisconnect, TimeoutError):
            pass
        finally:
            if agent is not None:
                agent.load -= 1


def serve(relay: Relay, host: str, port: int) -> None:
    import uvicorn

    # Same server settings as `kefu serve` (uvicorn defaults: uvloop, httptools, websockets).
    uvicorn.run(relay.app(), host=host, port=port, log_level="warning", ws_ping_interval=20)


def main() -> None:
    parser = argparse.ArgumentParser(description="Bare WebSocket relay (benchmark baseline).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8101)
    args = parser.parse_args()
    serve(Relay(), args.host, args.port)


if __name__ == "__main__":
    main()
