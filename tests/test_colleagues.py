"""Colleague chat (§4.9): live to online colleagues, kept for offline ones, never across tenants."""

from __future__ import annotations

from tests.chat_helpers import recv_until, staff_socket
from tests.conftest import LiveServer
from tests.helpers import Api


def test_colleague_chat_live_and_offline(api: Api, server: LiveServer) -> None:
    t = api.provision()
    ann, ann_c = api.add_user(t)
    bob, bob_c = api.add_user(t)
    with staff_socket(server.base_url, bob_c) as bws:
        sent = ann_c.ok(
            "POST",
            f"/colleagues/{bob['id']}/messages",
            json={"client_msg_id": "c-1", "text": "can you take table 4?"},
        )
        got = recv_until(bws, lambda f: f["type"] == "colleague.message")
        assert got["message"]["id"] == sent["id"] and got["message"]["sender_id"] == ann["id"]
    # Bob is offline now: the message waits for him.
    again = ann_c.ok(
        "POST",
        f"/colleagues/{bob['id']}/messages",
        status=200,
        json={"client_msg_id": "c-1", "text": "can you take table 4?"},
    )
    assert again["replayed"] is True
    ann_c.ok(
        "POST",
        f"/colleagues/{bob['id']}/messages",
        json={"client_msg_id": "c-2", "text": "thanks!"},
    )
    assert bob_c.ok("GET", "/colleagues/unread") == [{"user_id": ann["id"], "unread": 2}]
    thread = bob_c.ok("GET", f"/colleagues/{ann['id']}/messages")
    assert [m["text"] for m in thread] == ["can you take table 4?", "thanks!"]
    bob_c.ok("POST", f"/colleagues/{ann['id']}/read")
    assert bob_c.ok("GET", "/colleagues/unread") == []
    # Another company's user is unknown here.
    other = api.provision("Other")
    stranger, _ = api.add_user(other)
    r = ann_c.post(
        f"/colleagues/{stranger['id']}/messages", json={"client_msg_id": "c-3", "text": "hi"}
    )
    assert r.status_code == 404
