"""Status-change approval (§2.1) and approval management (§15.4), through the API and sockets."""

from __future__ import annotations

from typing import Any

from tests.chat_helpers import recv_until, staff_socket
from tests.conftest import LiveServer
from tests.helpers import Api, Client, Tenant


def _status(client: Client, user_id: int) -> str:
    return str({p["user_id"]: p["status"] for p in client.ok("GET", "/presence")}[user_id])


def _approval_on(t: Tenant) -> None:
    assert t.admin.ok("PATCH", "/tenant/switches", json={"status_change_approval": True})[
        "status_change_approval"
    ]


def _notices(client: Client, kind: str) -> list[dict[str, Any]]:
    return [n for n in client.ok("GET", "/notifications")["items"] if n["kind"] == kind]


def test_switch_off_by_default_agents_switch_freely(api: Api, server: LiveServer) -> None:
    t = api.provision()
    assert t.admin.ok("GET", "/tenant/switches")["status_change_approval"] is False
    agent, agent_c = api.add_user(t)
    with staff_socket(server.base_url, agent_c):
        out = agent_c.ok("PUT", "/me/status", json={"status": "busy"}, status=200)
        assert out["status"] == "busy" and out["approval"] is None
        assert _status(t.admin, agent["id"]) == "busy"
    assert t.admin.ok("GET", "/approvals")["total"] == 0


def test_request_notify_approve(api: Api, server: LiveServer) -> None:
    t = api.provision()
    _approval_on(t)
    agent, agent_c = api.add_user(t, nickname="Ann")
    with (
        staff_socket(server.base_url, agent_c) as agent_ws,
        staff_socket(server.base_url, t.admin) as admin_ws,
    ):
        r = agent_c.put("/me/status", json={"status": "busy"})
        assert r.status_code == 422, r.text
        assert [f["rule"] for f in r.json()["error"]["fields"]] == ["reason_required"]
        assert _status(t.admin, agent["id"]) == "idle"

        r = agent_c.put("/me/status", json={"status": "busy", "reason": "  lunch  "})
        assert r.status_code == 202, r.text
        out = r.json()
        assert out["status"] == "idle"
        approval = out["approval"]
        assert approval["state"] == "pending" and approval["reason"] == "lunch"
        assert (approval["from_status"], approval["to_status"]) == ("idle", "busy")
        assert approval["requester_name"] == "Ann"
        assert _status(t.admin, agent["id"]) == "idle"

        frame = recv_until(admin_ws, lambda f: f["type"] == "notification.created")
        notice = frame["notification"]
        assert notice["kind"] == "status_change_requested"
        assert notice["data"] == {
            "approval_id": approval["id"],
            "requester_id": agent["id"],
            "requester_name": "Ann",
            "from_status": "idle",
            "to_status": "busy",
            "reason": "lunch",
        }
        assert [a["id"] for a in t.admin.ok("GET", "/approvals")["items"]] == [approval["id"]]

        decided = t.admin.ok("POST", f"/approvals/{approval['id']}/approve", status=200)
        assert decided["state"] == "approved"
        assert decided["decided_by"] == t.admin.me["id"]
        assert _status(t.admin, agent["id"]) == "busy"
        frame = recv_until(agent_ws, lambda f: f["type"] == "notification.created")
        assert frame["notification"]["kind"] == "status_change_decided"
        assert frame["notification"]["data"]["decision"] == "approved"

    assert t.admin.ok("GET", "/approvals")["total"] == 0
    assert t.admin.ok("GET", "/approvals?state=approved")["items"][0]["id"] == approval["id"]
    actions = [e["action"] for e in t.admin.ok("GET", "/audit-logs")["items"]]
    assert "approval.approved" in actions
    # Deciding twice: 409, and nothing changes.
    for verb in ("approve", "reject"):
        r = t.admin.post(f"/approvals/{approval['id']}/{verb}")
        assert r.status_code == 409 and r.json()["error"]["code"] == "approval_decided"
    # Leaving Busy for another state is no longer "from Idle": free.
    assert agent_c.ok("PUT", "/me/status", json={"status": "away"}, status=200)["status"] == "away"


