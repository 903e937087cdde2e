"""Blacklist (§3.9): adding, approval switch, effect on a visitor's messages, removal, export."""

from __future__ import annotations

import json

from tests.conftest import LiveServer
from tests.exports_helpers import run_export
from tests.helpers import Api
from tests.world_history import Desk, error


def _notices(client: object, kind: str) -> list[dict[str, object]]:
    items = client.ok("GET", "/notifications")["items"]  # type: ignore[attr-defined]
    return [n for n in items if n["kind"] == kind]


def test_agent_blacklists_from_conversation_and_the_visitor_opens_nothing(
    api: Api, server: LiveServer
) -> None:
    desk = Desk(api, server.base_url)
    user, agent = api.add_user(desk.t)
    v, conv = desk.held(agent)
    # Reason required and at most 200 characters.
    r = agent.post(f"/conversations/{conv}/blacklist", json={"reason": "  "})
    assert r.status_code == 422, r.text
    r = agent.post(f"/conversations/{conv}/blacklist", json={"reason": "x" * 201})
    assert r.status_code == 422, r.text
    out = agent.ok("POST", f"/conversations/{conv}/blacklist", json={"reason": "辱骂客服"})
    assert out["outcome"] == "applied" and out["ended_conversation_id"] == conv
    assert out["entry"]["state"] == "active" and out["entry"]["requested_by"]["id"] == user["id"]
    ended = desk.t.admin.ok("GET", f"/history/{conv}")
    assert ended["end_reason"] == "blacklist" and ended["ended_by"] == "agent"
    assert ended["blacklist"]["reason"] == "辱骂客服"
    # The visitor is not told why: no message mentions the blacklist.
    texts = [
        m["body"].get("text", "")
        for m in v.http.ok("GET", f"/visitor/messages?conversation_id={conv}")
    ]
    assert not any("黑名单" in t or "blacklist" in t.lower() for t in texts)
    # Twice is refused.
    r = desk.t.admin.post("/blacklist", json={"visitor_id": v.id, "reason": "again"})
    assert r.status_code == 409 and error(r) == "visitor_blacklisted"
    # The visitor writes again: accepted (shown as sent), yet no conversation anywhere.
    before = desk.t.admin.ok("GET", "/history", params={"visitor_id": v.id})["total"]
    msg = v.send("are you there?", client_msg_id="blk-1")
    assert msg["conversation_id"] == 0 and msg["body"]["text"] == "are you there?"
    assert msg["sender"]["type"] == "visitor" and not msg["replayed"]
    again = v.http.post(
        "/visitor/messages",
        json={"client_msg_id": "blk-1", "kind": "text", "body": {"text": "are you there?"}},
    )
    assert again.status_code == 200 and again.json()["replayed"] and again.json()["id"] == msg["id"]
    assert v.http.ok("GET", "/visitor/conversation") in (None, {}) or (
        v.http.ok("GET", "/visitor/conversation")["id"] == conv
    )
    assert desk.t.admin.ok("GET", "/conversations", params={"state": "waiting"}) == []
    assert desk.t.admin.ok("GET", "/current-sessions") == []
    assert desk.t.admin.ok("GET", "/history", params={"visitor_id": v.id})["total"] == before
    # Removal restores normal behaviour.
    entry = desk.t.admin.ok("GET", "/blacklist")["items"][0]
    assert entry["visitor_id"] == v.id
    removed = desk.t.admin.ok("DELETE", f"/blacklist/{entry['id']}")
    assert removed["state"] == "removed" and removed["removed_by"]["id"] == desk.t.admin.me["id"]
    assert desk.t.admin.ok("GET", "/blacklist")["total"] == 0
    fresh = v.send("hello again")
    assert fresh["conversation_id"] not in (0, conv)


