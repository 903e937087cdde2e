"""Customer center (§12.1–§12.5): list scope and filters, profile fields and their settings,
automatic groups, interaction records, callback, import and export."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

from openpyxl import Workbook, load_workbook

from tests.conftest import LiveServer
from tests.helpers import Api
from tests.world_history import Desk, error


def _ids(page: dict[str, Any]) -> list[int]:
    return [int(i["id"]) for i in page["items"]]


def _field(profile: dict[str, Any], key: str) -> dict[str, Any] | None:
    return next((f for f in profile["fields"] if f["key"] == key), None)


def _xlsx(rows: list[list[Any]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["header"] * 10)
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_list_scope_switch_filters_and_profile(api: Api, server: LiveServer) -> None:
    desk = Desk(api, server.base_url)
    admin = desk.t.admin
    a_user, a = api.add_user(desk.t, nickname="Alice")
    _b_user, b = api.add_user(desk.t, nickname="Bob")
    va, conv_a = desk.ended(a, desk.visitor("Zhang San"))
    vb, _conv_b = desk.ended(b, desk.visitor("Li Si"))
    browsing = desk.visitor("Only Browsing")  # opened the widget, never wrote: not a customer
    # Switch off (default): no agent-mode page, no API.
    assert "agent.customers" not in a.ok("GET", "/me")["pages"]
    r = a.get("/customers")
    assert r.status_code == 403 and error(r) == "forbidden"
    assert "agent.customers" not in admin.ok("GET", "/me")["pages"]
    desk.switch(customer_center_for_agents=True)
    assert "agent.customers" in a.ok("GET", "/me")["pages"]
    # Agents see the customers they served; admins every customer; nobody the mere browser.
    assert _ids(a.ok("GET", "/customers")) == [va.id]
    assert _ids(b.ok("GET", "/customers")) == [vb.id]
    everyone = admin.ok("GET", "/customers")
    assert _ids(everyone) == [vb.id, va.id] and browsing.id not in _ids(everyone)
    item = everyone["items"][1]
    assert item["name"] == "Zhang San" and item["conversation_count"] == 1
    assert item["created_at"] and item["last_conversation_at"]
    r = a.get("/customers", params={"mode": "admin"})
    assert r.status_code == 403 and error(r) == "forbidden"
    # Another agent's customer is unknown to an agent.
    r = a.get(f"/customers/{vb.id}")
    assert r.status_code == 404 and error(r) == "not_found"
    # Filters: name / id fuzzy, visitor number, tags, created range, phone, nickname, email.
    assert _ids(admin.ok("GET", "/customers", params={"q": "san"})) == [va.id]
    assert _ids(admin.ok("GET", "/customers", params={"q": str(vb.id)})) == [vb.id]
    assert _ids(admin.ok("GET", "/customers", params={"q": "%"})) == []
    tag = admin.ok("POST", "/visitor-tags", json={"name": "Gold"})
    a.ok("PUT", f"/visitors/{va.id}/tags", json={"tag_ids": [tag["id"]]})
    page = admin.ok("GET", "/customers", params={"tag_ids": [tag["id"]]})
    assert _ids(page) == [va.id] and page["items"][0]["tags"][0]["name"] == "Gold"
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert admin.ok("GET", "/customers", params={"created_from": future})["total"] == 0
    assert admin.ok("GET", "/customers", params={"created_to": future})["total"] == 2
    out = a.ok(
        "PATCH",
        f"/customers/{va.id}",
        json={
            "fields": {"phone": "+86 138-0000-0000", "nickname": "Xiao Zhang", "email": "Z@X.CN"}
        },
    )
    assert _field(out, "phone")["value"] == "+86 138-0000-0000"  # type: ignore[index]
    assert _field(out, "email")["value"] == "z@x.cn"  # type: ignore[index]
    assert _ids(admin.ok("GET", "/customers", params={"phone": "0000"})) == [va.id]
    assert _ids(admin.ok("GET", "/customers", params={"nickname": "xiao"})) == [va.id]
    assert _ids(admin.ok("GET", "/customers", params={"email": "x.cn"})) == [va.id]
    # The workbench profile shows the edit (the visitor's next session sees the same record).
    assert a.ok("GET", f"/conversations/{conv_a}/visitor")["phone"] == "+86 138-0000-0000"
    # Bad values: 4xx with a code, nothing written.
    for body, code in (
        ({"phone": "call me", "nickname": "changed"}, "customer_field_invalid"),
        ({"name": "x" * 46}, "customer_field_invalid"),
        ({"email": "nope"}, "customer_field_invalid"),
        ({"external_id": "forged"}, "customer_field_readonly"),
        ({"custom_999": "x"}, "customer_field_unknown"),
    ):
        r = a.patch(f"/customers/{va.id}", json={"fields": body})
        assert r.status_code in (409, 422) and error(r) == code, (body, r.text)
    assert _field(a.ok("GET", f"/customers/{va.id}"), "nickname")["value"] == "Xiao Zhang"  # type: ignore[index]
    # Callback from the customer center: a new conversation held by the caller.
    out = a.ok("POST", f"/customers/{va.id}/callback")
    assert out["conversation"]["agent"]["id"] == a_user["id"]
    r = a.post(f"/customers/{va.id}/callback")
    assert r.status_code == 409 and error(r) == "callback_visitor_busy"
    # Another tenant's customer is unknown.
    other = Desk(api, server.base_url)
    r = other.t.admin.get(f"/customers/{va.id}")
    assert r.status_code == 404 and error(r) == "not_found"


def test_fields_settings_visibility_and_readonly(api: Api, server: LiveServer) -> None:
    desk = Desk(api, server.base_url)
    admin = desk.t.admin
    _user, agent = api.add_user(desk.t)
    v, _conv = desk.ended(agent, desk.visitor("Wang"))
    fields = admin.ok("GET", "/customer-fields")
    assert [f["key"] for f in fields][:3] == ["nickname", "name", "external_id"]
    assert next(f for f in fields if f["key"] == "external_id")["readonly"]
    level = admin.ok(
        "POST",
        "/customer-fields",
        json={"name": "Level", "type": "select", "options": ["A", "B", "A"]},
    )
    assert level["options"] == ["A", "B"] and level["key"] == f"custom_{level['id']}"
    secret = admin.ok(
        "POST",
        "/customer-fields",
        json={"name": "Credit", "type": "number", "agent_visible": False},
    )
    born = admin.ok("POST", "/customer-fields", json={"name": "Birthday", "type": "date"})
    r = admin.post("/customer-fields", json={"name": "Level", "type": "text"})
    assert r.status_code == 409 and error(r) == "customer_field_name_taken"
    r = admin.post("/customer-fields", json={"name": "Empty", "type": "select"})
    assert r.status_code == 422 and error(r) == "customer_field_options_required"
    r = admin.post("/customer-fields", json={"name": "Odd", "type": "colour"})
    assert r.status_code == 422
    lk, sk, bk = level["key"], secret["key"], born["key"]
    # Values are checked per type.
    for key, value in ((lk, "C"), (sk, "12abc"), (bk, "2024-02-30"), (bk, "tomorrow")):
        r = admin.patch(f"/customers/{v.id}", json={"fields": {key: value}})
        assert r.status_code == 422 and error(r) == "customer_field_invalid", (key, value)
    out = admin.ok(
        "PATCH",
        f"/customers/{v.id}",
        params={"mode": "admin"},
        json={"fields": {lk: "B", sk: "0012.50", bk: "2024-02-29"}},
    )
    assert [_field(out, k)["value"] for k in (lk, sk, bk)] == ["B", "12.5", "2024-02-29"]  # type: ignore[index]
    # Agent mode hides fields not visible to agents: neither shown nor editable.
    seen = agent.ok("GET", f"/customers/{v.id}")
    assert seen["mode"] == "agent" and _field(seen, sk) is None and _field(seen, lk)["value"] == "B"  # type: ignore[index]
    r = agent.patch(f"/customers/{v.id}", json={"fields": {sk: "1"}})
    assert r.status_code == 422 and error(r) == "customer_field_unknown"
    r = agent.get(f"/customers/{v.id}", params={"mode": "admin"})
    assert r.status_code == 403 and error(r) == "forbidden"
    # Layout: move Level to the top, hide QQ, make the company read-only.
    layout = [
        {
            "key": f["key"],
            "agent_visible": f["agent_visible"],
            "readonly": f["readonly"],
            "shown": f["shown"],
        }
        for f in admin.ok("GET", "/customer-fields")
    ]
    top = next(i for i in layout if i["key"] == lk)
    layout.remove(top)
    layout.insert(0, top)
    for item in layout:
        if item["key"] == "qq":
            item["shown"] = False
        if item["key"] in ("company", "external_id"):
            item["readonly"] = item["key"] == "company"
    saved = admin.ok("PUT", "/customer-fields/layout", json={"fields": layout})
    assert saved[0]["key"] == lk
    assert next(f for f in saved if f["key"] == "external_id")["readonly"]  # always
    seen = agent.ok("GET", f"/customers/{v.id}")
    assert seen["fields"][0]["key"] == lk and _field(seen, "qq") is None
    r = agent.patch(f"/customers/{v.id}", json={"fields": {"company": "ACME"}})
    assert r.status_code == 409 and error(r) == "customer_field_readonly"
    r = admin.put("/customer-fields/layout", json={"fields": layout[1:]})
    assert r.status_code == 422 and error(r) == "customer_field_layout_mismatch"
    # Edit and delete a custom field; system fields are not custom fields.
    assert (
        admin.ok("PATCH", f"/customer-fields/{level['id']}", json={"name": "Tier"})["name"]
        == "Tier"
    )
    admin.ok("DELETE", f"/customer-fields/{secret['id']}")
    assert _field(admin.ok("GET", f"/customers/{v.id}"), sk) is None
    other = Desk(api, server.base_url)
    r = other.t.admin.patch(f"/customer-fields/{level['id']}", json={"name": "X"})
    assert r.status_code == 404 and error(r) == "not_found"
    # Agents cannot reach the settings.
    r = agent.get("/customer-fields")
    assert r.status_code == 403


def test_groups_records_import_and_export(api: Api, server: LiveServer) -> None:
    desk = Desk(api, server.base_url)
    admin = desk.t.admin
    desk.switch(customer_center_for_agents=True)
    a_user, a = api.add_user(desk.t, nickname="Alice")
    vip_tag = admin.ok("POST", "/visitor-tags", json={"name": "VIPs"})
    admin.ok("POST", "/visitor-tags", json={"name": "Trial"})
    v1, c1 = desk.ended(a, desk.visitor("First"))
    _v1, c2 = desk.ended(a, v1)  # a second conversation: continuous reading
    v2, _ = desk.ended(a, desk.visitor("Second"))
    a.ok("PUT", f"/visitors/{v1.id}/tags", json={"tag_ids": [vip_tag["id"]]})
    # Groups: a saved filter, evaluated when read.
    tagged = admin.ok(
        "POST",
        "/customer-groups",
        json={"name": "Tagged", "items": [{"kind": "tag", "tag_id": vip_tag["id"]}]},
    )
    admin.ok(
        "POST",
        "/customer-groups",
        json={
            "name": "Hidden",
            "agent_visible": False,
            "match": "any",
            "items": [{"kind": "vip"}, {"kind": "field_equals", "key": "company", "value": "ACME"}],
        },
    )
    recent = admin.ok(
        "POST",
        "/customer-groups",
        json={
            "name": "Recent web",
            "items": [
                {"kind": "created_within_days", "days": 3},
                {"kind": "last_conversation_within_days", "days": 1},
                {"kind": "channel", "channel": "web"},
            ],
        },
    )
    r = admin.post(
        "/customer-groups", json={"name": "Bad", "items": [{"kind": "tag", "tag_id": 999999}]}
    )
    assert r.status_code == 404 and error(r) == "not_found"
    bad = {"kind": "field_equals", "key": "custom_999", "value": "x"}
    r = admin.post("/customer-groups", json={"name": "Bad", "items": [bad]})
    assert r.status_code == 422 and error(r) == "customer_group_item_invalid"
    assert [g["name"] for g in a.ok("GET", "/customer-groups")] == ["Tagged", "Recent web"]
    assert _ids(a.ok("GET", "/customers", params={"group_id": tagged["id"]})) == [v1.id]
    assert _ids(a.ok("GET", "/customers", params={"group_id": recent["id"]})) == [v2.id, v1.id]
    hidden = admin.ok("GET", "/customer-groups")[1]
    r = a.get("/customers", params={"group_id": hidden["id"]})
    assert r.status_code == 404
    assert admin.ok("GET", "/customers", params={"group_id": hidden["id"]})["total"] == 0
    admin.ok("PATCH", f"/customers/{v2.id}", json={"fields": {"company": "ACME"}})
    # Tags from the customer detail (imported customers too, who have no conversation).
    got = admin.ok("PATCH", f"/customers/{v2.id}", json={"tag_ids": [vip_tag["id"]]})
    assert [t["name"] for t in got["tags"]] == ["VIPs"]
    assert _ids(a.ok("GET", "/customers", params={"group_id": tagged["id"]})) == [v2.id, v1.id]
    admin.ok("PATCH", f"/customers/{v2.id}", json={"tag_ids": []})
    assert _ids(admin.ok("GET", "/customers", params={"group_id": hidden["id"]})) == [v2.id]
    # The profile shows the customer's groups (agent mode: agent-visible ones).
    assert [g["name"] for g in a.ok("GET", f"/customers/{v2.id}")["groups"]] == ["Recent web"]
    assert [g["name"] for g in admin.ok("GET", f"/customers/{v2.id}")["groups"]] == [
        "Hidden",
        "Recent web",
    ]
    # Membership follows the data: untagging leaves the group.
    a.ok("PUT", f"/visitors/{v1.id}/tags", json={"tag_ids": []})
    assert admin.ok("GET", "/customers", params={"group_id": tagged["id"]})["total"] == 0
    # At most 10 groups.
    for i in range(7):
        admin.ok("POST", "/customer-groups", json={"name": f"G{i}", "items": [{"kind": "vip"}]})
    r = admin.post("/customer-groups", json={"name": "Eleventh", "items": [{"kind": "vip"}]})
    assert r.status_code == 409 and error(r) == "customer_group_limit"
    admin.ok("PATCH", f"/customer-groups/{hidden['id']}", json={"name": "Renamed"})
    admin.ok("DELETE", f"/customer-groups/{hidden['id']}")
    # Interaction records: both conversations, oldest first, messages readable in sequence.
    records = a.ok("GET", f"/customers/{v1.id}/conversations")
    assert [rec["id"] for rec in records] == [c1, c2]
    assert records[0]["agents"] == ["Alice"] and records[0]["ended_at"]
    msgs = a.ok("GET", f"/customers/{v1.id}/conversations/{c2}/messages")
    assert any(m["body"].get("text") == "hello" for m in msgs)
    r = a.get(f"/customers/{v2.id}/conversations/{c2}/messages")
    assert r.status_code == 404
    # Import: template, partial success, imported customers can be called back.
    tpl = load_workbook(io.BytesIO(admin.get("/customers/template").content))
    assert tpl.active is not None and "ID" in str(tpl.active["A1"].value)
    data = _xlsx(
        [
            [
                "imp-1",
                "",
                "Imported One",
                "123456",
                "13800000000",
                "wx1",
                "a@b.cn",
                "Co",
                "d",
                "Trial",
            ],
            ["", "no id"],
            ["imp-1", "duplicate in file"],
            ["imp-2", "x" * 257],
            ["imp-3", "", "", "", "", "", "", "", "", "Nope"],
            ["imp-4", "Nick", "N" * 45, "", "", "", "", "C" * 45, "", "VIPs，Trial"],
        ]
    )
    out = admin.ok(
        "POST", "/customers/import", files={"file": ("c.xlsx", data, "application/octet-stream")}
    )
    assert out["rows"] == 6 and out["imported"] == 2
    assert [(x["row"]) for x in out["rejected"]] == [3, 4, 5, 6]
    again = admin.ok(
        "POST", "/customers/import", files={"file": ("c.xlsx", data, "application/octet-stream")}
    )
    assert again["imported"] == 0 and len(again["rejected"]) == 6  # existing customers
    imported = admin.ok("GET", "/customers", params={"q": "imp-"})
    assert imported["total"] == 2
    one = next(i for i in imported["items"] if i["external_id"] == "imp-1")
    assert (
        one["nickname"] == "imp-1"
        and one["source"] == "import"
        and one["tags"][0]["name"] == "Trial"
    )
    r = admin.post("/customers/import", files={"file": ("c.xlsx", b"not excel", "text/plain")})
    assert r.status_code == 422 and error(r) == "import_file_invalid"
    # Agents do not see imported customers (never served) nor import.
    assert a.ok("GET", "/customers", params={"q": "imp-"})["total"] == 0
    assert a.post("/customers/import", files={"file": ("c.xlsx", data, "x")}).status_code == 403
    # An imported customer who never consulted can be called back.
    call = admin.ok("POST", f"/customers/{one['id']}/callback")
    assert call["conversation"]["state"] == "ongoing"
    # Export: the admin list's filtered set.
    from tests.exports_helpers import run_export

    wb = run_export(admin, "customers", {"q": "imp-"})
    ws = wb.worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    assert "客户ID" in rows[0] and len(rows) == 3
    assert {r[1] for r in rows[1:]} == {"imp-1", "imp-4"}
    r = a.post("/exports", json={"kind": "customers", "params": {}})
    assert r.status_code == 403
    assert a_user["id"]


def test_current_sessions_monitor_reads_and_edits_live_customers(
    api: Api, server: LiveServer
) -> None:
    """§3.11, §12.2: Current sessions shows the profile (admin mode) of the customer in each live
    conversation it may monitor, and may edit it; nobody else's."""
    desk = Desk(api, server.base_url)
    admin = desk.t.admin
    _, agent = api.add_user(desk.t, nickname="Alice")
    live, _conv = desk.held(agent, desk.visitor("Wang Wu"))
    done, _ = desk.ended(agent, desk.visitor("Zhao Liu"))
    role = admin.ok(
        "POST",
        "/roles",
        json={
            "name": "Monitor only",
            "pages": ["admin.current_sessions"],
            "data_scopes": {"current_sessions": "tenant"},
        },
    )
    _, monitor = api.add_user(desk.t, role_id=role["id"])
    got = monitor.ok("GET", f"/customers/{live.id}", params={"mode": "admin"})
    assert _field(got, "name")["value"] == "Wang Wu"  # type: ignore[index]
    out = monitor.ok(
        "PATCH",
        f"/customers/{live.id}",
        params={"mode": "admin"},
        json={"fields": {"phone": "13800000000"}},
    )
    assert _field(out, "phone")["value"] == "13800000000"  # type: ignore[index]
    # An ended conversation's customer is not on the monitor's page: unknown to it.
    for method in ("GET", "PATCH"):
        r = monitor.request(method, f"/customers/{done.id}", json={"fields": {"phone": "1"}})
        assert r.status_code == 404 and error(r) == "not_found", r.text
    # Its list of customers stays the Customer center's.
    r = monitor.get("/customers")
    assert r.status_code == 403 and error(r) == "forbidden"
