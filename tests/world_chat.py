"""Chat objects for the route-walking tests (permission matrix, cross-tenant, fuzzing).

Everything is made through the real API, as the widget and the console would: a widget, a visitor
(a random browser token registered with POST /visitor/session, then `Authorization: Visitor
<token>`), a conversation (a visitor's first message opens it), a message, an upload.

A conversation is assigned at once only to an agent who is online (an open staff socket), Idle,
has the agent.sessions page and room; otherwise it waits. `hold_conversation` arranges exactly
that for one user, so routes that need "the agent holding it" can be called by that user.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect
from websockets.typing import Origin

from tests.helpers import Tenant
from tests.route_walk import API_PREFIX, describe, png_bytes

SESSION_COOKIE = "kefu_session"


def cid() -> str:
    """A fresh client_msg_id."""
    return uuid.uuid4().hex


def visitor_token() -> str:
    """What the widget keeps in localStorage: 128 random bits, base64url (22 characters)."""
    return secrets.token_urlsafe(16)


def visitor_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Visitor {token}"}


def text_body(text: str = "hello") -> dict[str, Any]:
    """A valid send body (POST /visitor/messages, POST /conversations/{id}/messages)."""
    return {"client_msg_id": cid(), "kind": "text", "body": {"text": text}}


def png_upload() -> dict[str, Any]:
    """Multipart `files` for an image upload (its form field is `kind=image`)."""
    return {"file": ("pic.png", png_bytes(), "image/png")}


def _ok(r: httpx.Response, *status: int) -> Any:
    wanted = status or (200, 201, 204)
    assert r.status_code in wanted, f"{r.request.method} {r.request.url} -> {describe(r)}"
    return r.json() if r.content else None


@dataclass(frozen=True)
class ChatVisitor:
    id: int
    token: str
    widget_key: str

    @property
    def headers(self) -> dict[str, str]:
        return visitor_headers(self.token)


@dataclass(frozen=True)
class Held:
    """A conversation assigned to one user, with the visitor and the visitor's first message."""

    conversation_id: int
    visitor: ChatVisitor
    message_id: int


class TenantChat:
    """One tenant's chat objects. Visitor calls go through a client with no staff session."""

    def __init__(self, t: Tenant) -> None:
        self.t = t
        self.api_url = str(t.admin.base_url).rstrip("/")  # .../api/v1
        assert self.api_url.endswith(API_PREFIX), self.api_url
        self.base_url = self.api_url[: -len(API_PREFIX)]
        self.http = httpx.Client(base_url=self.api_url, timeout=30)
        self._widget: dict[str, Any] | None = None
        # What an object belongs to, for reading it back: message/visitor -> conversation, and
        # attachment -> its signed link.
        self.conversation_of_message: dict[int, int] = {}
        self.conversation_of_visitor: dict[int, int] = {}
        self.links: dict[int, str] = {}

    def close(self) -> None:
        self.http.close()

    # widgets and associations (admin) ----------------------------------------------------------
    @property
    def widget(self) -> dict[str, Any]:
        """The tenant's widget the visitors come through (made once)."""
        if self._widget is None:
            self._widget = self.new_widget()
        return self._widget

    def new_widget(self, **fields: Any) -> dict[str, Any]:
        body = {"name": f"Site {secrets.token_hex(3)}", **fields}
        widget: dict[str, Any] = self.t.admin.ok("POST", "/widgets", json=body)
        return widget

    def new_association(self) -> int:
        body = {"name": f"Assoc {secrets.token_hex(4)}"}
        return int(self.t.admin.ok("POST", "/associations", json=body)["id"])

    # visitors ----------------------------------------------------------------------------------
    def new_visitor(self, token: str | None = None) -> ChatVisitor:
        token = token or visitor_token()
        key = self.widget["key"]
        body = _ok(self.http.post("/visitor/session", json={"widget_key": key, "token": token}))
        return ChatVisitor(id=int(body["visitor"]["id"]), token=token, widget_key=key)

    def send(self, v: ChatVisitor, text: str = "hello") -> dict[str, Any]:
        """The visitor's message; the first one opens a conversation (waiting unless assigned)."""
        msg: dict[str, Any] = _ok(
            self.http.post("/visitor/messages", json=text_body(text), headers=v.headers), 201
        )
        self.conversation_of_message[int(msg["id"])] = int(msg["conversation_id"])
        self.conversation_of_visitor[v.id] = int(msg["conversation_id"])
        return msg

    def conversation(self) -> int:
        """A new visitor's new conversation (waiting, unless an agent is Idle)."""
        return int(self.send(self.new_visitor())["conversation_id"])

    def message(self) -> int:
        """A visitor's message in a new conversation."""
        return int(self.send(self.new_visitor())["id"])

    def visitor_with_conversation(self) -> int:
        """A visitor with a conversation (staff who see the conversation see the visitor)."""
        v = self.new_visitor()
        self.send(v)
        return v.id

    def upload(self, v: ChatVisitor | None = None) -> dict[str, Any]:
        """An image the visitor uploaded (the Attachment, with its signed link)."""
        v = v or self.new_visitor()
        att: dict[str, Any] = _ok(
            self.http.post(
                "/visitor/attachments",
                files=png_upload(),
                data={"kind": "image"},
                headers=v.headers,
            ),
            201,
        )
        self.links[int(att["id"])] = str(att["url"])
        return att

    def attachment(self) -> int:
        return int(self.upload()["id"])

    def signed_params(self, attachment_id: int) -> dict[str, str]:
        """The `exp` and `sig` query parameters of an attachment's signed link."""
        return dict(parse_qsl(urlsplit(self.links[attachment_id]).query))

    def file_path(self, attachment_id: int) -> str:
        """The signed link's path relative to /api/v1."""
        path = urlsplit(self.links[attachment_id]).path
        assert path.startswith(API_PREFIX), path
        return path[len(API_PREFIX) :]


