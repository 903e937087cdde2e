"""What every log record carries: request id, tenant, conversation (contextvars).

A request gets one mutable dict for its whole life (set by the request middleware, outermost),
so values bound deep inside a route — after Starlette has copied the context into other tasks —
still reach the access log line written when the response starts. A WebSocket frame gets a dict
of its own (`frame_scope`), so one frame's conversation does not leak into the next frame's lines.
"""

from __future__ import annotations

import contextvars
import re
import uuid
from typing import Any

_CTX: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "kefu_log_context", default=None
)

# What a client may send as X-Request-ID (nginx's $request_id, UUIDs, ULIDs, …): short and inert.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
FIELDS = ("request_id", "tenant_id", "conversation_id")


def new_request_id() -> str:
    return uuid.uuid4().hex


def sane_request_id(value: str | None) -> str | None:
    """An incoming X-Request-ID we may echo and log, or None (then we make one)."""
    if value and _REQUEST_ID.match(value):
        return value
    return None


def _as_id(value: Any) -> int | None:
    """Ids come from clients' frames too: keep only plain positive integers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and 0 < value <= 2**53:
        return value
    if isinstance(value, str) and value.isdigit() and len(value) <= 16:
        return int(value)
    return None


def start(request_id: str) -> contextvars.Token[dict[str, Any] | None]:
    """A fresh context for one request or connection (the middleware calls this)."""
    return _CTX.set({"request_id": request_id})


def reset(token: contextvars.Token[dict[str, Any] | None]) -> None:
    _CTX.reset(token)


def bind(*, tenant_id: Any = None, conversation_id: Any = None) -> None:
    """Record the tenant / conversation now known, for the rest of this request or frame."""
    ctx = _CTX.get()
    if ctx is None:
        ctx = {}
        _CTX.set(ctx)
    if (tid := _as_id(tenant_id)) is not None:
        ctx["tenant_id"] = tid
    if (cid := _as_id(conversation_id)) is not None:
        ctx["conversation_id"] = cid


def frame_scope(*, tenant_id: Any = None, conversation_id: Any = None) -> None:
    """A WebSocket frame starts: keep the connection's request id, forget the last frame's ids."""
    parent = _CTX.get() or {}
    ctx: dict[str, Any] = {}
    if "request_id" in parent:
        ctx["request_id"] = parent["request_id"]
    _CTX.set(ctx)
    bind(tenant_id=tenant_id, conversation_id=conversation_id)


def current() -> dict[str, Any]:
    return dict(_CTX.get() or {})
