"""Message center (§15.1): an admin's max-concurrent change reaches the agent (§2.2), live and
kept; each user reads and marks only their own notices."""

from __future__ import annotations

from tests.chat_helpers import recv_until, staff_socket
from tests.conftest import LiveServer
from tests.helpers import Api


def test_admin_change_of_max_concurrent_notifies_the_agent(api: Api, server: LiveServer) -> None:
    t = api.provision()
    agent, agent_c = api.add_user(t, max_concurrent=10)
    assert agent_c.ok("GET", "/notifications/unread-count") == {"unread": 0}
    with staff_socket(server.base_url, agent_c) as ws:
        t.admin.ok("PATCH", f"/users/{agent['id']}", json={"max_concurrent": 5})
        frame = recv_until(ws, lambda f: f["type"] == "notification.created")
    live = frame["notification"]
    assert live["kind"] == "max_concurrent_changed" and live["read"] is False
    assert live["data"] == {
        "old": 10,
        "new": 5,
        "actor_id": t.admin.me["id"],
        "actor_name": t.admin.me["nickname"],
    }
    listed = agent_c.ok("GET", "/notifications")
    assert listed["total"] == 1 and listed["items"] == [live]
    assert agent_c.ok("GET", "/notifications/unread-count") == {"unread": 1}

    # Saving the same value again is no change: no notice.
    t.admin.ok("PATCH", f"/users/{agent['id']}", json={"max_concurrent": 5, "nickname": "Ann"})
    assert agent_c.ok("GET", "/notifications/unread-count") == {"unread": 1}

    agent_c.ok("POST", f"/notifications/{live['id']}/read", status=204)
    agent_c.ok("POST", f"/notifications/{live['id']}/read", status=204)  # idempotent
    assert agent_c.ok("GET", "/notifications/unread-count") == {"unread": 0}
    assert agent_c.ok("GET", "/notifications?unread_only=true")["items"] == []
    assert agent_c.ok("GET", "/notifications")["items"][0]["read"] is True

    # Two more changes: newest first; read-all up to the one seen leaves the newer unread.
    t.admin.ok("PATCH", f"/users/{agent['id']}", json={"max_concurrent": 7})
    t.admin.ok("PATCH", f"/users/{agent['id']}", json={"max_concurrent": 8})
    page = agent_c.ok("GET", "/notifications?page_size=2")
    assert page["total"] == 3 and [n["data"]["new"] for n in page["items"]] == [8, 7]
    assert agent_c.ok("GET", "/notifications?page=2&page_size=2")["items"][0]["id"] == live["id"]
    older = page["items"][1]["id"]
    agent_c.ok("POST", f"/notifications/read-all?up_to_id={older}", status=204)
    assert agent_c.ok("GET", "/notifications/unread-count") == {"unread": 1}
    agent_c.ok("POST", "/notifications/read-all", status=204)
    assert agent_c.ok("GET", "/notifications/unread-count") == {"unread": 0}


def test_own_changes_make_no_notice(api: Api) -> None:
    t = api.provision()
    t.admin.ok("PATCH", "/tenant/switches", json={"agent_custom_max_concurrent": True})
    _, agent_c = api.add_user(t, max_concurrent=10)
    assert agent_c.ok("PATCH", "/me", json={"max_concurrent": 3})["max_concurrent"] == 3
    assert agent_c.ok("GET", "/notifications") == {
        "items": [],
        "total": 0,
        "page": 1,
        "page_size": 20,
    }
    # An admin editing their own record through the users API is not "an admin change" either.
    t.admin.ok("PATCH", f"/users/{t.admin.me['id']}", json={"max_concurrent": 4})
    assert t.admin.ok("GET", "/notifications/unread-count") == {"unread": 0}


def test_notices_are_only_their_recipients(api: Api) -> None:
    t = api.provision()
    agent, agent_c = api.add_user(t)
    _, colleague_c = api.add_user(t)
    t.admin.ok("PATCH", f"/users/{agent['id']}", json={"max_concurrent": 2})
    notice = agent_c.ok("GET", "/notifications")["items"][0]
    other = api.provision("Other Co")
    _, stranger_c = api.add_user(other)
    for client in (colleague_c, t.admin, stranger_c, other.admin):
        r = client.post(f"/notifications/{notice['id']}/read")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        assert client.ok("GET", "/notifications")["total"] == 0
        client.ok("POST", "/notifications/read-all", status=204)
    assert agent_c.ok("GET", "/notifications/unread-count") == {"unread": 1}
    assert api.anon.get("/notifications").status_code == 401
    assert api.anon.get("/notifications/unread-count").status_code == 401
