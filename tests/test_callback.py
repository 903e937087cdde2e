"""Callback (§3.8): a new conversation of the calling agent with an ended one's visitor."""

from __future__ import annotations

import pytest

from kefu.conversations import dispatch
from tests.conftest import LiveServer
from tests.helpers import Api
from tests.world_history import Desk, error


def test_callback_gives_the_agent_a_new_conversation(api: Api, server: LiveServer) -> None:
    desk = Desk(api, server.base_url)
    user, agent = api.add_user(desk.t)
    v, conv = desk.ended(agent)
    out = agent.ok("POST", f"/conversations/{conv}/callback")["conversation"]
    assert out["id"] != conv and out["state"] == "ongoing"
    assert out["agent"]["id"] == user["id"] and out["visitor"]["id"] == v.id
    assert out["id"] in [c["id"] for c in agent.ok("GET", "/conversations")]
    # The visitor's widget sees the new conversation.
    assert v.http.ok("GET", "/visitor/conversation")["id"] == out["id"]
    # Its participation segment says callback (visible in History once it ends).
    agent.ok("POST", f"/conversations/{out['id']}/end")
    detail = agent.ok("GET", f"/history/{out['id']}")
    assert [s["start_reason"] for s in detail["segments"]] == ["callback"]


def test_callback_refusals(api: Api, server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    desk = Desk(api, server.base_url)
    _user, agent = api.add_user(desk.t)
    _other_user, other = api.add_user(desk.t)
    v, conv = desk.ended(agent)
    # Only ended conversations: an ongoing one is not in History (404).
    _v2, live = desk.held(agent)
    r = agent.post(f"/conversations/{live}/callback")
    assert r.status_code == 404 and error(r) == "not_found"
    # The visitor already has an open conversation: refused, naming it.
    opened = int(v.send("back again")["conversation_id"])
    r = agent.post(f"/conversations/{conv}/callback")
    assert r.status_code == 409 and error(r) == "callback_visitor_busy"
    assert str(opened) in r.json()["error"]["message"]
    assert r.json()["error"]["fields"][0]["message"] == str(opened)
    desk.t.admin.ok("POST", f"/waiting/{opened}/end")
    # At the hard cap (§2.3): refused.
    monkeypatch.setattr(dispatch, "HARD_CAP", 1)
    r = agent.post(f"/conversations/{conv}/callback")
    assert r.status_code == 409 and error(r) == "callback_at_cap"
    monkeypatch.setattr(dispatch, "HARD_CAP", 200)
    # Blacklisted visitor: refused.
    entry = desk.t.admin.ok("POST", "/blacklist", json={"visitor_id": v.id, "reason": "x"})
    r = agent.post(f"/conversations/{conv}/callback")
    assert r.status_code == 409 and error(r) == "visitor_blacklisted"
    desk.t.admin.ok("DELETE", f"/blacklist/{entry['entry']['id']}")
    # An agent who never took part cannot call it back; another tenant's id is unknown.
    r = other.post(f"/conversations/{conv}/callback")
    assert r.status_code == 404
    foreign = Desk(api, server.base_url)
    r = foreign.t.admin.post(f"/conversations/{conv}/callback")
    assert r.status_code == 404 and error(r) == "not_found"
    # Admins may call back any ended conversation.
    assert (
        desk.t.admin.ok("POST", f"/conversations/{conv}/callback")["conversation"]["state"]
        == "ongoing"
    )