# --- staff sockets and assignment -------------------------------------------------------------


def _ws_base(base_url: str) -> str:
    return base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + API_PREFIX


@contextlib.contextmanager
def staff_socket(base_url: str, session: str) -> Iterator[ClientConnection]:
    """A staff socket signed in with a session cookie (so the user is online), after hello."""
    # max_queue=None: frames nobody reads (presence, queue counts) never stall the client.
    with ws_connect(
        _ws_base(base_url) + "/ws",
        origin=Origin(base_url),
        open_timeout=10,
        proxy=None,
        max_queue=None,
        additional_headers={"Cookie": f"{SESSION_COOKIE}={session}"},
    ) as ws:
        hello = json.loads(ws.recv(timeout=10))
        assert hello.get("type") == "hello", hello
        yield ws


def visitor_socket_url(base_url: str, widget_key: str) -> str:
    return _ws_base(base_url) + f"/visitor/ws?widget={widget_key}"


def hold_conversation(chat: TenantChat, session: str, staff: httpx.Client | None = None) -> Held:
    """A new conversation assigned to the user signed in with `session`.

    The user comes online (a staff socket) and Idle; every other Idle user of the tenant is
    forced Busy by the tenant's admin, so the user is the only candidate when a new visitor
    writes. Then the user goes Busy again (so no later conversation lands on them by chance) and
    the socket closes; the conversation stays theirs. The user needs the agent.sessions page and
    room for one more conversation. `staff`: a client bound to /api/v1 sending that session (one
    is made for the call if not given).
    """
    if staff is None:
        with httpx.Client(
            base_url=chat.api_url, cookies={SESSION_COOKIE: session}, timeout=30
        ) as own:
            return hold_conversation(chat, session, own)
    admin = chat.t.admin
    me = int(_ok(staff.get("/me"))["id"])
    with staff_socket(chat.base_url, session):
        _ok(staff.put("/me/status", json={"status": "idle"}))
        for p in admin.ok("GET", "/presence"):
            if p["status"] == "idle" and p["user_id"] != me:
                admin.ok("PUT", f"/users/{p['user_id']}/status", json={"status": "busy"})
        v = chat.new_visitor()
        msg = chat.send(v, "please hold")
        conv = admin.ok("GET", f"/conversations/{msg['conversation_id']}")
        assert conv["state"] == "ongoing" and (conv["agent"] or {}).get("id") == me, (
            f"the conversation was not assigned to user {me}: {conv}"
        )
        _ok(staff.put("/me/status", json={"status": "busy"}))
    return Held(conversation_id=int(conv["id"]), visitor=v, message_id=int(msg["id"]))


# --- per-tenant registry (for factories that only get a Tenant) ------------------------------

_CHATS: dict[tuple[str, int], TenantChat] = {}


def chat_of(t: Tenant) -> TenantChat:
    """The chat objects of a tenant (one TenantChat per tenant of a live server)."""
    key = (str(t.admin.base_url), t.id)
    if key not in _CHATS:
        _CHATS[key] = TenantChat(t)
    return _CHATS[key]


def forget_chats() -> None:
    """Close the registry's clients (a test's server, and its tenants, are gone)."""
    for chat in _CHATS.values():
        chat.close()
    _CHATS.clear()
