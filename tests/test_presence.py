"""Presence (SPEC §2.1) through the API and real WebSocket clients, with a fake clock."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from kefu.core.clock import Clock, FakeClock, set_clock
from kefu.core.config import Settings
from kefu.presence.models import Presence
from kefu.workers.models import Timer
from kefu.workers.scheduler import run_due_timers
from tests.conftest import LiveServer, free_port
from tests.helpers import PASSWORD, Api, Client


@pytest.fixture
def fake_clock() -> Iterator[FakeClock]:
    clock = FakeClock()
    set_clock(clock)
    yield clock
    set_clock(Clock())


def _on_server(server: LiveServer, coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine on the server's loop (its engine belongs to that loop)."""
    return asyncio.run_coroutine_threadsafe(coro, server.app.state.loop).result(timeout=10)


def run_timers(server: LiveServer) -> int:
    app = server.app
    return int(_on_server(server, run_due_timers(app.state.sessionmaker, app.state.bus)))


def db_state(server: LiveServer, user_id: int) -> tuple[int, int]:
    """(open sockets recorded, pending offline timers) for the user."""

    async def read() -> tuple[int, int]:
        async with server.app.state.sessionmaker() as db:
            sockets = await db.scalar(select(Presence.sockets).where(Presence.user_id == user_id))
            timers = (await db.scalars(select(Timer.id).where(Timer.subject_id == user_id))).all()
            return int(sockets or 0), len(timers)

    result: tuple[int, int] = _on_server(server, read())
    return result


