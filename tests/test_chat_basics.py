"""Visitor ↔ agent chat over REST and WebSocket: assignment, ordering, idempotency, resume."""

from __future__ import annotations

import json

from tests.chat_helpers import Visitor, cid, event_named, new_widget, recv, recv_until, staff_socket
from tests.conftest import LiveServer
from tests.helpers import Api


def test_visitor_message_is_assigned_to_an_idle_agent(api: Api, server: LiveServer) -> None:
    t = api.provision()
    user, agent = api.add_user(t)
    widget = new_widget(t, welcome_text="欢迎光临")
    with staff_socket(server.base_url, agent) as aws:
        v = Visitor(api, widget)
        msg = v.send("你好")
        assert msg["seq"] == 3 and msg["sender"]["type"] == "visitor"
        assigned = recv_until(aws, event_named("conversation.assigned"))
        conv_id = assigned["conversation_id"]
        assert assigned["data"]["agent"]["id"] == user["id"]
        convs = agent.ok("GET", "/conversations")
        assert [c["id"] for c in convs] == [conv_id]
        assert convs[0]["unread"] == 1
        msgs = agent.ok("GET", f"/conversations/{conv_id}/messages")
        assert [m["kind"] for m in msgs] == ["system", "text"]
        assert msgs[0]["body"]["text"] == "欢迎光临"
        # The agent answers over the socket and gets an ack after persistence.
        client_id = cid()
        aws.send(
            json.dumps(
                {
                    "type": "send",
                    "conversation_id": conv_id,
                    "client_msg_id": client_id,
                    "kind": "text",
                    "body": {"text": "您好，请问有什么可以帮您？"},
                }
            )
        )
        ack = recv_until(aws, lambda f: f["type"] == "ack")
        assert ack["client_msg_id"] == client_id and ack["seq"] == 5
        # The visitor sees the whole conversation in order.
        seen = v.http.ok("GET", "/visitor/messages", params={"conversation_id": conv_id})
        assert [m["seq"] for m in seen] == [2, 3, 5]