def test_approval_switch_makes_agent_additions_requests(api: Api, server: LiveServer) -> None:
    desk = Desk(api, server.base_url)
    desk.switch(blacklist_approval=True)
    _user, agent = api.add_user(desk.t)
    v, conv = desk.held(agent)
    out = agent.ok("POST", f"/conversations/{conv}/blacklist", json={"reason": "spam"})
    assert out["outcome"] == "pending" and out["ended_conversation_id"] is None
    # The conversation goes on; the visitor is not blacklisted yet.
    assert desk.t.admin.ok("GET", f"/conversations/{conv}")["state"] == "ongoing"
    assert desk.t.admin.ok("GET", "/blacklist")["total"] == 0
    pending = desk.t.admin.ok("GET", "/blacklist", params={"state": "pending"})["items"]
    assert [p["visitor_id"] for p in pending] == [v.id]
    [notice] = _notices(desk.t.admin, "blacklist_requested")
    assert notice["data"]["entry_id"] == pending[0]["id"] and notice["data"]["reason"] == "spam"
    r = agent.post(f"/conversations/{conv}/blacklist", json={"reason": "spam"})
    assert r.status_code == 409 and error(r) == "blacklist_request_pending"
    # Agents cannot decide.
    assert agent.post(f"/blacklist/{pending[0]['id']}/approve").status_code == 403
    decided = desk.t.admin.ok(
        "POST", f"/blacklist/{pending[0]['id']}/approve", json={"comment": "ok"}
    )
    assert decided["state"] == "active" and decided["decided_by"]["id"] == desk.t.admin.me["id"]
    # Approval ends the visitor's conversation at once.
    gone = desk.t.admin.ok("GET", f"/history/{conv}")
    assert gone["end_reason"] == "blacklist"
    [told] = _notices(agent, "blacklist_decided")
    assert told["data"]["decision"] == "approved" and told["data"]["visitor_id"] == v.id
    r = desk.t.admin.post(f"/blacklist/{pending[0]['id']}/reject")
    assert r.status_code == 409 and error(r) == "blacklist_request_closed"
    assert v.send("hi")["conversation_id"] == 0


def test_rejected_request_changes_nothing_and_admins_apply_at_once(
    api: Api, server: LiveServer
) -> None:
    desk = Desk(api, server.base_url)
    desk.switch(blacklist_approval=True)
    _user, agent = api.add_user(desk.t)
    v, conv = desk.held(agent)
    entry = agent.ok("POST", f"/conversations/{conv}/blacklist", json={"reason": "r"})["entry"]
    rejected = desk.t.admin.ok("POST", f"/blacklist/{entry['id']}/reject", json={"comment": "no"})
    assert rejected["state"] == "rejected"
    [told] = _notices(agent, "blacklist_decided")
    assert told["data"]["decision"] == "rejected" and told["data"]["comment"] == "no"
    assert desk.t.admin.ok("GET", f"/conversations/{conv}")["state"] == "ongoing"
    # An admin's own addition (by visitor id) applies at once even with the switch on.
    out = desk.t.admin.ok("POST", "/blacklist", json={"visitor_id": v.id, "reason": "admin"})
    assert out["outcome"] == "applied" and out["ended_conversation_id"] == conv
    assert desk.t.admin.ok("GET", f"/history/{conv}")["ended_by"] == "admin"


def test_switch_off_agent_additions_apply_at_once(api: Api, server: LiveServer) -> None:
    desk = Desk(api, server.base_url)
    _user, agent = api.add_user(desk.t)
    _v, conv = desk.ended(agent)
    out = agent.ok("POST", f"/history/{conv}/blacklist", json={"reason": "from history"})
    assert out["outcome"] == "applied" and out["entry"]["conversation_id"] == conv
    assert _notices(desk.t.admin, "blacklist_requested") == []


