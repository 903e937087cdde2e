"""The conversation protocol with real WebSocket clients (docs/protocol.md).

Ordering, idempotent retries over the socket, resume and resync, and who receives what: another
tenant or another agent never hears a conversation, visitors never receive whispers.
"""

from __future__ import annotations

import json

from websockets.exceptions import ConnectionClosed

from tests.chat_helpers import (
    Visitor,
    cid,
    event_named,
    new_widget,
    recv,
    recv_until,
    staff_socket,
)
from tests.conftest import LiveServer
from tests.helpers import Api


def _send_frame(conv_id: int | None, text: str, client_msg_id: str, **extra: object) -> str:
    frame: dict[str, object] = {
        "type": "send",
        "client_msg_id": client_msg_id,
        "kind": "text",
        "body": {"text": text},
        **extra,
    }
    if conv_id is not None:
        frame["conversation_id"] = conv_id
    return json.dumps(frame)


def _drain(ws, timeout: float = 0.5) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    frames = []
    try:
        while True:
            frames.append(recv(ws, timeout))
    except TimeoutError:
        return frames


def test_events_arrive_in_seq_order_on_both_sides(api: Api, server: LiveServer) -> None:
    t = api.provision()
    _, agent = api.add_user(t)
    widget = new_widget(t)
    v = Visitor(api, widget)
    with staff_socket(server.base_url, agent) as aws, v.socket(server.base_url) as vws:
        for i in range(20):
            vws.send(_send_frame(None, f"v{i}", f"v-{i}"))
        acks = [recv_until(vws, lambda f: f["type"] == "ack") for _ in range(20)]
        conv_id = acks[0]["conversation_id"]
        for i in range(20):
            aws.send(_send_frame(conv_id, f"a{i}", f"a-{i}"))
        seen_agent = _drain(aws, 1.5)
        seen_visitor = _drain(vws, 1.5)
    a_seqs = [f["seq"] for f in seen_agent if f["type"] == "event"]
    v_seqs = [f["seq"] for f in seen_visitor if f["type"] == "event"]
    assert a_seqs == sorted(a_seqs) and len(a_seqs) == len(set(a_seqs))
    assert v_seqs == sorted(v_seqs) and len(v_seqs) == len(set(v_seqs))
    texts = [
        f["data"]["message"]["body"]["text"]
        for f in seen_visitor
        if f.get("name") == "message.created" and f["data"]["message"]["sender"]["type"] == "agent"
    ]
    assert texts == [f"a{i}" for i in range(20)]
    history = agent.ok("GET", f"/conversations/{conv_id}/messages", params={"limit": 100})
    assert [m["body"]["text"] for m in history] == [f"v{i}" for i in range(20)] + [
        f"a{i}" for i in range(20)
    ]


def test_socket_retry_with_same_id_is_acked_once_and_stored_once(
    api: Api, server: LiveServer
) -> None:
    t = api.provision()
    widget = new_widget(t)
    v = Visitor(api, widget)
    with v.socket(server.base_url) as vws:
        vws.send(_send_frame(None, "only once", "retry-1"))
        first = recv_until(vws, lambda f: f["type"] == "ack")
        vws.send(_send_frame(None, "only once", "retry-1"))
        second = recv_until(vws, lambda f: f["type"] == "ack")
        vws.send(_send_frame(None, "something else", "retry-1"))
        nack = recv_until(vws, lambda f: f["type"] == "nack")
    assert first["replayed"] is False and second["replayed"] is True
    assert second["message"]["id"] == first["message"]["id"] and second["seq"] == first["seq"]
    assert nack["code"] == "client_msg_id_conflict" and nack["client_msg_id"] == "retry-1"
    msgs = v.http.ok(
        "GET", "/visitor/messages", params={"conversation_id": first["conversation_id"]}
    )
    assert [m["body"].get("text") for m in msgs] == ["only once"]