def test_reject_keeps_the_status_and_tells_the_agent(api: Api, server: LiveServer) -> None:
    t = api.provision()
    _approval_on(t)
    agent, agent_c = api.add_user(t)
    with staff_socket(server.base_url, agent_c):
        first = agent_c.ok("PUT", "/me/status", json={"status": "away", "reason": "a"}, status=202)
        # A new request replaces the one still waiting.
        second = agent_c.ok(
            "PUT", "/me/status", json={"status": "invisible", "reason": "b"}, status=202
        )
        listed = t.admin.ok("GET", "/approvals")["items"]
        assert [a["id"] for a in listed] == [second["approval"]["id"]]
        states = {a["id"]: a["state"] for a in t.admin.ok("GET", "/approvals?state=all")["items"]}
        assert states == {first["approval"]["id"]: "cancelled", second["approval"]["id"]: "pending"}
        r = t.admin.post(f"/approvals/{first['approval']['id']}/approve")
        assert r.status_code == 409 and r.json()["error"]["code"] == "approval_decided"

        decided = t.admin.ok(
            "POST", f"/approvals/{second['approval']['id']}/reject", json={"comment": "busy day"}
        )
        assert decided["state"] == "rejected" and decided["comment"] == "busy day"
        assert _status(t.admin, agent["id"]) == "idle"
    (notice,) = _notices(agent_c, "status_change_decided")
    assert notice["data"]["decision"] == "rejected" and notice["data"]["comment"] == "busy day"
    assert "approval.rejected" in [e["action"] for e in t.admin.ok("GET", "/audit-logs")["items"]]


def test_admins_never_need_approval(api: Api, server: LiveServer) -> None:
    t = api.provision()
    _approval_on(t)
    role = t.admin.ok(
        "POST", "/roles", json={"name": "Approver", "pages": ["agent.sessions", "admin.approvals"]}
    )
    approver, approver_c = api.add_user(t, role_id=role["id"])
    for client, uid in ((t.admin, t.admin.me["id"]), (approver_c, approver["id"])):
        with staff_socket(server.base_url, client):
            out = client.ok("PUT", "/me/status", json={"status": "busy"}, status=200)
            assert out["status"] == "busy"
            assert _status(t.admin, uid) == "busy"
    # Both are told of an agent's request; the approver can decide it.
    _, agent_c = api.add_user(t)
    req = agent_c.ok("PUT", "/me/status", json={"status": "busy", "reason": "x"}, status=202)
    assert len(_notices(t.admin, "status_change_requested")) == 1
    assert len(_notices(approver_c, "status_change_requested")) == 1
    approver_c.ok("POST", f"/approvals/{req['approval']['id']}/approve")


def test_offline_agent_approved_comes_back_in_the_new_status(api: Api, server: LiveServer) -> None:
    t = api.provision()
    _approval_on(t)
    agent, agent_c = api.add_user(t)
    # Offline (no socket): the state the next socket comes back to is Idle, so it is gated too.
    req = agent_c.ok("PUT", "/me/status", json={"status": "away", "reason": "x"}, status=202)
    assert req["status"] == "offline"
    t.admin.ok("POST", f"/approvals/{req['approval']['id']}/approve")
    assert _status(t.admin, agent["id"]) == "offline"
    with staff_socket(server.base_url, agent_c):
        assert _status(t.admin, agent["id"]) == "away"


def test_approvals_are_tenant_scoped_and_need_the_page(api: Api) -> None:
    t = api.provision()
    _approval_on(t)
    _, agent_c = api.add_user(t)
    req = agent_c.ok("PUT", "/me/status", json={"status": "busy", "reason": "x"}, status=202)
    approval_id = req["approval"]["id"]
    other = api.provision("Other Co")
    for verb in ("approve", "reject"):
        r = other.admin.post(f"/approvals/{approval_id}/{verb}")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert other.admin.ok("GET", "/approvals?state=all")["total"] == 0
    assert agent_c.get("/approvals").status_code == 403
    assert agent_c.post(f"/approvals/{approval_id}/approve").status_code == 403
    assert t.admin.ok("GET", "/approvals")["items"][0]["state"] == "pending"
