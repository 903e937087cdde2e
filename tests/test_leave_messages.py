"""Leave messages (SPEC §11.1, §15.1 notices, §14 export) through the HTTP API."""

from __future__ import annotations

import contextlib
from typing import Any

from kefu.conversations.models import Conversation
from tests.chat_helpers import Visitor, new_widget
from tests.conftest import LiveServer
from tests.exports_helpers import run_export, sheet_rows
from tests.helpers import Api, Client, Tenant
from tests.routing_helpers import NEVER, on_server
from tests.test_automations import configure


def off_hours(t: Tenant) -> dict[str, Any]:
    default: dict[str, Any] = t.admin.ok("GET", "/time-plans")[0]
    t.admin.ok("PATCH", f"/time-plans/{default['id']}", json={"weekly": NEVER})
    return default


def conversations_of(server: LiveServer, visitor_id: int) -> int:
    from sqlalchemy import func, select

    async def count() -> int:
        async with server.app.state.sessionmaker() as db:
            n = await db.scalar(
                select(func.count(Conversation.id)).where(Conversation.visitor_id == visitor_id)
            )
            return int(n or 0)

    result: int = on_server(server, count())
    return result


def error(r: Any) -> str:
    code: str = r.json()["error"]["code"]
    return code


def notices(client: Client, kind: str) -> list[dict[str, Any]]:
    return [n for n in client.ok("GET", "/notifications")["items"] if n["kind"] == kind]