def wait_for(cond: Callable[[], bool], what: str, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def open_ws(server: LiveServer, client: Client) -> tuple[ClientConnection, dict[str, Any]]:
    # Entered by hand: tests close sockets at chosen moments (or by `with ws:`).
    ws = connect(
        server.base_url.replace("http://", "ws://") + "/api/v1/ws",
        additional_headers={"Cookie": f"kefu_session={client.cookies['kefu_session']}"},
        origin=server.base_url,
        open_timeout=20,
    ).__enter__()
    hello = json.loads(ws.recv(timeout=5))
    assert hello["type"] == "hello", hello
    return ws, hello


def next_presence(ws: ClientConnection, user_id: int) -> str:
    """The next presence.changed about `user_id` on this socket (other messages are skipped)."""
    while True:
        msg = json.loads(ws.recv(timeout=5))
        if msg["type"] == "presence.changed" and msg["user_id"] == user_id:
            assert set(msg) == {"type", "user_id", "status"}, msg
            return str(msg["status"])


def quiet(ws: ClientConnection) -> list[dict[str, Any]]:
    """Everything the socket received before a ping's pong (the server answers in order)."""
    ws.send(json.dumps({"type": "ping", "t": "barrier"}))
    got = []
    while (msg := json.loads(ws.recv(timeout=5)))["type"] != "pong":
        got.append(msg)
    return got


def status(client: Client, user_id: int) -> str:
    rows = {p["user_id"]: p["status"] for p in client.ok("GET", "/presence")}
    return str(rows[user_id])


def test_idle_on_connect_and_everyone_in_the_tenant_hears_it(api: Api, server: LiveServer) -> None:
    t = api.provision()
    user, agent = api.add_user(t)
    assert status(t.admin, user["id"]) == "offline"
    assert t.admin.ok("GET", f"/users/{user['id']}")["status"] == "offline"
    admin_ws, _ = open_ws(server, t.admin)
    with admin_ws, open_ws(server, agent)[0] as ws:
        assert next_presence(admin_ws, user["id"]) == "idle"
        assert status(agent, user["id"]) == "idle"
        assert agent.ok("GET", "/me")["status"] == "idle"
        items = t.admin.ok("GET", "/users")["items"]
        assert {u["id"]: u["status"] for u in items}[user["id"]] == "idle"
        assert quiet(ws) == []  # its own arrival is in hello, not an event


def test_invisible_login(api: Api, server: LiveServer) -> None:
    t = api.provision()
    user, _ = api.add_user(t)
    c = api.client()
    r = c.post(
        "/auth/login", json={"email": user["email"], "password": PASSWORD, "invisible": True}
    )
    assert r.status_code == 200, r.text
    ws, hello = open_ws(server, c)
    with ws:
        assert hello["status"] == "invisible"
        assert status(t.admin, user["id"]) == "invisible"


def _close_and_wait(server: LiveServer, ws: ClientConnection, user_id: int, sockets: int) -> None:
    ws.close()
    wait_for(lambda: db_state(server, user_id)[0] == sockets, f"{sockets} sockets")


def test_offline_30_seconds_after_the_last_tab_closes(
    api: Api, server: LiveServer, fake_clock: FakeClock
) -> None:
    t = api.provision()
    user, agent = api.add_user(t)
    admin_ws, _ = open_ws(server, t.admin)
    with admin_ws:
        tab1, _ = open_ws(server, agent)
        tab2, _ = open_ws(server, agent)
        assert next_presence(admin_ws, user["id"]) == "idle"
        _close_and_wait(server, tab1, user["id"], 1)
        assert db_state(server, user["id"]) == (1, 0)  # another tab is open: no timer
        fake_clock.advance(seconds=60)
        run_timers(server)
        assert status(t.admin, user["id"]) == "idle"

        _close_and_wait(server, tab2, user["id"], 0)
        assert db_state(server, user["id"]) == (0, 1)
        fake_clock.advance(seconds=29)
        assert run_timers(server) == 0
        assert status(t.admin, user["id"]) == "idle"
        assert quiet(admin_ws) == []
        fake_clock.advance(seconds=2)
        run_timers(server)  # the scheduler may have claimed it first: either way it runs once
        assert next_presence(admin_ws, user["id"]) == "offline"
        assert status(t.admin, user["id"]) == "offline"
        assert db_state(server, user["id"]) == (0, 0)


def test_reconnect_within_30_seconds_keeps_the_state(
    api: Api, server: LiveServer, fake_clock: FakeClock
) -> None:
    t = api.provision()
    user, agent = api.add_user(t)
    ws, _ = open_ws(server, agent)
    agent.ok("PUT", "/me/status", json={"status": "busy"})
    _close_and_wait(server, ws, user["id"], 0)
    fake_clock.advance(seconds=20)
    ws, hello = open_ws(server, agent)
    with ws:
        assert hello["status"] == "busy"
        assert db_state(server, user["id"]) == (1, 0)
        fake_clock.advance(seconds=20)
        run_timers(server)
        assert status(t.admin, user["id"]) == "busy"


def test_state_chosen_before_offline_comes_back_with_the_next_socket(
    api: Api, server: LiveServer, fake_clock: FakeClock
) -> None:
    t = api.provision()
    user, agent = api.add_user(t)
    ws, _ = open_ws(server, agent)
    agent.ok("PUT", "/me/status", json={"status": "away"})
    _close_and_wait(server, ws, user["id"], 0)
    fake_clock.advance(seconds=31)
    run_timers(server)
    wait_for(lambda: status(t.admin, user["id"]) == "offline", "offline")
    ws, hello = open_ws(server, agent)
    assert hello["status"] == "away"
    _close_and_wait(server, ws, user["id"], 0)
    fake_clock.advance(seconds=31)
    run_timers(server)
    wait_for(lambda: status(t.admin, user["id"]) == "offline", "offline")
    # A new sign-in starts Idle again.
    again = api.login(user["email"], PASSWORD)
    ws, hello = open_ws(server, again)
    assert hello["status"] == "idle"
    agent.ok("PUT", "/me/status", json={"status": "busy"})
    _close_and_wait(server, ws, user["id"], 0)
    fake_clock.advance(seconds=31)
    run_timers(server)
    wait_for(lambda: status(t.admin, user["id"]) == "offline", "offline")
    ws, hello = open_ws(server, again)
    with ws:
        assert hello["status"] == "busy"


def test_manual_switch(api: Api, server: LiveServer) -> None:
    t = api.provision()
    user, agent = api.add_user(t)
    admin_ws, _ = open_ws(server, t.admin)
    with admin_ws, open_ws(server, agent)[0]:
        assert next_presence(admin_ws, user["id"]) == "idle"
        for s in ("busy", "away", "invisible", "idle"):
            body = agent.ok("PUT", "/me/status", json={"status": s})
            assert body == {
                "user_id": user["id"],
                "nickname": user["nickname"],
                "status": s,
                "approval": None,  # the approval switch is off by default (test_approvals.py)
            }
            assert next_presence(admin_ws, user["id"]) == s
            assert agent.ok("GET", "/me")["status"] == s
        r = agent.put("/me/status", json={"status": "offline"})
        assert r.status_code == 422, r.text


def test_admin_forces_a_status(api: Api, server: LiveServer) -> None:
    t = api.provision()
    user, agent = api.add_user(t)
    other, _ = api.add_user(t)
    ws, _ = open_ws(server, agent)
    with ws:
        body = t.admin.ok("PUT", f"/users/{user['id']}/status", json={"status": "away"})
        assert body["status"] == "away"
        assert next_presence(ws, user["id"]) == "away"
        assert agent.ok("GET", "/me")["status"] == "away"
        audit = t.admin.ok("GET", "/audit-logs")["items"]
        assert any(a["action"] == "user.status_forced" for a in audit)
        # An offline user cannot be forced online.
        r = t.admin.put(f"/users/{other['id']}/status", json={"status": "idle"})
        assert r.status_code == 409 and r.json()["error"]["code"] == "user_offline", r.text
        assert "离线" in r.json()["error"]["message"]  # in the admin's language (zh-CN)
        assert status(t.admin, other["id"]) == "offline"


def test_custom_roles_and_agents_cannot_force(api: Api, server: LiveServer) -> None:
    t = api.provision()
    user, agent = api.add_user(t)
    role = t.admin.ok(
        "POST", "/roles", json={"name": "Agents manager", "pages": ["admin.members.agents"]}
    )
    _, manager = api.add_user(t, role_id=role["id"])
    ws, _ = open_ws(server, agent)
    with ws:
        for caller in (manager, agent):
            r = caller.put(f"/users/{user['id']}/status", json={"status": "busy"})
            assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", r.text
        assert status(t.admin, user["id"]) == "idle"


def test_another_tenant_never_hears_presence(api: Api, server: LiveServer) -> None:
    a, b = api.provision("A"), api.provision("B")
    user, agent = api.add_user(a)
    b_ws, _ = open_ws(server, b.admin)
    with b_ws:
        ws, _ = open_ws(server, agent)
        agent.ok("PUT", "/me/status", json={"status": "busy"})
        a.admin.ok("PUT", f"/users/{user['id']}/status", json={"status": "away"})
        ws.close()
        assert quiet(b_ws) == []
        assert user["id"] not in {p["user_id"] for p in b.admin.ok("GET", "/presence")}
        r = b.admin.put(f"/users/{user['id']}/status", json={"status": "idle"})
        assert r.status_code == 404, r.text


def test_logout_is_offline_at_once_and_closes_the_session_socket(
    api: Api, server: LiveServer
) -> None:
    t = api.provision()
    user, agent = api.add_user(t)
    admin_ws, _ = open_ws(server, t.admin)
    with admin_ws:
        ws, _ = open_ws(server, agent)
        assert next_presence(admin_ws, user["id"]) == "idle"
        agent.ok("POST", "/auth/logout")
        assert next_presence(admin_ws, user["id"]) == "offline"
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def test_logout_with_another_live_session_keeps_the_user_online(
    api: Api, server: LiveServer
) -> None:
    t = api.provision()
    user, agent = api.add_user(t)
    second = api.login(user["email"], PASSWORD)
    ws, _ = open_ws(server, second)
    with ws:
        agent.ok("POST", "/auth/logout")
        assert status(t.admin, user["id"]) == "idle"


def test_offline_timer_survives_a_restart(
    api: Api, server: LiveServer, settings: Settings, fake_clock: FakeClock
) -> None:
    t = api.provision()
    user, agent = api.add_user(t)
    ws, _ = open_ws(server, agent)
    _close_and_wait(server, ws, user["id"], 0)
    assert db_state(server, user["id"]) == (0, 1)
    server.stop()

    port = free_port()
    restarted = LiveServer(
        settings.model_copy(update={"port": port, "public_base_url": f"http://127.0.0.1:{port}"})
    )
    restarted.start()
    try:
        admin = Api(restarted.base_url).login(t.admin_email, t.admin_password)
        assert status(admin, user["id"]) == "idle"
        assert db_state(restarted, user["id"]) == (0, 1)
        fake_clock.advance(seconds=31)
        run_timers(restarted)
        wait_for(lambda: status(admin, user["id"]) == "offline", "offline after restart")
        assert db_state(restarted, user["id"]) == (0, 0)
        admin.close()
    finally:
        restarted.stop()
