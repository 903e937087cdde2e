"""Announcements (§15.2) and permission notices (§15.1): an admin sends a notice to everyone,
skill groups or named agents, with attachments; recipients find it in their message center."""

from __future__ import annotations

import httpx

from tests.chat_helpers import recv_until, staff_socket
from tests.conftest import LiveServer
from tests.helpers import Api, Client
from tests.routing_helpers import group


def _kinds(client: Client) -> list[str]:
    return [n["kind"] for n in client.ok("GET", "/notifications")["items"]]


def test_announcement_to_a_group_and_an_agent(api: Api, server: LiveServer) -> None:
    t = api.provision()
    a1, c1 = api.add_user(t, nickname="Ann")
    a2, c2 = api.add_user(t, nickname="Bob")
    _, c3 = api.add_user(t, nickname="Cai")
    g = group(t, "Sales", [a1["id"]])
    up = t.admin.post(
        "/announcements/attachments",
        files={"file": ("rota.txt", b"monday: Ann", "text/plain")},
        data={"kind": "file"},
    )
    assert up.status_code == 201, up.text
    att = up.json()
    body = {
        "subject": "New rota",
        "body": "Please read the attached rota.",
        "audience": {"skill_group_ids": [g["id"]], "user_ids": [a2["id"]]},
        "attachment_ids": [att["id"]],
    }
    with staff_socket(server.base_url, c1) as ws:
        ann = t.admin.ok("POST", "/announcements", json=body, status=201)
        frame = recv_until(ws, lambda f: f["type"] == "notification.created")
    assert frame["notification"]["kind"] == "announcement_received"
    assert frame["notification"]["data"]["subject"] == "New rota"
    assert ann["recipient_count"] == 2 and ann["audience_names"] == ["Sales", "Bob"]
    assert _kinds(c2) == ["announcement_received"]
    assert _kinds(c3) == []
    assert _kinds(t.admin) == ["announcement_published"]

    # Recipients and the author read it with its attachment; anyone else does not see it.
    got = c2.ok("GET", f"/announcements/{ann['id']}")
    assert got["body"] == "Please read the attached rota." and len(got["attachments"]) == 1
    file = httpx.get(server.base_url + got["attachments"][0]["url"])
    assert file.status_code == 200 and file.content == b"monday: Ann"
    assert t.admin.ok("GET", f"/announcements/{ann['id']}")["id"] == ann["id"]
    assert c3.get(f"/announcements/{ann['id']}").status_code == 404
    # Publishing needs the Message center admin page.
    assert c1.post("/announcements", json=body).status_code == 403
    listed = t.admin.ok("GET", "/announcements")
    assert listed["total"] == 1 and listed["items"][0]["subject"] == "New rota"


def test_announcement_to_everyone_and_bad_input(api: Api) -> None:
    t = api.provision()
    _, c1 = api.add_user(t)
    _, c2 = api.add_user(t)
    disabled, _ = api.add_user(t)
    t.admin.ok("PATCH", f"/users/{disabled['id']}", json={"enabled": False})
    ann = t.admin.ok(
        "POST", "/announcements", json={"subject": "Hi all", "audience": {"all": True}}
    )
    assert ann["recipient_count"] == 2  # enabled members other than the author
    assert _kinds(c1) == ["announcement_received"] and _kinds(c2) == ["announcement_received"]

    nobody = t.admin.post("/announcements", json={"subject": "x", "audience": {}})
    assert nobody.status_code == 422
    assert nobody.json()["error"]["code"] == "announcement_no_recipients"
    long = t.admin.post("/announcements", json={"subject": "x" * 101, "audience": {"all": True}})
    assert long.status_code == 422
    other = api.provision(name="Other Co")
    foreign, _ = api.add_user(other)
    r = t.admin.post(
        "/announcements", json={"subject": "x", "audience": {"user_ids": [foreign["id"]]}}
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    # Another company's announcement is unknown; so is another user's upload.
    theirs = other.admin.ok(
        "POST", "/announcements", json={"subject": "x", "audience": {"all": True}}
    )
    assert t.admin.get(f"/announcements/{theirs['id']}").status_code == 404
    up = other.admin.post(
        "/announcements/attachments",
        files={"file": ("a.txt", b"x", "text/plain")},
        data={"kind": "file"},
    ).json()
    r = t.admin.post(
        "/announcements",
        json={"subject": "x", "audience": {"all": True}, "attachment_ids": [up["id"]]},
    )
    assert r.status_code == 404
    assert _kinds(c1) == ["announcement_received"]  # nothing half-sent


def test_recipient_options_list_groups_and_agents(api: Api) -> None:
    t = api.provision()
    a1, _ = api.add_user(t, nickname="Zhang San", real_name="张三")
    group(t, "Support", [a1["id"]])
    opts = t.admin.ok("GET", "/announcements/recipients?q=zhang")
    assert [(o["kind"], o["name"], o["detail"]) for o in opts] == [("agent", "Zhang San", "张三")]
    groups = t.admin.ok("GET", "/announcements/recipients?q=supp")
    assert [(o["kind"], o["name"], o["detail"]) for o in groups] == [("group", "Support", "1")]


def test_permission_changes_reach_the_agent(api: Api) -> None:
    t = api.provision()
    agent, agent_c = api.add_user(t)
    role = t.admin.ok(
        "POST", "/roles", json={"name": "Helpdesk", "pages": ["agent.sessions"]}, status=201
    )
    t.admin.ok("PATCH", f"/users/{agent['id']}", json={"role_id": role["id"]})
    t.admin.ok("PATCH", f"/roles/{role['id']}", json={"pages": ["agent.sessions", "agent.history"]})
    t.admin.ok("PATCH", f"/roles/{role['id']}", json={"name": "Helpdesk 2"})  # no page change
    items = agent_c.ok("GET", "/notifications")["items"]
    assert [(n["kind"], n["data"]["change"]) for n in items] == [
        ("permissions_changed", "role_edited"),
        ("permissions_changed", "role_assigned"),
    ]
    assert items[1]["data"]["role_name"] == "Helpdesk"
    assert items[1]["data"]["actor_name"] == t.admin.me["nickname"]