def listing(client: Client, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.ok("GET", "/leave-messages", params=params)["items"]
    return items


def numbers(client: Client, **params: Any) -> list[int]:
    return [m["number"] for m in listing(client, **params)]


def test_visitor_origins_validation_and_no_waiting_conversation(
    api: Api, server: LiveServer
) -> None:
    t = api.provision()  # nobody online: visitors wait
    widget = new_widget(t)

    # (a) The waiting-state button: always offered while waiting; ends the conversation.
    v1 = Visitor(api, widget, profile={"name": "Ann"})
    assert v1.http.ok("GET", "/visitor/leave-message/offer") == {
        "off_hours": False,
        "waiting": False,
    }
    # Not waiting, in hours: nothing to leave a message from.
    r = v1.http.post("/visitor/leave-message", json={"origin": "waiting", "content": "x"})
    assert r.status_code == 409 and error(r) == "leave_message_unavailable"
    conv = v1.send("hello?")["conversation_id"]
    assert v1.http.ok("GET", "/visitor/leave-message/offer")["waiting"] is True
    # The reminder's button is off, so that origin is refused; the waiting button is not.
    r = v1.http.post("/visitor/leave-message", json={"content": "via reminder"})
    assert r.status_code == 409
    bad = [
        {"origin": "waiting", "content": " "},
        {"origin": "waiting", "content": "x" * 2001},
        {"origin": "waiting", "content": "x", "subject": "s" * 101},
        {"origin": "waiting", "content": "x", "subject": "two\nlines"},
        {"origin": "waiting", "content": "x", "phone": "call me"},
        {"origin": "waiting", "content": "x", "email": "not-an-email"},
        {"origin": "waiting", "content": "x", "name": "n" * 51},
        {"origin": "somewhere", "content": "x"},
        {"origin": "waiting", "content": "x", "status": "resolved"},
    ]
    for body in bad:
        r = v1.http.post("/visitor/leave-message", json=body)
        assert r.status_code == 422, (body, r.text)
    first = v1.http.ok(
        "POST",
        "/visitor/leave-message",
        json={
            "origin": "waiting",
            "subject": "  Refund  ",
            "content": "x" * 2000,
            "name": "Ann",
            "phone": "+86 138-0013-8000",
            "email": "Ann@Example.com",
        },
    )
    assert first["number"] == 1 and first["conversation_id"] == conv
    assert v1.http.ok("GET", "/visitor/conversation") is None  # the wait ended
    detail = t.admin.ok("GET", f"/leave-messages/{first['id']}")
    assert detail["subject"] == "Refund" and detail["email"] == "ann@example.com"
    assert detail["origin"] == "waiting" and detail["status"] == "unhandled"
    assert detail["assignee"] is None and detail["channel"] == "web"
    assert detail["visitor"]["name"] == "Ann" and detail["widget_id"] == widget["id"]
    ended = t.admin.ok("GET", f"/conversations/{conv}")
    assert ended["state"] == "ended"

    # (b) The waiting reminder's button (origin omitted = "reminder", as before §11.1).
    configure(t, waiting_reminder={"enabled": True, "leave_message": True, "first_after": 60})
    v2 = Visitor(api, widget)
    v2.send("anyone?")
    second = v2.http.ok("POST", "/visitor/leave-message", json={"content": "call me back"})
    assert second["number"] == 2
    assert t.admin.ok("GET", f"/leave-messages/{second['id']}")["origin"] == "reminder"

    # (c) Off hours: the widget is told to show the form; it opens no conversation at all.
    v3 = Visitor(api, widget)
    r = v3.http.post("/visitor/leave-message", json={"origin": "off_hours", "content": "x"})
    assert r.status_code == 409  # in hours
    default = off_hours(t)
    assert v3.http.ok("GET", "/visitor/leave-message/offer") == {
        "off_hours": True,
        "waiting": False,
    }
    third = v3.http.ok(
        "POST",
        "/visitor/leave-message",
        json={"origin": "off_hours", "content": "we are closed?", "subject": "Hours"},
    )
    assert third["number"] == 3 and third["conversation_id"] is None
    assert v3.http.ok("GET", "/visitor/conversation") is None
    assert conversations_of(server, v3.id) == 0
    # Off hours, but chatting already: the waiting origins apply, not the off-hours form.
    conv4 = v3.send("still there?")["conversation_id"]
    assert v3.http.ok("GET", "/visitor/leave-message/offer") == {
        "off_hours": False,
        "waiting": True,
    }
    r = v3.http.post("/visitor/leave-message", json={"origin": "off_hours", "content": "x"})
    assert r.status_code == 409
    t.admin.ok("POST", f"/conversations/{conv4}/end")
    # A skill group in hours (its own plan) routed by the widget entry: not off hours.
    always = t.admin.ok(
        "POST",
        "/time-plans",
        json={"name": "24h", "weekly": {str(d): [["00:00", "24:00"]] for d in range(1, 8)}},
    )
    g = t.admin.ok("POST", "/skill-groups", json={"name": "Day", "time_plan_id": always["id"]})
    v5 = Visitor(api, widget, entry={"skill_group": "Day"})
    assert v5.http.ok("GET", "/visitor/leave-message/offer")["off_hours"] is False
    assert g["id"]
    # Back in hours for everyone.
    t.admin.ok("PATCH", f"/time-plans/{default['id']}", json={"weekly": always["weekly"]})
    assert v3.http.ok("GET", "/visitor/leave-message/offer")["off_hours"] is False

    # Numbers are per tenant: another tenant starts at 1.
    other = api.provision()
    off_hours(other)
    vo = Visitor(api, new_widget(other))
    mine = vo.http.ok(
        "POST", "/visitor/leave-message", json={"origin": "off_hours", "content": "x"}
    )
    assert mine["number"] == 1
    # Another tenant's message answers like an unknown one, everywhere.
    for method, url, body in [
        ("GET", f"/leave-messages/{mine['id']}", None),
        ("POST", f"/leave-messages/{mine['id']}/assign", {"assignee_id": t.admin.me["id"]}),
        ("POST", f"/leave-messages/{mine['id']}/status", {"status": "resolved"}),
        ("POST", f"/leave-messages/{mine['id']}/comments", {"text": "hi"}),
        ("POST", "/leave-messages/batch/status", {"ids": [mine["id"]], "status": "resolved"}),
        ("POST", "/leave-messages/batch/assign", {"ids": [mine["id"]], "assignee_id": None}),
    ]:
        r = t.admin.request(method, url, json=body)
        assert r.status_code == 404 and error(r) == "not_found", (url, r.text)
    r = t.admin.get("/leave-messages/lookup", params={"number": 99})
    assert r.status_code == 404
    assert other.admin.ok("GET", f"/leave-messages/{mine['id']}")["number"] == 1


def _seed(api: Api, t: Tenant, count: int) -> list[dict[str, Any]]:
    """`count` off-hours messages from different visitors (numbers 1..count)."""
    widget = new_widget(t)
    out = []
    for i in range(count):
        v = Visitor(api, widget, profile={"name": f"Guest {i + 1}"})
        out.append(
            v.http.ok(
                "POST",
                "/visitor/leave-message",
                json={
                    "origin": "off_hours",
                    "content": f"message {i + 1}",
                    "subject": f"Subject {i + 1}",
                    "phone": f"1380000000{i}",
                },
            )
        )
    return out


def test_views_scopes_handling_notices_and_export(api: Api, server: LiveServer) -> None:
    t = api.provision()
    off_hours(t)
    a_user, a = api.add_user(t, nickname="Alice Wang")
    b_user, b = api.add_user(t, nickname="Bob Li")
    _, admin2 = api.add_user(t, role="admin", nickname="Second Admin")
    seeded = _seed(api, t, 6)
    ids = {m["number"]: m["id"] for m in seeded}

    # Admin "Process": batch-assign 1-2 to Alice, 3 to Bob; 4-6 stay unassigned.
    t.admin.ok(
        "POST",
        "/leave-messages/batch/assign",
        json={"ids": [ids[1], ids[2], ids[1]], "assignee_id": a_user["id"]},
    )
    t.admin.ok("POST", f"/leave-messages/{ids[3]}/assign", json={"assignee_id": b_user["id"]})
    assigned = notices(a, "leave_message_assigned")
    assert sorted(n["data"]["number"] for n in assigned) == [1, 2]
    assert assigned[0]["data"]["actor_name"] == t.admin.me["nickname"]
    assert a.ok("GET", "/leave-messages/badge") == {"mine_unhandled": 2, "all_unhandled": None}
    assert t.admin.ok("GET", "/leave-messages/badge")["all_unhandled"] == 6

    # Agent views.
    assert numbers(a, view="unhandled") == [2, 1]
    assert numbers(a, view="unassigned") == [6, 5, 4]
    assert numbers(b, view="unhandled") == [3]
    assert numbers(a, view="resolved") == []
    # The custom filter covers unassigned + mine only; the number lookup covers everyone's.
    assert numbers(a, view="filter") == [6, 5, 4, 2, 1]
    assert numbers(a, view="filter", agent_id=b_user["id"]) == []
    assert numbers(a, view="filter", sender="Guest 5") == [5]
    assert numbers(a, view="filter", sender="13800000003") == [4]
    assert (
        a.ok("GET", "/leave-messages/lookup", params={"number": 3})["assignee"]["id"]
        == b_user["id"]
    )
    assert a.ok("GET", f"/leave-messages/{ids[3]}")["number"] == 3
    # Admin-mode lists are for admin pages only; admins see all, with fuzzy nickname.
    r = a.get("/leave-messages", params={"mode": "admin"})
    assert r.status_code == 403 and error(r) == "forbidden"
    assert numbers(t.admin, mode="admin") == [6, 5, 4, 3, 2, 1]
    assert numbers(t.admin, mode="admin", agent="alice") == [2, 1]
    assert numbers(t.admin, mode="admin", agent="BOB") == [3]
    assert numbers(t.admin, mode="admin", assigned=False) == [6, 5, 4]

    # Agents take unassigned messages for themselves only.
    r = a.post(f"/leave-messages/{ids[4]}/assign", json={"assignee_id": b_user["id"]})
    assert r.status_code == 403 and error(r) == "leave_message_assign_forbidden"
    r = a.post(f"/leave-messages/{ids[3]}/assign", json={"assignee_id": a_user["id"]})
    assert r.status_code == 403  # Bob's
    r = a.post(
        "/leave-messages/batch/assign", json={"ids": [ids[4], ids[3]], "assignee_id": a_user["id"]}
    )
    assert r.status_code == 403
    assert a.ok("GET", f"/leave-messages/{ids[4]}")["assignee"] is None  # all or nothing
    taken = a.ok("POST", f"/leave-messages/{ids[4]}/assign", json={"assignee_id": a_user["id"]})
    assert taken["assignee"]["nickname"] == "Alice Wang"
    assert len(notices(a, "leave_message_assigned")) == 2  # no notice for taking one myself
    r = t.admin.post(f"/leave-messages/{ids[5]}/assign", json={"assignee_id": 2**52})
    assert r.status_code == 422 and error(r) == "leave_message_assignee_invalid"

    # Status: agents change their own only; someone else's change notifies the handler.
    r = a.post(f"/leave-messages/{ids[3]}/status", json={"status": "resolved"})
    assert r.status_code == 403 and error(r) == "leave_message_not_yours"
    r = a.post(f"/leave-messages/{ids[5]}/status", json={"status": "resolved"})
    assert r.status_code == 403  # unassigned: take it first
    a.ok("POST", f"/leave-messages/{ids[1]}/status", json={"status": "in_progress"})
    assert notices(a, "leave_message_status_changed") == []  # my own change
    a.ok(
        "POST", "/leave-messages/batch/status", json={"ids": [ids[2], ids[4]], "status": "resolved"}
    )
    assert numbers(a, view="in_progress") == [1]
    assert numbers(a, view="resolved") == [4, 2]
    assert a.ok("GET", "/leave-messages/badge")["mine_unhandled"] == 0
    t.admin.ok("POST", f"/leave-messages/{ids[1]}/status", json={"status": "resolved"})
    [changed] = notices(a, "leave_message_status_changed")
    assert changed["data"]["old"] == "in_progress" and changed["data"]["new"] == "resolved"
    assert changed["data"]["leave_message_id"] == ids[1]
    r = a.post(f"/leave-messages/{ids[1]}/status", json={"status": "closed"})
    assert r.status_code == 422

    # Comments: anyone with the page; an admin's comment on Alice's message notifies her.
    before = a.ok("GET", f"/leave-messages/{ids[1]}")["updated_at"]
    a.ok("POST", f"/leave-messages/{ids[1]}/comments", json={"text": "Called, no answer"})
    assert notices(a, "leave_message_commented") == []
    b.ok("POST", f"/leave-messages/{ids[1]}/comments", json={"text": "I know this customer"})
    assert notices(a, "leave_message_commented") == []  # agents' comments do not notify
    admin2.ok("POST", f"/leave-messages/{ids[1]}/comments", json={"text": "Please email them"})
    [commented] = notices(a, "leave_message_commented")
    assert commented["data"]["text"] == "Please email them"
    detail = a.ok("GET", f"/leave-messages/{ids[1]}")
    assert [c["text"] for c in detail["comment_list"]] == [
        "Called, no answer",
        "I know this customer",
        "Please email them",
    ]
    assert detail["comment_list"][0]["author"]["nickname"] == "Alice Wang"
    assert detail["comments"] == 3 and detail["updated_at"] >= before
    for body in ({"text": " "}, {"text": "x" * 2001}, {}):
        r = a.post(f"/leave-messages/{ids[1]}/comments", json=body)
        assert r.status_code == 422
    a.ok("POST", f"/leave-messages/{ids[6]}/comments", json={"text": "y" * 2000})

    # Batch limits and unknown ids: nothing is written.
    r = t.admin.post("/leave-messages/batch/status", json={"ids": [], "status": "resolved"})
    assert r.status_code == 422
    r = t.admin.post(
        "/leave-messages/batch/status", json={"ids": list(range(1, 202)), "status": "resolved"}
    )
    assert r.status_code == 422
    r = t.admin.post(
        "/leave-messages/batch/status", json={"ids": [ids[5], 2**52], "status": "resolved"}
    )
    assert r.status_code == 404
    assert t.admin.ok("GET", f"/leave-messages/{ids[5]}")["status"] == "unhandled"
    # Admins may unassign.
    t.admin.ok("POST", f"/leave-messages/{ids[3]}/assign", json={"assignee_id": None})
    assert numbers(b, view="unhandled") == []
    assert numbers(b, view="unassigned") == [6, 5, 3]

    # Export (§14): the filtered set, in the agent's scope or the admin's.
    wb = run_export(a, "leave_messages", {"mode": "agent", "view": "resolved"})
    rows = sheet_rows(wb)
    assert rows[0][:4] == ["编号", "状态", "处理人", "访客"]
    assert [r[0] for r in rows[1:]] == ["#4", "#2", "#1"]
    assert rows[1][1] == "已解决" and rows[1][2] == "Alice Wang"
    comments = sheet_rows(wb, 1)
    assert [c[0] for c in comments[1:]] == ["#1", "#1", "#1"]
    wb = run_export(t.admin, "leave_messages", {"mode": "admin", "agent": "alice"})
    assert [r[0] for r in sheet_rows(wb)[1:]] == ["#4", "#2", "#1"]
    # An agent asking for the admin mode is refused at once: no job is queued.
    r = a.post("/exports", json={"kind": "leave_messages", "params": {"mode": "admin"}})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert not any(
        j["kind"] == "leave_messages" and j["state"] != "done"
        for j in a.ok("GET", "/exports")["items"]
    )
    r = a.post("/exports", json={"kind": "leave_messages", "params": {"bogus": 1}})
    assert r.status_code == 422

    # Pages: a role without either leave-message page is refused.
    role = t.admin.ok("POST", "/roles", json={"name": "No leave", "pages": ["agent.sessions"]})
    _, c = api.add_user(t, role_id=role["id"])
    for url in ("/leave-messages", "/leave-messages/badge", f"/leave-messages/{ids[1]}"):
        r = c.get(url)
        assert r.status_code == 403, url


def test_staff_sockets_hear_that_leave_messages_changed(api: Api, server: LiveServer) -> None:
    """A new leave message, an assignment and a status change each nudge every staff socket of
    the tenant once (badges and lists re-read; no content in the frame); other tenants hear
    nothing."""
    from tests.chat_helpers import recv, recv_until, staff_socket

    t = api.provision()
    off_hours(t)
    a_user, a = api.add_user(t)
    other = api.provision(name="Other Co")

    def changed(f: dict[str, Any]) -> bool:
        return f.get("type") == "leave_messages.changed"

    with (
        staff_socket(server.base_url, t.admin) as admin_ws,
        staff_socket(server.base_url, a) as agent_ws,
        staff_socket(server.base_url, other.admin) as other_ws,
    ):
        seeded = _seed(api, t, 1)
        assert recv_until(admin_ws, changed) == {"type": "leave_messages.changed"}
        recv_until(agent_ws, changed)
        t.admin.ok(
            "POST",
            "/leave-messages/batch/assign",
            json={"ids": [seeded[0]["id"]], "assignee_id": a_user["id"]},
        )
        recv_until(admin_ws, changed)
        recv_until(agent_ws, changed)
        a.ok("POST", f"/leave-messages/{seeded[0]['id']}/status", json={"status": "resolved"})
        recv_until(admin_ws, changed)
        # One nudge per change: nothing else of the kind is pending.
        frames = []
        with contextlib.suppress(TimeoutError):
            while True:
                frames.append(recv(admin_ws, 0.5))
        assert not [f for f in frames if changed(f)]
        other_frames = []
        with contextlib.suppress(TimeoutError):
            while True:
                other_frames.append(recv(other_ws, 0.5))
        assert not [f for f in other_frames if changed(f)]
