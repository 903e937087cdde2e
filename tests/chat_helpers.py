"""Chat test clients: a widget, a visitor (REST + socket) and staff sockets, all real."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any

from websockets.sync.client import ClientConnection, connect

from tests.helpers import Api, Client, Tenant


def new_widget(t: Tenant, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = t.admin.ok("POST", "/widgets", json={"name": "Site", **fields})
    return body


def cid() -> str:
    return uuid.uuid4().hex


class Visitor:
    """A browser with the widget: its own random token, REST calls and one socket."""

    def __init__(self, api: Api, widget: dict[str, Any], **session: Any) -> None:
        self.api = api
        self.widget = widget
        self.token = secrets.token_urlsafe(16)
        self.http: Client = api.client(headers={"Authorization": f"Visitor {self.token}"})
        self.session = self.http.ok(
            "POST",
            "/visitor/session",
            json={"widget_key": widget["key"], "token": self.token, **session},
        )
        self.id: int = self.session["visitor"]["id"]

    def send(self, text: str, client_msg_id: str | None = None, **kw: Any) -> dict[str, Any]:
        body: dict[str, Any] = self.http.ok(
            "POST",
            "/visitor/messages",
            json={"client_msg_id": client_msg_id or cid(), "kind": "text", "body": {"text": text}},
            **kw,
        )
        return body

    def socket(self, base_url: str, **kw: Any) -> ClientConnection:
        url = (
            base_url.replace("http://", "ws://") + f"/api/v1/visitor/ws?widget={self.widget['key']}"
        )
        ws = connect(url, open_timeout=20, **kw).__enter__()
        ws.send(json.dumps({"type": "auth", "token": self.token}))
        hello = recv(ws)
        assert hello["type"] == "hello", hello
        return ws


def staff_socket(base_url: str, client: Client) -> ClientConnection:
    ws = connect(
        base_url.replace("http://", "ws://") + "/api/v1/ws",
        additional_headers={"Cookie": f"kefu_session={client.cookies['kefu_session']}"},
        origin=base_url,
        open_timeout=20,
    ).__enter__()
    assert recv(ws)["type"] == "hello"
    return ws


def recv(ws: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(ws.recv(timeout=timeout))
    return frame


def recv_until(
    ws: ClientConnection, pred: Callable[[dict[str, Any]], bool], timeout: float = 5
) -> dict[str, Any]:
    """The first frame matching `pred`, skipping others (presence, queue counts)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "no matching frame"
        frame = recv(ws, left)
        if pred(frame):
            return frame


def event_named(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f.get("type") == "event" and f.get("name") == name
