"""The outermost ASGI middleware: request id, log context and HTTP request metrics."""

from __future__ import annotations

import time
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kefu.observability import context, metrics
from kefu.observability.slow import SlowWatch

HEADER = "X-Request-ID"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope) -> str:
    """The matched route's path template ("/api/v1/users/{user_id}"), never the raw path."""
    # FastAPI >= 0.16x keeps included routers nested: the matched route's own path lacks the
    # router prefixes; the effective route context has the full template.
    fastapi_scope = scope.get("fastapi")
    effective = fastapi_scope.get("effective_route_context") if fastapi_scope else None
    path = getattr(effective, "path", None)
    if not isinstance(path, str) or not path:
        path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path or "/"
    return "other"  # static files (mounts) and unrouted paths


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers") or ():
        if name == b"x-request-id":
            return context.sane_request_id(value.decode("latin-1"))
    return None


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, slow: SlowWatch | None = None) -> None:
        self.app = app
        self.slow = slow or SlowWatch(0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = _incoming_id(scope) or context.new_request_id()
        token = context.start(request_id)
        if scope["type"] == "websocket":
            await self._socket(scope, receive, send, token)
            return
        started = time.perf_counter()
        state: dict[str, Any] = {"status": None}
        disarm = self.slow.arm(lambda: f"{scope.get('method')} {route_template(scope)}")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = int(message["status"])
                MutableHeaders(scope=message).append(HEADER, request_id)
                _observe(scope, state["status"], started)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            if state["status"] is None:
                _observe(scope, 500, started)
            raise
        finally:
            disarm()
            context.reset(token)

    async def _socket(self, scope: Scope, receive: Receive, send: Send, token: Any) -> None:
        # Watched until the server's first frame (the hello, or a refusal): the handshake.
        disarm = self.slow.arm(lambda: f"socket handshake {scope.get('path')}")

        async def send_watched(message: Message) -> None:
            if message["type"] in ("websocket.send", "websocket.close"):
                disarm()
            await send(message)

        try:
            await self.app(scope, receive, send_watched)
        finally:
            disarm()
            context.reset(token)


def _observe(scope: Scope, status: int, started: float) -> None:
    method = str(scope.get("method", ""))
    metrics.HTTP_DURATION.labels(
        route_template(scope), method if method in _METHODS else "other", f"{status // 100}xx"
    ).observe(time.perf_counter() - started)
