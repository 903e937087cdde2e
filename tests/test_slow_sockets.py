"""A client that stops reading holds up nobody (kefu.chat.hub.Conn's outbox).

Frames for a socket are written by that socket's own task: while one client does not read
(its TCP window is full and the server's transport is paused), every other socket's frames,
and the acks of the sends it is being sent, keep flowing. Past `OUTBOX_LIMIT` waiting frames
the socket is dropped; its user reconnects and finds every message stored.
"""

from __future__ import annotations

import json
import random
import socket
import string
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from kefu.chat import hub as hub_module
from tests.chat_helpers import Visitor, cid, new_widget, recv, recv_until, staff_socket
from tests.conftest import LiveServer
from tests.helpers import Api, Client, Tenant
from tests.routing_helpers import eventually, ongoing_ids
from tests.test_observability import delta, scrape


def _not_reading_socket(
    url: str, *, auth: dict[str, Any] | None = None, **kw: Any
) -> ClientConnection:
    """A socket whose client will not read after hello: a tiny receive buffer, one frame of
    client-side queue, no compression (so frames keep their size on the wire)."""
    where = urlparse(url)
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: the window
    raw.connect((where.hostname, where.port))
    ws = connect(
        url, sock=raw, compression=None, max_queue=1, ping_interval=None, open_timeout=20, **kw
    ).__enter__()
    if auth is not None:
        ws.send(json.dumps(auth))
    assert recv(ws)["type"] == "hello"
    return ws


