"""The WebSocket endpoint: authentication, origin check, heartbeats, account events."""

from __future__ import annotations

import json

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.conftest import LiveServer
from tests.helpers import PASSWORD, Api


def _ws_url(server: LiveServer) -> str:
    return server.base_url.replace("http://", "ws://") + "/api/v1/ws"


def _cookie(client) -> str:  # type: ignore[no-untyped-def]
    return f"kefu_session={client.cookies['kefu_session']}"


def test_ws_requires_a_session(server: LiveServer) -> None:
    with (
        pytest.raises((InvalidStatus, ConnectionClosed)),
        connect(_ws_url(server), open_timeout=20) as ws,
    ):
        ws.recv(timeout=5)


def test_ws_cookie_with_foreign_origin_refused(api: Api, server: LiveServer) -> None:
    t = api.provision()
    with (
        pytest.raises((InvalidStatus, ConnectionClosed)),
        connect(
            _ws_url(server),
            additional_headers={"Cookie": _cookie(t.admin)},
            origin="https://evil.example",
            open_timeout=20,
        ) as ws,
    ):
        ws.recv(timeout=5)


def test_ws_hello_ping_and_role_change_event(api: Api, server: LiveServer) -> None:
    t = api.provision()
    user, agent = api.add_user(t)
    with connect(
        _ws_url(server),
        additional_headers={"Cookie": _cookie(agent)},
        origin=server.base_url,
        open_timeout=20,
    ) as ws:
        hello = json.loads(ws.recv(timeout=5))
        assert hello["type"] == "hello" and hello["user_id"] == user["id"]
        ws.send(json.dumps({"type": "ping", "t": 1}))
        assert json.loads(ws.recv(timeout=5)) == {"type": "pong", "t": 1}
        t.admin.ok("PATCH", f"/users/{user['id']}", json={"role_id": t.roles["admin"]})
        events = [json.loads(ws.recv(timeout=5)) for _ in range(2)]
        types = {e["type"] for e in events}
        assert "user.role_changed" in types
        changed = next(e for e in events if e["type"] == "user.role_changed")
        assert changed["new_role"] == "管理员" and "tenant_id" not in changed


def test_ws_bearer_token_and_password_change_closes_other_sockets(
    api: Api, server: LiveServer
) -> None:
    t = api.provision()
    user, agent = api.add_user(t)
    tok = api.token_client(user["email"], PASSWORD)
    token = tok.headers["Authorization"].split()[1]
    with connect(_ws_url(server) + f"?token={token}", open_timeout=20) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "hello"
        agent.ok(
            "POST", "/me/password", json={"old_password": PASSWORD, "new_password": "Another123"}
        )
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