def test_blacklist_by_visitor_id_is_scoped_and_exported(api: Api, server: LiveServer) -> None:
    desk = Desk(api, server.base_url)
    _user, agent = api.add_user(desk.t)
    served, _ = desk.ended(agent)
    stranger = desk.visitor("Stranger")
    stranger.send("hi")  # waits: nobody is online
    desk.switch(customer_center_for_agents=True)  # agent-mode Customer center (§12.1)
    # A built-in agent's Customer center covers visitors they served only.
    r = agent.post("/blacklist", json={"visitor_id": stranger.id, "reason": "x"})
    assert r.status_code == 404 and error(r) == "not_found"
    agent.ok("POST", "/blacklist", json={"visitor_id": served.id, "reason": "=cmd|' /C calc'!A0"})
    out = desk.t.admin.ok(
        "POST", "/blacklist", json={"visitor_id": stranger.id, "reason": "waiting"}
    )
    # A waiting conversation ends too.
    assert out["ended_conversation_id"] is not None
    assert desk.t.admin.ok("GET", "/conversations", params={"state": "waiting"}) == []
    # Another tenant's visitor is unknown.
    other = Desk(api, server.base_url)
    foreign = other.visitor()
    r = desk.t.admin.post("/blacklist", json={"visitor_id": foreign.id, "reason": "x"})
    assert r.status_code == 404
    r = other.t.admin.delete(f"/blacklist/{out['entry']['id']}")
    assert r.status_code == 404 and error(r) == "not_found"
    assert other.t.admin.ok("GET", "/blacklist")["total"] == 0
    # Export (an export job, §14): a header and one row per entry; formulas are defused.
    ws = run_export(desk.t.admin, "blacklist", {}).active
    rows = list(ws.iter_rows(values_only=True))
    assert len(rows) == 3 and rows[0][0] in ("访客ID", "Visitor ID")
    reasons = {row[2] for row in rows[1:]}
    assert "waiting" in reasons and "'=cmd|' /C calc'!A0" in reasons
    r = agent.post("/exports", json={"kind": "blacklist", "params": {}})
    assert r.status_code == 403
    # Removing twice is refused.
    desk.t.admin.ok("DELETE", f"/blacklist/{out['entry']['id']}")
    r = desk.t.admin.delete(f"/blacklist/{out['entry']['id']}")
    assert r.status_code == 409 and error(r) == "blacklist_not_active"


def test_blacklisted_visitor_socket_send_is_acked_without_conversation(
    api: Api, server: LiveServer
) -> None:
    from tests.chat_helpers import cid, recv_until

    desk = Desk(api, server.base_url)
    v = desk.visitor()
    v.send("first")
    desk.t.admin.ok("POST", "/blacklist", json={"visitor_id": v.id, "reason": "socket"})
    ws = v.socket(server.base_url)
    try:
        msg_id = cid()
        frame = {"type": "send", "client_msg_id": msg_id, "kind": "text"}
        ws.send(json.dumps({**frame, "body": {"text": "still here"}}))
        ack = recv_until(ws, lambda f: f.get("type") in ("ack", "nack"))
        assert ack["type"] == "ack" and ack["conversation_id"] == 0, ack
        assert ack["message"]["body"]["text"] == "still here"
    finally:
        ws.close()
    assert desk.t.admin.ok("GET", "/conversations", params={"state": "waiting"}) == []


def test_blacklisted_visitor_menu_choice_and_reassign(api: Api, server: LiveServer) -> None:
    """The welcome menu accepts a blacklisted visitor's click and creates nothing; an admin
    cannot reassign their old conversation either (§3.9)."""
    desk = Desk(api, server.base_url)
    _user, agent = api.add_user(desk.t)
    v, conv = desk.ended(agent)
    desk.t.admin.ok("POST", "/blacklist", json={"visitor_id": v.id, "reason": "spam"})
    g = desk.t.admin.ok("POST", "/skill-groups", json={"name": "Sales"})
    desk.t.admin.ok(
        "PUT", "/welcome-menu", json={"items": [{"label": "Buy", "skill_group_id": g["id"]}]}
    )
    desk.switch(welcome_menu=True)
    item = desk.t.admin.ok("GET", "/welcome-menu")["items"][0]["id"]
    msg = v.http.ok("POST", "/visitor/menu-choice", json={"item_id": item, "client_msg_id": "b1"})
    assert msg["conversation_id"] == 0 and msg["body"]["text"] == "Buy"
    assert desk.t.admin.ok("GET", "/conversations", params={"state": "waiting"}) == []
    r = desk.t.admin.post(f"/conversations/{conv}/reassign", json={"skill_group_id": g["id"]})
    assert r.status_code == 409 and error(r) == "visitor_blacklisted"