def _noise(n: int) -> str:
    """n characters that keep their size on the wire uncompressed, yet hold few distinct
    trigrams (PostgreSQL's search index pays per distinct trigram)."""
    unit = "".join(random.choices(string.ascii_letters, k=10))
    return (unit * (n // 10 + 1))[:n]


def _send_and_ack(
    ws: ClientConnection, texts: list[str], conversation_id: int | None = None
) -> None:
    """Send `texts` at once (one batch, mostly), then wait for every ack."""
    ids = [cid() for _ in texts]
    where = {} if conversation_id is None else {"conversation_id": conversation_id}
    for msg_id, text in zip(ids, texts, strict=True):
        frame = {"type": "send", "client_msg_id": msg_id, "kind": "text", "body": {"text": text}}
        ws.send(json.dumps(frame | where))
    for msg_id in ids:
        # Without the outbox, acks wait behind the stuck client's frames: this times out.
        answer = recv_until(
            ws, lambda f, m=msg_id: f.get("type") in ("ack", "nack") and f.get("client_msg_id") == m
        )
        assert answer["type"] == "ack", answer


def _agent_serving_a_visitor(
    api: Api, name: str, agent_socket: Callable[[Client], ClientConnection]
) -> tuple[Tenant, dict[str, Any], dict[str, Any], Client, ClientConnection, Visitor]:
    """A tenant whose only agent is online through `agent_socket` and holds one visitor's
    conversation: (tenant, widget, agent's user, agent, agent's socket, visitor)."""
    t = api.provision(name=name)
    widget = new_widget(t)
    user, agent = api.add_user(t)
    sock = agent_socket(agent)
    visitor = Visitor(api, widget)
    visitor.send("hello")
    eventually(lambda: len(ongoing_ids(agent)) == 1)
    return t, widget, user, agent, sock, visitor


def _other_tenant_chatting(api: Api, server: LiveServer) -> tuple[ClientConnection, Any]:
    """Another tenant's agent (staff socket) and visitor (socket), chatting."""
    *_, staff, visitor = _agent_serving_a_visitor(
        api, "Other Co", lambda agent: staff_socket(server.base_url, agent)
    )
    return staff, visitor.socket(server.base_url)


def _all_messages(agent: Client, conv_id: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    before: dict[str, int] = {}
    while page := agent.ok(
        "GET", f"/conversations/{conv_id}/messages", params={"limit": 100, **before}
    ):
        items = page + items
        before = {"before_seq": page[0]["seq"]}
    seqs = [m["seq"] for m in items]
    assert seqs == sorted(set(seqs))  # once each, in order
    return items


def _load_until_dropped(
    api: Api,
    server: LiveServer,
    slow: ClientConnection,
    dropped: Callable[[], bool],
    send_25: Callable[[], None],
    kind: str,
) -> int:
    """Send batches of 25 messages of 5,000 characters (a few MB fill the loopback buffers
    and pause the server's transport; 20 more frames drop the socket) until `dropped()`,
    while another tenant's agent and visitor chat on the same server all along. Returns the
    messages sent; checks the drop was counted and the slow client's connection ended."""
    other_staff, other_ws = _other_tenant_chatting(api, server)
    before = scrape(server.base_url)
    sent = 0
    while not dropped():
        assert sent < 2000, "the socket of a client that does not read was never dropped"
        send_25()
        sent += 25
        # The client still writes (its heartbeat): only reading stopped.
        slow.send(json.dumps({"type": "ping", "t": sent}))
        _send_and_ack(other_ws, ["still here"])
        recv_until(other_staff, lambda f: f.get("name") == "message.created")
    after = scrape(server.base_url)
    assert delta(before, after, "kefu_websocket_slow_closed_total", kind=kind) == 1
    # The dropped client ends with the connection closed (after what was already buffered).
    with pytest.raises(ConnectionClosed):
        while True:
            slow.recv(timeout=10)
    return sent


def _slow_agent_serving_a_visitor(
    api: Api, server: LiveServer
) -> tuple[Tenant, dict[str, Any], Client, ClientConnection, Visitor]:
    """A tenant whose only agent's staff socket will not read, serving one visitor."""
    t, _, user, agent, slow, visitor = _agent_serving_a_visitor(
        api,
        "Test Co",
        lambda agent: _not_reading_socket(
            server.base_url.replace("http://", "ws://") + "/api/v1/ws",
            additional_headers={"Cookie": f"kefu_session={agent.cookies['kefu_session']}"},
            origin=server.base_url,
        ),
    )
    return t, user, agent, slow, visitor


def test_a_staff_client_that_stops_reading_holds_up_nobody_and_is_dropped(
    api: Api, server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_module, "OUTBOX_LIMIT", 20)
    t, _, slow_agent, slow, visitor = _slow_agent_serving_a_visitor(api, server)
    conv_id = ongoing_ids(slow_agent)[0]

    hub = server.app.state.hub
    vws = visitor.socket(server.base_url)
    sent = _load_until_dropped(
        api,
        server,
        slow,
        lambda: not any(c.user_id is not None for c in hub.conns() if c.tenant_id == t.id),
        lambda: _send_and_ack(vws, [_noise(5000) for _ in range(25)]),
        "staff",
    )
    # Its user comes back and finds every message stored.
    items = _all_messages(slow_agent, conv_id)
    assert len([m for m in items if m["sender"]["type"] == "visitor"]) == sent + 1


def test_a_visitor_client_that_stops_reading_is_dropped(
    api: Api, server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_module, "OUTBOX_LIMIT", 20)
    _, widget, _, agent, staff, visitor = _agent_serving_a_visitor(
        api, "Test Co", lambda agent: staff_socket(server.base_url, agent)
    )
    conv_id = ongoing_ids(agent)[0]
    slow = _not_reading_socket(
        server.base_url.replace("http://", "ws://") + f"/api/v1/visitor/ws?widget={widget['key']}",
        auth={"type": "auth", "token": visitor.token},
    )
    hub = server.app.state.hub
    sent = _load_until_dropped(
        api,
        server,
        slow,
        lambda: not any(c.visitor_id == visitor.id for c in hub.conns()),
        lambda: _send_and_ack(staff, [_noise(5000) for _ in range(25)], conversation_id=conv_id),
        "visitor",
    )
    items = _all_messages(agent, conv_id)
    assert len([m for m in items if m["sender"]["type"] == "agent"]) == sent


def test_signing_out_a_client_that_stops_reading_does_not_hang(
    api: Api, server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A socket whose transport is paused cannot take a close frame either: closing it (the
    account disabled) gives up after a bound, and the admin's request answers."""
    monkeypatch.setattr(hub_module, "OUTBOX_LIMIT", 100_000)  # never dropped here
    t, user, _, slow, visitor = _slow_agent_serving_a_visitor(api, server)
    hub = server.app.state.hub
    vws = visitor.socket(server.base_url)

    def writing() -> bool:
        conns = [c for c in hub.conns() if c.user_id == user["id"]]
        return bool(conns) and conns[0]._writer is not None

    def paused() -> bool:  # frames have waited for the slow socket for half a second
        if not writing():
            return False
        time.sleep(0.5)
        return writing()

    sent = 0
    while not paused():
        assert sent < 2000, "the slow client's transport never paused"
        _send_and_ack(vws, [_noise(5000) for _ in range(25)])
        slow.send(json.dumps({"type": "ping", "t": sent}))
        sent += 25
    started = time.monotonic()
    t.admin.ok("PATCH", f"/users/{user['id']}", json={"enabled": False})
    eventually(lambda: not any(c.user_id == user["id"] for c in hub.conns()), timeout=10)
    assert time.monotonic() - started < 10
    _send_and_ack(vws, ["still served"])
    # Stopping the server waits for the paused connection (which never closes by itself) no
    # longer than the shutdown grace: without it, uvicorn waited for it until the client read.
    server.stop()
    assert not server.thread.is_alive(), "the server did not stop within LiveServer.stop's wait"
