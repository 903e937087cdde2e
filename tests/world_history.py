"""Helpers for the blacklist, callback and history tests (no tests here)."""

from __future__ import annotations

from typing import Any

from tests.chat_helpers import Visitor, new_widget, staff_socket
from tests.helpers import Api, Client, Tenant


class Desk:
    """A tenant with a widget, and helpers to give conversations to agents."""

    def __init__(self, api: Api, base_url: str, t: Tenant | None = None) -> None:
        self.api = api
        self.base_url = base_url
        self.t = t or api.provision()
        self.widget = new_widget(self.t)

    def visitor(self, name: str = "") -> Visitor:
        profile = {"profile": {"name": name}} if name else {}
        return Visitor(self.api, self.widget, **profile)

    def held(self, agent: Client, visitor: Visitor | None = None) -> tuple[Visitor, int]:
        """A conversation of `agent` (online and the only one Idle while the visitor writes)."""
        v = visitor or self.visitor()
        ws = staff_socket(self.base_url, agent)
        try:
            agent.ok("PUT", "/me/status", json={"status": "idle"})
            conv = int(v.send("hello")["conversation_id"])
            got = self.t.admin.ok("GET", f"/conversations/{conv}")
            assert got["state"] == "ongoing" and got["agent"]["id"] == agent.me["id"], got
            agent.ok("PUT", "/me/status", json={"status": "busy"})
        finally:
            ws.close()
        return v, conv

    def ended(self, agent: Client, visitor: Visitor | None = None) -> tuple[Visitor, int]:
        v, conv = self.held(agent, visitor)
        agent.ok("POST", f"/conversations/{conv}/end")
        return v, conv

    def switch(self, **values: bool) -> None:
        self.t.admin.ok("PATCH", "/tenant/switches", json=values)


def error(r: Any) -> str:
    return str(r.json()["error"]["code"])


# --- the permission matrix's requests (tests/test_permission_matrix.py World `w`) -------------
def _ended_by_caller(w: Any, caller: str) -> int | None:
    """A conversation the caller took part in and that has ended; None if they cannot hold."""
    session = w.session_of(caller)
    if session is None:
        return None
    if w.can_hold[caller]:
        held = w.new_held(caller)
        with w.client(session) as c:
            r = c.post(f"/conversations/{held.conversation_id}/end")
        assert r.status_code == 200, r.text
        return int(held.conversation_id)
    # No workbench page: the holder transfers a conversation to them (online meanwhile), and the
    # admin ends it from Current sessions.
    from tests.world_chat import staff_socket as world_staff_socket

    me = w.routing.user_id(session)
    held = w.routing.hold(w.holder_session)
    with world_staff_socket(w.base, session), w.client(w.holder_session) as c:
        r = c.post(f"/conversations/{held.conversation_id}/transfer", json={"agent_id": me})
    assert r.status_code == 200 and r.json()["outcome"] == "transferred", r.text
    w.t.admin.ok("POST", f"/current-sessions/{held.conversation_id}/end")
    return int(held.conversation_id)


def history_conversation(w: Any, caller: str) -> int:
    """An ended conversation the caller sees in History (admins: any; agents: one of theirs)."""
    if caller == "admin" or caller == "custom_page:admin.history":
        return int(w.routing.ended_conversation())
    if caller in ("agent", "custom_page:agent.history"):
        conv = _ended_by_caller(w, caller)
        assert conv is not None
        return conv
    return int(w.routing.ended_conversation())


def callback_conversation(w: Any, caller: str) -> int:
    """An ended conversation of the caller's (callers who cannot hold: any ended one)."""
    if w.can_hold[caller] and w.session_of(caller) is not None:
        conv = _ended_by_caller(w, caller)
        assert conv is not None
        return conv
    return int(w.routing.ended_conversation())


def blacklist_visitor(w: Any, caller: str) -> int:
    """A fresh visitor the caller's Customer center covers (built-in agents: one they served)."""
    if caller == "agent":
        return int(w.new_held(caller).visitor.id)
    return int(w.chat.visitor_with_conversation())


def pending_blacklist(w: Any) -> int:
    """An agent's pending blacklist request (the approval switch is on only meanwhile)."""
    held = w.routing.hold(w.holder_session)
    w.t.admin.ok("PATCH", "/tenant/switches", json={"blacklist_approval": True})
    try:
        with w.client(w.holder_session) as c:
            r = c.post(f"/conversations/{held.conversation_id}/blacklist", json={"reason": "m"})
            # The request stays pending; the holder keeps room for the next conversation.
            c.post(f"/conversations/{held.conversation_id}/end")
    finally:
        w.t.admin.ok("PATCH", "/tenant/switches", json={"blacklist_approval": False})
    assert r.status_code == 200 and r.json()["outcome"] == "pending", r.text
    return int(r.json()["entry"]["id"])


def active_blacklist(w: Any) -> int:
    visitor = w.chat.visitor_with_conversation()
    out = w.t.admin.ok("POST", "/blacklist", json={"visitor_id": visitor, "reason": "m"})
    return int(out["entry"]["id"])


# --- tests/test_cross_tenant.py: a blacklist entry of a tenant, and reading it back -----------
def make_blacklist_entry(t: Tenant) -> int:
    from tests.world_chat import chat_of

    visitor = chat_of(t).visitor_with_conversation()
    out = t.admin.ok("POST", "/blacklist", json={"visitor_id": visitor, "reason": "probe"})
    return int(out["entry"]["id"])


def read_blacklist_entry(t: Tenant, entry_id: int) -> Any:
    items = t.admin.ok("GET", "/blacklist", params={"state": "all", "page_size": 100})["items"]
    return next((e for e in items if e["id"] == entry_id), None)