def test_send_is_idempotent_and_conflicting_reuse_is_refused(api: Api, server: LiveServer) -> None:
    t = api.provision()
    widget = new_widget(t)
    v = Visitor(api, widget)
    first = v.send("hello", client_msg_id="abc-1")
    again = v.http.ok(
        "POST",
        "/visitor/messages",
        status=200,
        json={"client_msg_id": "abc-1", "kind": "text", "body": {"text": "hello"}},
    )
    assert again["id"] == first["id"] and again["replayed"] is True
    r = v.http.post(
        "/visitor/messages",
        json={"client_msg_id": "abc-1", "kind": "text", "body": {"text": "other"}},
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "client_msg_id_conflict"
    msgs = v.http.ok(
        "GET", "/visitor/messages", params={"conversation_id": first["conversation_id"]}
    )
    assert [m["body"]["text"] for m in msgs] == ["hello"]


def test_visitor_socket_resume_replays_missed_events(api: Api, server: LiveServer) -> None:
    t = api.provision()
    _, agent = api.add_user(t)
    with staff_socket(server.base_url, agent):
        widget = new_widget(t)
        v = Visitor(api, widget)
        first = v.send("one")
        conv_id = first["conversation_id"]
        # While the visitor is away the agent writes twice.
        for text in ("two", "three"):
            agent.ok(
                "POST",
                f"/conversations/{conv_id}/messages",
                json={"client_msg_id": cid(), "kind": "text", "body": {"text": text}},
            )
        with v.socket(server.base_url) as vws:
            vws.send(
                json.dumps(
                    {"type": "resume", "conversation_id": conv_id, "after_seq": first["seq"]}
                )
            )
            frames = []
            while True:
                f = recv(vws)
                frames.append(f)
                if f["type"] == "resumed":
                    break
        events = [f for f in frames if f["type"] == "event"]
        assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
        texts = [
            e["data"]["message"]["body"]["text"] for e in events if e["name"] == "message.created"
        ]
        assert texts == ["two", "three"]


def test_hidden_agent_nickname_never_reaches_the_visitor(api: Api, server: LiveServer) -> None:
    t = api.provision("Acme 商城")
    _, agent = api.add_user(t, nickname="Secret Sam")
    v = Visitor(api, new_widget(t, show_agent_nickname=False))
    with staff_socket(server.base_url, agent) as aws, v.socket(server.base_url) as vws:
        conv_id = v.send("hi")["conversation_id"]
        recv_until(aws, event_named("conversation.assigned"))
        agent.ok(
            "POST",
            f"/conversations/{conv_id}/messages",
            json={"client_msg_id": cid(), "kind": "text", "body": {"text": "hello"}},
        )
        live = recv_until(
            vws,
            lambda f: (
                f.get("name") == "message.created"
                and f["data"]["message"]["sender"]["type"] == "agent"
            ),
        )
        assert live["data"]["message"]["sender"] == {
            "type": "agent",
            "id": None,
            "name": "Acme 商城",
        }
    for path, params in (
        ("/visitor/messages", {"conversation_id": conv_id}),
        ("/visitor/events", {"conversation_id": conv_id, "after_seq": 0}),
        ("/visitor/conversation", {}),
    ):
        assert "Secret Sam" not in v.http.get(path, params=params).text


def test_token_socket_of_an_idle_session_connects_at_once(api: Api, server: LiveServer) -> None:
    """Sliding an older session's expiry must not deadlock the socket handshake (SQLite)."""
    import time

    from websockets.sync.client import connect

    from kefu.core.clock import Clock, FakeClock, set_clock
    from tests.helpers import PASSWORD

    t = api.provision()
    user, _ = api.add_user(t)
    token = api.token_client(user["email"], PASSWORD).headers["Authorization"].split()[1]
    clock = FakeClock()
    clock.advance(minutes=5)
    set_clock(clock)
    try:
        started = time.monotonic()
        url = server.base_url.replace("http://", "ws://") + f"/api/v1/ws?token={token}"
        with connect(url, open_timeout=20) as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "hello"
        assert time.monotonic() - started < 3
    finally:
        set_clock(Clock())


def test_entry_parameters_and_web_info_are_recorded(api: Api, server: LiveServer) -> None:
    t = api.provision()
    _, agent = api.add_user(t)
    assoc = t.admin.ok("POST", "/associations", json={"name": "活动页"})
    widget = new_widget(t)
    v = Visitor(
        api,
        widget,
        profile={"name": "王小明", "custom": {"order": "A1024"}},
        entry={"association": "活动页", "skill_group": "售后"},
        page={
            "url": "https://shop.example.com/p/1?utm_source=newsletter",
            "title": "商品页",
            "referrer": "https://www.baidu.com/s?wd=%E6%99%BA%E8%83%BD%E6%89%8B%E8%A1%A8",
            "landing_url": "https://shop.example.com/?utm_source=newsletter",
        },
    )
    with staff_socket(server.base_url, agent) as aws:
        conv_id = v.send("hi")["conversation_id"]
        recv_until(aws, event_named("conversation.assigned"))
    conv = agent.ok("GET", f"/conversations/{conv_id}")
    assert conv["association_id"] == assoc["id"] and conv["visitor"]["name"] == "王小明"
    visitor = agent.ok("GET", f"/conversations/{conv_id}/visitor")
    info = visitor["web_info"]
    assert info["search_keyword"] == "智能手表" and info["utm_source"] == "newsletter"
    assert info["chat_page"].startswith("https://shop.example.com/p/1")
    assert info["ip"] == "127.0.0.1" and visitor["custom"] == {"order": "A1024"}
    # The token is never returned by any API.
    assert v.token not in json.dumps(v.session) and v.token not in json.dumps(visitor)
