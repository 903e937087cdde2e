"""Visitor tags (§9.2) and the VIP flag: definitions, applying them, and what deleting cleans."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from kefu.core import clock
from kefu.core.config import Settings
from kefu.core.db import make_engine, make_sessionmaker
from kefu.routing.models import DispatchSettings, RoutingRule
from tests.chat_helpers import Visitor, event_named, new_widget, recv_until, staff_socket
from tests.conftest import LiveServer
from tests.helpers import Api, Client, Tenant


def _err(r: Any) -> str:
    return str(r.json()["error"]["code"])


def _live_visitor(api: Api, server: LiveServer, t: Tenant) -> tuple[Client, int, int]:
    """An agent holding a conversation with a new visitor: (agent client, visitor id, conv id)."""
    _, agent = api.add_user(t)
    with staff_socket(server.base_url, agent) as ws:
        v = Visitor(api, new_widget(t))
        v.send("你好")
        conv_id = recv_until(ws, event_named("conversation.assigned"))["conversation_id"]
    return agent, v.id, conv_id


def test_tag_crud_validation_and_order(api: Api) -> None:
    t = api.provision()
    admin = t.admin
    vip = admin.ok(
        "POST", "/visitor-tags", status=201, json={"name": " 重要客户 ", "color": "#FF0000"}
    )
    assert vip["name"] == "重要客户" and vip["color"] == "#ff0000"
    admin.ok("POST", "/visitor-tags", status=201, json={"name": "Alpha"})
    names = [x["name"] for x in admin.ok("GET", "/visitor-tags")]
    assert names == sorted(names) and set(names) == {"重要客户", "Alpha"}
    default = next(x for x in admin.ok("GET", "/visitor-tags") if x["name"] == "Alpha")
    assert default["color"] == "#409eff"

    for bad in (
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 21},
        {"name": "a\nb"},
        {"name": "ok", "color": "red"},
        {"name": "ok", "color": "#12345"},
        {"name": "ok", "extra": 1},
    ):
        r = admin.post("/visitor-tags", json=bad)
        assert r.status_code == 422, (bad, r.text)
        assert _err(r) == "validation_error"
    r = admin.post("/visitor-tags", json={"name": "重要客户"})
    assert r.status_code == 409 and _err(r) == "visitor_tag_name_taken"

    # Rename / recolour; renaming onto another tag's name is refused; own name is fine.
    r = admin.patch(f"/visitor-tags/{vip['id']}", json={"name": "Alpha"})
    assert r.status_code == 409 and _err(r) == "visitor_tag_name_taken"
    out = admin.ok(
        "PATCH", f"/visitor-tags/{vip['id']}", json={"name": "重要客户", "color": "#00aa00"}
    )
    assert out == {"id": vip["id"], "name": "重要客户", "color": "#00aa00"}
    r = admin.patch(f"/visitor-tags/{vip['id']}", json={"name": None})
    assert r.status_code == 422

    audit = admin.ok("GET", "/audit-logs", params={"page_size": 50})
    actions = [row["action"] for row in audit["items"]]
    assert "visitor_tag.created" in actions and "visitor_tag.updated" in actions

    admin.ok("DELETE", f"/visitor-tags/{vip['id']}", status=204)
    assert [x["name"] for x in admin.ok("GET", "/visitor-tags")] == ["Alpha"]
    assert admin.delete(f"/visitor-tags/{vip['id']}").status_code == 404
    audit = admin.ok("GET", "/audit-logs", params={"page_size": 50})
    assert "visitor_tag.deleted" in [row["action"] for row in audit["items"]]


def test_agents_list_tags_but_only_tag_admins_change_them(api: Api) -> None:
    t = api.provision()
    _, agent = api.add_user(t)
    t.admin.ok("POST", "/visitor-tags", status=201, json={"name": "VIP"})
    assert [x["name"] for x in agent.ok("GET", "/visitor-tags")] == ["VIP"]
    assert agent.post("/visitor-tags", json={"name": "B"}).status_code == 403
    tag_id = agent.ok("GET", "/visitor-tags")[0]["id"]
    assert agent.patch(f"/visitor-tags/{tag_id}", json={"color": "#000000"}).status_code == 403
    assert agent.delete(f"/visitor-tags/{tag_id}").status_code == 403
    assert api.anon.get("/visitor-tags").status_code == 401


def test_tag_limit_per_tenant(api: Api, settings: Settings) -> None:
    t = api.provision()
    from kefu.tags.models import VisitorTag

    async def fill() -> None:
        engine = make_engine(settings)
        try:
            async with make_sessionmaker(engine)() as db:
                now = clock.now()
                db.add_all(
                    VisitorTag(tenant_id=t.id, name=f"t{i}", created_at=now) for i in range(999)
                )
                await db.commit()
        finally:
            await engine.dispose()

    asyncio.run(fill())
    t.admin.ok("POST", "/visitor-tags", status=201, json={"name": "the 1000th"})
    r = t.admin.post("/visitor-tags", json={"name": "one too many"})
    assert r.status_code == 409 and _err(r) == "visitor_tag_limit"
    assert "1000" in r.json()["error"]["message"]
    # Another tenant is not affected.
    other = api.provision()
    other.admin.ok("POST", "/visitor-tags", status=201, json={"name": "one too many"})


def test_deleting_a_tag_cleans_rules_levels_and_visitors(
    api: Api, server: LiveServer, settings: Settings
) -> None:
    t = api.provision()
    a = t.admin.ok("POST", "/visitor-tags", status=201, json={"name": "A"})
    b = t.admin.ok("POST", "/visitor-tags", status=201, json={"name": "B"})
    agent, visitor_id, _ = _live_visitor(api, server, t)
    agent.ok("PUT", f"/visitors/{visitor_id}/tags", json={"tag_ids": [a["id"], b["id"]]})

    async def seed() -> None:
        engine = make_engine(settings)
        try:
            async with make_sessionmaker(engine)() as db:
                now = clock.now()
                common = {"tenant_id": t.id, "kind": "customer", "on_target_type": "group"}
                db.add_all(
                    [
                        RoutingRule(
                            **common,
                            name="r1",
                            tag_ids=[a["id"], b["id"]],
                            on_target_id=1,
                            created_at=now,
                            updated_at=now,
                        ),
                        RoutingRule(
                            **common,
                            name="r2",
                            tag_ids=[b["id"]],
                            on_target_id=1,
                            created_at=now,
                            updated_at=now,
                        ),
                    ]
                )
                levels = [[a["id"]], [b["id"], a["id"]], []]
                ds = await db.scalar(
                    select(DispatchSettings).where(DispatchSettings.tenant_id == t.id)
                )
                if ds is None:
                    db.add(DispatchSettings(tenant_id=t.id, priority_levels=levels, updated_at=now))
                else:
                    ds.priority_levels = levels
                await db.commit()
        finally:
            await engine.dispose()

    async def read() -> tuple[dict[str, list[int]], list[list[int]]]:
        engine = make_engine(settings)
        try:
            async with make_sessionmaker(engine)() as db:
                rules = {
                    r.name: r.tag_ids
                    for r in await db.scalars(
                        select(RoutingRule).where(RoutingRule.tenant_id == t.id)
                    )
                }
                ds = await db.scalar(
                    select(DispatchSettings).where(DispatchSettings.tenant_id == t.id)
                )
                assert ds is not None
                return rules, ds.priority_levels
        finally:
            await engine.dispose()

    asyncio.run(seed())
    t.admin.ok("DELETE", f"/visitor-tags/{a['id']}", status=204)
    rules, levels = asyncio.run(read())
    assert rules == {"r1": [b["id"]], "r2": [b["id"]]}
    assert levels == [[], [b["id"]], []]
    assert [x["id"] for x in agent.ok("GET", f"/visitors/{visitor_id}/tags")] == [b["id"]]


def test_applying_tags_and_vip(api: Api, server: LiveServer) -> None:
    t = api.provision()
    tags = [
        t.admin.ok("POST", "/visitor-tags", status=201, json={"name": n, "color": c})
        for n, c in (("新客", "#409eff"), ("投诉", "#f56c6c"), ("大客户", "#e6a23c"))
    ]
    agent, visitor_id, conv_id = _live_visitor(api, server, t)
    profile = agent.ok("GET", f"/conversations/{conv_id}/visitor")
    assert profile["vip"] is False and profile["tags"] == []
    assert agent.ok("GET", f"/visitors/{visitor_id}/tags") == []

    ids = [tags[1]["id"], tags[2]["id"], tags[1]["id"]]  # duplicates are harmless
    out = agent.ok("PUT", f"/visitors/{visitor_id}/tags", json={"tag_ids": ids})
    assert [x["name"] for x in out] == sorted(["投诉", "大客户"])
    assert {x["color"] for x in out} == {"#f56c6c", "#e6a23c"}
    profile = agent.ok("GET", f"/conversations/{conv_id}/visitor")
    assert {x["id"] for x in profile["tags"]} == {tags[1]["id"], tags[2]["id"]}

    # Replace: the set is what was sent.
    out = agent.ok("PUT", f"/visitors/{visitor_id}/tags", json={"tag_ids": [tags[0]["id"]]})
    assert [x["id"] for x in out] == [tags[0]["id"]]
    assert agent.ok("PUT", f"/visitors/{visitor_id}/tags", json={"tag_ids": []}) == []

    # Validation: unknown id -> 404 (and nothing changes), too many -> 422, bad ids -> 422.
    agent.ok("PUT", f"/visitors/{visitor_id}/tags", json={"tag_ids": [tags[0]["id"]]})
    r = agent.put(f"/visitors/{visitor_id}/tags", json={"tag_ids": [tags[1]["id"], 99999999]})
    assert r.status_code == 404 and _err(r) == "not_found"
    assert [x["id"] for x in agent.ok("GET", f"/visitors/{visitor_id}/tags")] == [tags[0]["id"]]
    r = agent.put(f"/visitors/{visitor_id}/tags", json={"tag_ids": list(range(1, 52))})
    assert r.status_code == 422
    assert agent.put(f"/visitors/{visitor_id}/tags", json={"tag_ids": [0]}).status_code == 422
    assert agent.put(f"/visitors/{visitor_id}/tags", json={}).status_code == 422

    # VIP through PATCH, returned by the profile; null is refused.
    out = agent.ok("PATCH", f"/visitors/{visitor_id}", json={"vip": True})
    assert out["vip"] is True and [x["id"] for x in out["tags"]] == [tags[0]["id"]]
    assert agent.ok("GET", f"/conversations/{conv_id}/visitor")["vip"] is True
    assert agent.patch(f"/visitors/{visitor_id}", json={"vip": None}).status_code == 422
    out = agent.ok("PATCH", f"/visitors/{visitor_id}", json={"name": "王先生"})
    assert out["vip"] is True and out["name"] == "王先生"
    assert agent.ok("PATCH", f"/visitors/{visitor_id}", json={"vip": False})["vip"] is False

    # The admin (who may monitor every conversation) sees and edits the same visitor.
    assert [x["id"] for x in t.admin.ok("GET", f"/visitors/{visitor_id}/tags")] == [tags[0]["id"]]


def test_visitor_tags_access_and_tenant_isolation(api: Api, server: LiveServer) -> None:
    t = api.provision()
    mine = t.admin.ok("POST", "/visitor-tags", status=201, json={"name": "A"})
    agent, visitor_id, _ = _live_visitor(api, server, t)
    # Another agent of the same tenant who does not hold the conversation: as if it did not exist.
    _, stranger = api.add_user(t)
    for r in (
        stranger.get(f"/visitors/{visitor_id}/tags"),
        stranger.put(f"/visitors/{visitor_id}/tags", json={"tag_ids": [mine["id"]]}),
        stranger.patch(f"/visitors/{visitor_id}", json={"vip": True}),
    ):
        assert r.status_code == 404 and _err(r) == "not_found", r.text

    other = api.provision()
    theirs = other.admin.ok("POST", "/visitor-tags", status=201, json={"name": "B"})
    # Another tenant's tag id in the body: 404, like an unknown id.
    r = agent.put(f"/visitors/{visitor_id}/tags", json={"tag_ids": [mine["id"], theirs["id"]]})
    assert r.status_code == 404 and _err(r) == "not_found"
    assert agent.ok("GET", f"/visitors/{visitor_id}/tags") == []
    # Another tenant's admin cannot see, tag or edit this visitor, nor edit/delete our tag.
    for r in (
        other.admin.get(f"/visitors/{visitor_id}/tags"),
        other.admin.put(f"/visitors/{visitor_id}/tags", json={"tag_ids": [theirs["id"]]}),
        other.admin.patch(f"/visitors/{visitor_id}", json={"vip": True}),
        other.admin.patch(f"/visitor-tags/{mine['id']}", json={"name": "x"}),
        other.admin.delete(f"/visitor-tags/{mine['id']}"),
    ):
        assert r.status_code == 404 and _err(r) == "not_found", r.text
    assert [x["name"] for x in other.admin.ok("GET", "/visitor-tags")] == ["B"]
    assert [x["name"] for x in t.admin.ok("GET", "/visitor-tags")] == ["A"]


# --- import / export (§9.2) and notices (§15.1) --------------------------------------------

_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _sheet(rows: list[list[Any]]) -> bytes:
    import io

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["name", "colour"])
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_import_skips_existing_and_export_round_trips(api: Api) -> None:
    import io

    from openpyxl import load_workbook

    t = api.provision()
    admin = t.admin
    admin.ok("POST", "/visitor-tags", status=201, json={"name": "老客户", "color": "#ff0000"})
    tpl = admin.get("/visitor-tags/template")
    assert tpl.status_code == 200 and tpl.headers["content-type"] == _XLSX
    files = {
        "file": ("t.xlsx", _sheet([["老客户"], ["新客户", "#00AA00"], ["新客户"], ["VIP"]]), _XLSX)
    }
    r = admin.post("/visitor-tags/import", files=files)
    assert r.status_code == 200, r.text
    assert r.json() == {"rows": 4, "created": 2, "skipped": 2}
    tags = {x["name"]: x["color"] for x in admin.ok("GET", "/visitor-tags")}
    assert tags == {"老客户": "#ff0000", "新客户": "#00aa00", "VIP": "#409eff"}

    bad = {"file": ("t.xlsx", _sheet([["ok"], ["x" * 21], ["c", "red"]]), _XLSX)}
    r = admin.post("/visitor-tags/import", files=bad)
    assert r.status_code == 422 and _err(r) == "import_rows_invalid"
    assert "3, 4" in r.json()["error"]["message"]
    assert len(admin.ok("GET", "/visitor-tags")) == 3
    junk = {"file": ("t.xlsx", b"PK\x03\x04 broken", _XLSX)}
    assert _err(admin.post("/visitor-tags/import", files=junk)) == "import_file_invalid"

    out = admin.get("/visitor-tags/export")
    assert out.status_code == 200
    ws = load_workbook(io.BytesIO(out.content)).worksheets[0]
    assert sorted(r[0] for r in ws.iter_rows(min_row=2, values_only=True)) == sorted(tags)
    other = api.provision().admin
    r = other.post("/visitor-tags/import", files={"file": ("t.xlsx", out.content, _XLSX)})
    assert r.json()["created"] == 3
    assert {x["name"]: x["color"] for x in other.ok("GET", "/visitor-tags")} == tags

    # Only tag admins.
    _, agent = api.add_user(t)
    assert agent.get("/visitor-tags/export").status_code == 403
    assert agent.post("/visitor-tags/import", files=files).status_code == 403


def test_admin_changing_visitor_tags_notifies_the_agent(api: Api, server: LiveServer) -> None:
    t = api.provision()
    admin = t.admin
    a = admin.ok("POST", "/visitor-tags", status=201, json={"name": "A"})
    b = admin.ok("POST", "/visitor-tags", status=201, json={"name": "B"})
    agent, visitor_id, conv_id = _live_visitor(api, server, t)

    def notices() -> list[dict[str, Any]]:
        items = agent.ok("GET", "/notifications", params={"page_size": 50})["items"]
        return [n for n in items if n["kind"] == "visitor_tags_changed"]

    # The holding agent's own change: no notice.
    agent.ok("PUT", f"/visitors/{visitor_id}/tags", json={"tag_ids": [a["id"]]})
    assert notices() == []
    admin.ok("PUT", f"/visitors/{visitor_id}/tags", json={"tag_ids": [a["id"], b["id"]]})
    [n] = notices()
    assert n["data"]["visitor_id"] == visitor_id and n["data"]["conversation_id"] == conv_id
    assert sorted(n["data"]["tags"]) == ["A", "B"] and n["data"]["actor_id"] == admin.me["id"]
    # No change, no notice; after the conversation ended, the last agent is told.
    admin.ok("PUT", f"/visitors/{visitor_id}/tags", json={"tag_ids": [a["id"], b["id"]]})
    agent.ok("POST", f"/conversations/{conv_id}/end")
    admin.ok("PUT", f"/visitors/{visitor_id}/tags", json={"tag_ids": []})
    assert len(notices()) == 2