def test_invalid_send_is_nacked_with_field_errors(api: Api, server: LiveServer) -> None:
    t = api.provision()
    v = Visitor(api, new_widget(t))
    with v.socket(server.base_url) as vws:
        vws.send(
            json.dumps(
                {
                    "type": "send",
                    "client_msg_id": "x1",
                    "kind": "link",
                    "body": {"url": "javascript:alert(1)"},
                }
            )
        )
        nack = recv_until(vws, lambda f: f["type"] == "nack")
    assert nack["code"] == "validation_error"
    assert nack["fields"][0]["field"] == "body.url"
    assert v.http.ok("GET", "/visitor/conversation") is None


def test_agent_resume_replays_and_resync_when_too_far_behind(api: Api, server: LiveServer) -> None:
    t = api.provision()
    _, agent = api.add_user(t)
    widget = new_widget(t)
    with staff_socket(server.base_url, agent) as aws:
        v = Visitor(api, widget)
        conv_id = v.send("start")["conversation_id"]
        recv_until(aws, event_named("conversation.assigned"))
    seq_before = agent.ok("GET", f"/conversations/{conv_id}")["seq"]
    for i in range(3):
        v.send(f"while away {i}")
    with staff_socket(server.base_url, agent) as aws:
        aws.send(json.dumps({"type": "resume", "conversations": {str(conv_id): seq_before}}))
        frames = []
        while (f := recv(aws))["type"] != "resumed":
            frames.append(f)
        texts = [f["data"]["message"]["body"]["text"] for f in frames if f.get("type") == "event"]
        assert texts == [f"while away {i}" for i in range(3)]
        # 250 events later a replay would be too long: the client is told to reload.
        for i in range(250):
            v.send(f"flood {i}")
        _drain(aws, 0.5)
        aws.send(json.dumps({"type": "resume", "conversations": {str(conv_id): seq_before}}))
        assert recv_until(aws, lambda f: f["type"] in ("resync", "resumed"))["type"] == "resync"
    r = agent.get(f"/conversations/{conv_id}/events", params={"after_seq": seq_before})
    assert r.status_code == 409 and r.json()["error"]["code"] == "resync_required"


def test_nothing_reaches_another_tenant_or_another_agent(api: Api, server: LiveServer) -> None:
    a = api.provision("A")
    b = api.provision("B")
    _, agent_a = api.add_user(a)
    _, other_a = api.add_user(a)
    _, agent_b = api.add_user(b)
    with staff_socket(server.base_url, agent_a) as ws_a:
        v = Visitor(api, new_widget(a))
        conv_id = v.send("secret order 42")["conversation_id"]
        recv_until(ws_a, event_named("conversation.assigned"))
    with (
        staff_socket(server.base_url, other_a) as ws_other,
        staff_socket(server.base_url, agent_b) as ws_b,
    ):
        agent_a.ok("PUT", "/me/status", json={"status": "busy"})
        v.send("more secrets")
        leaked = [f for f in _drain(ws_other, 1) + _drain(ws_b, 1) if f["type"] == "event"]
        assert leaked == []
        # Another agent, and another tenant, cannot read it or resume it.
        for client in (other_a, agent_b):
            assert client.get(f"/conversations/{conv_id}/messages").status_code == 404
        ws_b.send(json.dumps({"type": "resume", "conversations": {str(conv_id): 0}}))
        assert recv_until(ws_b, lambda f: f["type"] in ("resync", "resumed")) == {
            "type": "resync",
            "conversation_id": conv_id,
            "reason": "not_found",
        }
        ws_b.send(_send_frame(conv_id, "hijack", "h-1"))
        nack = recv_until(ws_b, lambda f: f["type"] == "nack")
        assert nack["code"] == "not_found"


