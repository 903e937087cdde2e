"""History (§3.10): who sees which ended conversation, filters, detail and messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import LiveServer
from tests.helpers import Api
from tests.world_history import Desk, error


def _ids(page: dict[str, object]) -> list[int]:
    return [int(i["id"]) for i in page["items"]]  # type: ignore[index, union-attr]


def test_agents_see_what_they_took_part_in_admins_everything(api: Api, server: LiveServer) -> None:
    desk = Desk(api, server.base_url)
    a_user, a = api.add_user(desk.t, nickname="Alice")
    b_user, b = api.add_user(desk.t, nickname="Bob")
    _va, conv_a = desk.ended(a, desk.visitor("Zhang San"))
    _vb, conv_b = desk.ended(b, desk.visitor("Li Si"))
    # Transferred: A took part, B ended it; both see it.
    _vt, conv_t = desk.held(a, desk.visitor("Wang Wu"))
    ws = __import__("tests.chat_helpers", fromlist=["staff_socket"]).staff_socket(
        server.base_url, b
    )
    try:
        a.ok("POST", f"/conversations/{conv_t}/transfer", json={"agent_id": b_user["id"]})
    finally:
        ws.close()
    b.ok("POST", f"/conversations/{conv_t}/end")
    # Ongoing conversations are not history.
    _vo, ongoing = desk.held(a)
    assert _ids(a.ok("GET", "/history")) == [conv_t, conv_a]
    assert _ids(b.ok("GET", "/history")) == [conv_t, conv_b]
    everything = desk.t.admin.ok("GET", "/history")
    assert _ids(everything) == [conv_t, conv_b, conv_a] and everything["total"] == 3
    item = everything["items"][0]
    assert item["transferred"] and [p["nickname"] for p in item["agents"]] == ["Alice", "Bob"]
    assert item["agent"]["id"] == b_user["id"] and item["message_count"] >= 1
    # Agents may not use admin mode; admins may use agent mode (their own only: none).
    r = a.get("/history", params={"mode": "admin"})
    assert r.status_code == 403 and error(r) == "forbidden"
    assert desk.t.admin.ok("GET", "/history", params={"mode": "agent"})["total"] == 0
    # Detail and messages: own or admin; not another agent's, not ongoing.
    assert a.ok("GET", f"/history/{conv_a}")["visitor_info"]["name"] == "Zhang San"
    msgs = a.ok("GET", f"/history/{conv_a}/messages")
    assert any(m["body"].get("text") == "hello" for m in msgs)
    for url in (f"/history/{conv_b}", f"/history/{conv_b}/messages", f"/history/{ongoing}"):
        r = a.get(url)
        assert r.status_code == 404 and error(r) == "not_found", url
    assert desk.t.admin.ok("GET", f"/history/{conv_b}")["agent"]["id"] == b_user["id"]
    # Filters: agent, visitor name (part), channel, time range, paging.
    admin = desk.t.admin
    assert _ids(admin.ok("GET", "/history", params={"agent_id": a_user["id"]})) == [conv_t, conv_a]
    assert _ids(admin.ok("GET", "/history", params={"visitor_name": "san"})) == [conv_a]
    assert _ids(admin.ok("GET", "/history", params={"visitor_name": "%"})) == []
    assert admin.ok("GET", "/history", params={"channel": "web"})["total"] == 3
    assert admin.ok("GET", "/history", params={"channel": "weibo"})["total"] == 0
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert admin.ok("GET", "/history", params={"ended_from": future})["total"] == 0
    assert (
        admin.ok("GET", "/history", params={"ended_from": past, "ended_to": future})["total"] == 3
    )
    paged = admin.ok("GET", "/history", params={"page": 2, "page_size": 2})
    assert _ids(paged) == [conv_a] and paged["total"] == 3
    assert _ids(admin.ok("GET", "/history", params={"conversation_id": conv_b})) == [conv_b]


def test_history_is_tenant_scoped(api: Api, server: LiveServer) -> None:
    desk = Desk(api, server.base_url)
    _u, agent = api.add_user(desk.t)
    _v, conv = desk.ended(agent)
    other = Desk(api, server.base_url)
    assert other.t.admin.ok("GET", "/history")["total"] == 0
    for url in (f"/history/{conv}", f"/history/{conv}/messages"):
        r = other.t.admin.get(url)
        assert r.status_code == 404 and error(r) == "not_found"
    r = other.t.admin.post(f"/history/{conv}/blacklist", json={"reason": "x"})
    assert r.status_code == 404
    r = other.t.admin.post(
        f"/conversations/{conv}/reassign", json={"agent_id": other.t.admin.me["id"]}
    )
    assert r.status_code == 404


def test_custom_role_scopes(api: Api, server: LiveServer) -> None:
    """A role with only the agent History page sees its own; admin History pages see the
    role's data scope."""
    desk = Desk(api, server.base_url)
    role = desk.t.admin.ok(
        "POST", "/roles", json={"name": "Historian", "pages": ["agent.history"], "data_scopes": {}}
    )
    _u, hist = api.add_user(desk.t, role_id=role["id"])
    _a, agent = api.add_user(desk.t)
    _v, conv = desk.ended(agent)
    assert hist.ok("GET", "/history")["total"] == 0
    assert hist.get(f"/history/{conv}").status_code == 404
    assert hist.get("/history", params={"mode": "admin"}).status_code == 403
    # Without the workbench page there is no callback.
    assert hist.post(f"/conversations/{conv}/callback").status_code == 403
