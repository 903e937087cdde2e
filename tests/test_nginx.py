"""Debian's nginx in front of two `kefu serve` nodes, running deploy/nginx/kefu.conf (issue 7).

nginx runs as a throwaway foreground process with the shipped site file, templated (ports,
nodes, a self-signed certificate made here with openssl), TLS included. Through it:
plain HTTP redirects to HTTPS; sign-in and REST work; a staff socket and visitor sockets
upgrade and exchange heartbeats; every visitor's message reaches the agent whichever node
each socket landed on (the access log says which); a 9 MB attachment passes the body limit;
and the client's own address, not nginx's or a forged header, is what Kefu records.

Runs in the PostgreSQL run of the suite only, with redis-server and nginx installed.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kefu.core.config import Settings
from tests.chat_helpers import Visitor, new_widget
from tests.cluster_helpers import (
    FAST_NODES,
    NodeProcess,
    RedisServer,
    needs_cluster,
    redis_server,  # noqa: F401  # the fixture
    start_nodes,
)
from tests.fault_helpers import Nginx, Peer, free_port, insecure_tls, nginx_binary
from tests.helpers import Api, Client, unique_email

pytestmark = [
    needs_cluster,
    pytest.mark.skipif(nginx_binary() is None, reason="needs nginx (apt-get install nginx)"),
]

# The test client's own address: any 127/8 address is loopback, so it can differ from the
# 127.0.0.1 that nginx uses towards the nodes.
CLIENT_IP = "127.0.0.3"


class NginxApi(Api):
    """Clients that speak HTTPS to nginx (self-signed) from CLIENT_IP."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.anon.close()
        self._clients = []
        self.anon = self.client()

    def client(self, **kw: Any) -> Client:
        transport = httpx.HTTPTransport(local_address=CLIENT_IP, verify=False)
        c = Client(self.base_url, transport=transport, **kw)
        self._clients.append(c)
        return c


@pytest.fixture
def proxied(
    settings: Settings,
    redis_server: RedisServer,  # noqa: F811 - the imported fixture
    tmp_path: Path,
) -> Iterator[tuple[Nginx, list[NodeProcess]]]:
    https_port = free_port()
    origin = f"https://127.0.0.1:{https_port}"
    env = {"KEFU_REDIS_URL": redis_server.url, "KEFU_ALLOWED_ORIGINS": origin, **FAST_NODES}
    nodes = start_nodes(settings, 2, env)
    nginx = Nginx(
        tmp_path / "nginx",
        [n.base_url.removeprefix("http://") for n in nodes],
        https_port=https_port,
    )
    try:
        nginx.start()
        yield nginx, nodes
    finally:
        nginx.stop()
        for n in nodes:
            n.stop()


def _connect(peer: Peer) -> None:
    """Open the peer's socket through nginx, trying a second time after a handshake timeout.

    Handshakes get 30 s, not the usual 10: one CI run on a crowded machine took longer. Some
    handshakes got no answer in 30 s: the test's own TLS client lost its request (see
    `insecure_tls`, now capped at TLS 1.2 for that). A client reconnects, as the widget does:
    least_conn then sends it to the node with fewer pending sockets. A second timeout fails
    the test, with the nodes' and nginx's logs in the report."""
    try:
        peer.connect()
    except TimeoutError as err:
        warnings.warn(f"{peer.name}: handshake through nginx timed out once ({err})", stacklevel=2)
        peer.connect()


def test_two_nodes_behind_nginx(proxied: tuple[Nginx, list[NodeProcess]]) -> None:
    nginx, nodes = proxied
    url = nginx.base_url
    tls = insecure_tls()

    # Plain HTTP only redirects.
    r = httpx.get(f"http://127.0.0.1:{nginx.http_port}/api/v1/health?x=1", follow_redirects=False)
    assert r.status_code == 301 and r.headers["location"].startswith("https://"), r.headers

    # Sign-in and REST over TLS; the session cookie is Secure (Kefu sees https).
    api = NginxApi(url)
    t = api.provision(seats=10)
    assert t.admin.ok("GET", "/me")["email"] == t.admin_email
    login = api.anon.post(
        "/auth/login", json={"email": t.admin_email, "password": t.admin_password}
    )
    assert login.status_code == 200 and "secure" in login.headers["set-cookie"].lower()

    # The client's address reaches Kefu: an audited change records CLIENT_IP, also when the
    # client sends its own X-Forwarded-For (nginx appends the real peer; Kefu trusts nginx only).
    _, agent = api.add_user(t, max_concurrent=10)
    forged = t.admin.ok(
        "POST",
        "/users",
        json={
            "email": unique_email("agent"),
            "password": "Passw0rd-kefu",
            "nickname": "forged",
            "role_id": t.roles["agent"],
        },
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    audit = t.admin.ok("GET", "/audit-logs", params={"page_size": 50})["items"]
    created = [a for a in audit if a["target_type"] == "user"]
    assert {a["target_id"] for a in created} >= {str(forged["id"])}, created
    assert {a["ip"] for a in created} == {CLIENT_IP}, created

    # The staff socket upgrades through nginx and answers heartbeats.
    staff = Peer("agent", [url], staff=agent, ssl_context=tls, origin=url, open_timeout=30)
    _connect(staff)
    assert staff.ws is not None
    staff.ws.send(json.dumps({"type": "ping", "t": 1}))

    # Visitors (REST and sockets through nginx): least_conn spreads the sockets over both nodes.
    widget = new_widget(t)
    visitors = []
    for i in range(4):
        v = Visitor(api, widget)
        conv = v.send(f"hello {i}")["conversation_id"]
        peer = Peer(
            f"visitor{i}", [url], visitor=v, conversations=[conv], ssl_context=tls, open_timeout=30
        )
        _connect(peer)
        visitors.append(peer)
    for peer in visitors:
        assert peer.ws is not None
        peer.ws.send(json.dumps({"type": "ping", "t": peer.name}))
        peer.send_one(peer.next_frame(), time.monotonic() + 10)
        assert peer.acked, peer.errors
    # Each visitor's socket message reaches the agent, whatever node either socket is on.
    wanted = {f"{p.name} #1" for p in visitors}
    deadline = time.monotonic() + 15
    while not wanted <= {text for _, text in staff.received_texts}:
        assert time.monotonic() < deadline, (wanted, staff.received_texts)
        staff.drain(0.2)
    for peer in visitors:
        peer.drain(0.2)
    assert staff.pongs == 1 and all(p.pongs == 1 for p in visitors)

    # A 9 MB file passes nginx's body limit (its default is 1 MB) and is stored.
    up = visitors[0].visitor
    assert up is not None
    r = up.http.post(
        "/visitor/attachments",
        data={"kind": "file"},
        files={"file": ("big.bin", b"\0" * (9 * 1024 * 1024), "application/octet-stream")},
    )
    assert r.status_code == 201, r.text

    for peer in [staff, *visitors]:
        peer.close()
    # Which node served each socket (nginx logs a WebSocket when it closes).
    deadline = time.monotonic() + 5
    while len(served := nginx.served_by()) < 5:
        assert time.monotonic() < deadline, served
        time.sleep(0.1)
    node_addrs = {n.base_url.removeprefix("http://") for n in nodes}
    assert set(served.values()) == node_addrs, served
    assert any(served[p.name] != served["agent"] for p in visitors), served
    api.close_all()