def test_visitors_never_receive_whispers(api: Api, server: LiveServer) -> None:
    t = api.provision()
    _, agent = api.add_user(t)
    widget = new_widget(t)
    v = Visitor(api, widget)
    with staff_socket(server.base_url, agent) as aws, v.socket(server.base_url) as vws:
        conv_id = v.send("hello")["conversation_id"]
        recv_until(aws, event_named("conversation.assigned"))
        with staff_socket(server.base_url, t.admin) as admin_ws:
            admin_ws.send(json.dumps({"type": "watch", "conversation_id": conv_id}))
            assert recv_until(admin_ws, lambda f: f["type"] == "watching")
            admin_ws.send(_send_frame(conv_id, "be polite", "w-1", whisper=True))
            ack = recv_until(admin_ws, lambda f: f["type"] == "ack")
            assert ack["message"]["whisper"] is True
            got = recv_until(aws, event_named("message.created"))
            assert got["data"]["message"]["whisper"] is True
            assert got["data"]["message"]["body"]["text"] == "be polite"
        assert not [f for f in _drain(vws, 1) if "be polite" in json.dumps(f)]
    # Not in the visitor's history or resume either.
    for path, params in (
        ("/visitor/messages", {"conversation_id": conv_id}),
        ("/visitor/events", {"conversation_id": conv_id, "after_seq": 0}),
    ):
        assert "be polite" not in v.http.get(path, params=params).text
    # An ordinary agent cannot whisper.
    r = agent.post(f"/conversations/{conv_id}/whisper", json={"client_msg_id": "w2", "text": "x"})
    assert r.status_code == 403


def test_typing_preview_reaches_only_the_holding_agent(api: Api, server: LiveServer) -> None:
    t = api.provision()
    _, agent = api.add_user(t)
    _, other = api.add_user(t)
    v = Visitor(api, new_widget(t))
    with staff_socket(server.base_url, agent) as aws:
        conv_id = v.send("hi")["conversation_id"]
        recv_until(aws, event_named("conversation.assigned"))
        with v.socket(server.base_url) as vws, staff_socket(server.base_url, other) as ows:
            vws.send(json.dumps({"type": "typing", "text": "where is my par"}))
            typing = recv_until(aws, lambda f: f["type"] == "typing")
            assert typing == {
                "type": "typing",
                "conversation_id": conv_id,
                "text": "where is my par",
            }
            assert not [f for f in _drain(ows, 0.8) if f["type"] == "typing"]


def test_recall_within_two_minutes_removes_it_for_the_visitor(api: Api, server: LiveServer) -> None:
    t = api.provision()
    _, agent = api.add_user(t)
    v = Visitor(api, new_widget(t))
    with staff_socket(server.base_url, agent) as aws:
        conv_id = v.send("hi")["conversation_id"]
        recv_until(aws, event_named("conversation.assigned"))
    msg = agent.ok(
        "POST",
        f"/conversations/{conv_id}/messages",
        json={"client_msg_id": cid(), "kind": "text", "body": {"text": "oops"}},
    )
    with v.socket(server.base_url) as vws:
        recalled = agent.ok("POST", f"/conversations/{conv_id}/messages/{msg['id']}/recall")
        assert recalled["recalled"] is True and recalled["body"]["text"] == "oops"
        ev = recv_until(vws, event_named("message.recalled"))
        assert ev["data"] == {"message_id": msg["id"]}
    texts = [
        m["body"].get("text")
        for m in v.http.ok("GET", "/visitor/messages", params={"conversation_id": conv_id})
    ]
    assert "oops" not in texts
    staff = agent.ok("GET", f"/conversations/{conv_id}/messages")
    assert next(m for m in staff if m["id"] == msg["id"])["recalled"] is True
    # The visitor's own message is not the agent's to recall.
    first = staff[0]
    r = agent.post(f"/conversations/{conv_id}/messages/{first['id']}/recall")
    assert r.status_code == 403 and r.json()["error"]["code"] == "recall_not_own"


def test_visitor_socket_refuses_bad_tokens_and_other_widgets(api: Api, server: LiveServer) -> None:
    from websockets.sync.client import connect

    t = api.provision()
    w1, w2 = new_widget(t), new_widget(t, name="Other")
    v = Visitor(api, w1)
    base = server.base_url.replace("http://", "ws://")
    for widget_key, token, code in ((w1["key"], "x" * 30, 4401), (w2["key"], v.token, 4403)):
        with connect(f"{base}/api/v1/visitor/ws?widget={widget_key}", open_timeout=20) as ws:
            ws.send(json.dumps({"type": "auth", "token": token}))
            try:
                ws.recv(timeout=5)
                raise AssertionError("the socket should have been closed")
            except ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == code
