"""Assignment rules configuration (SPEC §5.3, §5.6–§5.8, §5.10, §3.5 expiry) through the API."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.core import clock
from kefu.core.config import Settings
from kefu.core.db import make_engine
from kefu.routing.membership import ensure_ungrouped
from kefu.routing.models import DispatchSettings, RoutingRule, SkillGroup, TimePlan
from kefu.tags.models import VisitorTag
from tests.conftest import LiveServer
from tests.helpers import Api, Client, Tenant


@dataclass
class Seeded:
    ungrouped: int
    groups: dict[str, int] = field(default_factory=dict)
    tags: dict[str, int] = field(default_factory=dict)
    plans: dict[str, int] = field(default_factory=dict)


def seed(
    settings: Settings,
    tenant_id: int,
    *,
    groups: tuple[str, ...] = (),
    tags: tuple[str, ...] = (),
    plans: tuple[str, ...] = (),
) -> Seeded:
    """Skill groups, visitor tags and time plans belong to other pages (built in parallel); they are
    written straight to the database here so these tests depend only on the rules API."""

    async def run() -> Seeded:
        engine = make_engine(settings)
        try:
            async with AsyncSession(engine, expire_on_commit=False) as db:
                now = clock.now()
                out = Seeded(ungrouped=(await ensure_ungrouped(db, tenant_id)).id)
                for name in groups:
                    g = SkillGroup(tenant_id=tenant_id, name=name, created_at=now, updated_at=now)
                    db.add(g)
                    await db.flush()
                    out.groups[name] = g.id
                for name in tags:
                    t = VisitorTag(tenant_id=tenant_id, name=name, created_at=now)
                    db.add(t)
                    await db.flush()
                    out.tags[name] = t.id
                for name in plans:
                    p = TimePlan(tenant_id=tenant_id, name=name, created_at=now, updated_at=now)
                    db.add(p)
                    await db.flush()
                    out.plans[name] = p.id
                await db.commit()
                return out
        finally:
            await engine.dispose()

    return asyncio.run(run())


def db_value(settings: Settings, query: Any) -> Any:
    async def run() -> Any:
        engine = make_engine(settings)
        try:
            async with AsyncSession(engine) as db:
                return (await db.execute(query)).all()
        finally:
            await engine.dispose()

    return asyncio.run(run())


def error(client: Client, method: str, url: str, status: int, **kw: Any) -> dict[str, Any]:
    r = client.request(method, url, **kw)
    assert r.status_code == status, f"{method} {url} -> {r.status_code} {r.text}"
    return dict(r.json()["error"])


def fields_of(err: dict[str, Any]) -> list[str]:
    return [f["field"] for f in err.get("fields") or []]


def customer(tag_ids: list[int], target: dict[str, Any], name: str = "VIP") -> dict[str, Any]:
    return {"kind": "customer", "name": name, "tag_ids": tag_ids, "on_target": target}


@pytest.fixture
def world(api: Api, server: LiveServer) -> tuple[Tenant, Seeded]:
    t = api.provision()
    s = seed(
        server.settings,
        t.id,
        groups=("VIP", "Sales", "Night", "Spare", "G5", "G6"),
        tags=("gold", "silver", "new"),
        plans=("Office",),
    )
    return t, s


# ---------------------------------------------------------------- customer-info rules


def test_customer_rules_go_last_and_reorder_by_drag(
    api: Api, server: LiveServer, world: tuple[Tenant, Seeded]
) -> None:
    t, s = world
    agent, _ = api.add_user(t, nickname="Ann")
    a = t.admin.ok(
        "POST",
        "/routing-rules",
        json=customer([s.tags["gold"]], {"type": "group", "id": s.groups["VIP"]}, "Gold"),
        status=201,
    )
    b = t.admin.ok(
        "POST", "/routing-rules", json=customer([s.tags["silver"]], {"type": "robot"}, "Silver")
    )
    c = t.admin.ok(
        "POST",
        "/routing-rules",
        json=customer([s.tags["gold"], s.tags["new"]], {"type": "agent", "id": agent["id"]}, "New"),
    )
    assert (a["position"], b["position"], c["position"]) == (0, 1, 2)
    assert a["on_target"] == {"type": "group", "id": s.groups["VIP"]}
    assert a["off_target"] is None and a["split"] is False and a["enabled"] is True
    # A robot target has no id in the API and is stored as 0 for the engine.
    assert b["on_target"] == {"type": "robot", "id": None}
    assert db_value(
        server.settings, select(RoutingRule.on_target_id).where(RoutingRule.id == b["id"])
    ) == [(0,)]
    assert c["on_target"] == {"type": "agent", "id": agent["id"]}

    listed = t.admin.ok("GET", "/routing-rules", params={"kind": "customer"})
    assert [r["id"] for r in listed] == [a["id"], b["id"], c["id"]]

    out = t.admin.ok("PUT", "/routing-rules/order", json={"ids": [c["id"], a["id"], b["id"]]})
    assert [(r["id"], r["position"]) for r in out] == [(c["id"], 0), (a["id"], 1), (b["id"], 2)]
    listed = t.admin.ok("GET", "/routing-rules", params={"kind": "customer"})
    assert [r["id"] for r in listed] == [c["id"], a["id"], b["id"]]

    # The order names every customer rule exactly once.
    for ids in ([c["id"], a["id"]], [c["id"], a["id"], b["id"], 999_999]):
        err = error(t.admin, "PUT", "/routing-rules/order", 422, json={"ids": ids})
        assert err["code"] == "routing_order_mismatch"
    err = error(
        t.admin, "PUT", "/routing-rules/order", 422, json={"ids": [a["id"], a["id"], b["id"]]}
    )
    assert fields_of(err) == ["ids"]

    # Deleting closes the gap; a new rule still goes last.
    t.admin.ok("DELETE", f"/routing-rules/{a['id']}", status=204)
    listed = t.admin.ok("GET", "/routing-rules", params={"kind": "customer"})
    assert [(r["id"], r["position"]) for r in listed] == [(c["id"], 0), (b["id"], 1)]
    d = t.admin.ok("POST", "/routing-rules", json=customer([s.tags["new"]], {"type": "robot"}))
    assert d["position"] == 2
    error(t.admin, "DELETE", f"/routing-rules/{a['id']}", 404)


def test_customer_rule_validation(
    api: Api, server: LiveServer, world: tuple[Tenant, Seeded]
) -> None:
    t, s = world
    gold, vip = s.tags["gold"], {"type": "group", "id": s.groups["VIP"]}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": ""}, "name"),
        ({"name": "x" * 51}, "name"),
        ({"tag_ids": []}, "tag_ids"),
        ({"tag_ids": [gold, gold]}, "tag_ids"),
        ({"tag_ids": list(range(1, 22))}, "tag_ids"),
        ({"split": True}, "split"),
        ({"off_target": {"type": "robot"}}, "off_target"),
        ({"channel": "web"}, "channel"),
        ({"on_target": {"type": "group"}}, "on_target.id"),
        ({"on_target": {"type": "team", "id": 1}}, "on_target.type"),
        ({"kind": "vip"}, "kind"),
    ]
    for change, field_name in cases:
        err = error(
            t.admin, "POST", "/routing-rules", 422, json={**customer([gold], vip), **change}
        )
        assert err["code"] == "validation_error", change
        assert field_name in fields_of(err), (change, err)

    # The built-in Ungrouped group is not a target of customer-info rules.
    err = error(
        t.admin,
        "POST",
        "/routing-rules",
        422,
        json=customer([gold], {"type": "group", "id": s.ungrouped}),
    )
    assert err["code"] == "rule_target_ungrouped"

    # Unknown or foreign ids anywhere: 404 like a missing row.
    other = api.provision(name="Other Co")
    o = seed(server.settings, other.id, groups=("Theirs",), tags=("theirs",))
    their_agent, _ = api.add_user(other)
    for body in (
        customer([o.tags["theirs"]], vip),
        customer([999_999], vip),
        customer([gold], {"type": "group", "id": o.groups["Theirs"]}),
        customer([gold], {"type": "agent", "id": their_agent["id"]}),
        customer([gold], {"type": "agent", "id": 999_999}),
    ):
        assert error(t.admin, "POST", "/routing-rules", 404, json=body)["code"] == "not_found"
    assert t.admin.ok("GET", "/routing-rules") == []


def test_patch_rule_keeps_kind_and_checks_merged_rule(
    api: Api, server: LiveServer, world: tuple[Tenant, Seeded]
) -> None:
    t, s = world
    rule = t.admin.ok(
        "POST",
        "/routing-rules",
        json=customer([s.tags["gold"]], {"type": "group", "id": s.groups["VIP"]}),
    )
    url = f"/routing-rules/{rule['id']}"
    out = t.admin.ok("PATCH", url, json={"enabled": False, "name": "  Gold  "})
    assert (out["enabled"], out["name"], out["tag_ids"]) == (False, "Gold", [s.tags["gold"]])
    out = t.admin.ok("PATCH", url, json={"on_target": {"type": "robot"}})
    assert out["on_target"] == {"type": "robot", "id": None}
    assert fields_of(error(t.admin, "PATCH", url, 422, json={"kind": "channel"})) == ["kind"]
    assert fields_of(error(t.admin, "PATCH", url, 422, json={"tag_ids": []})) == ["tag_ids"]
    assert fields_of(error(t.admin, "PATCH", url, 422, json={"enabled": None})) == ["enabled"]
    err = error(
        t.admin, "PATCH", url, 422, json={"on_target": {"type": "group", "id": s.ungrouped}}
    )
    assert err["code"] == "rule_target_ungrouped"
    error(t.admin, "PATCH", url, 404, json={"tag_ids": [999_999]})
    error(t.admin, "PATCH", "/routing-rules/999999", 404, json={"enabled": True})


# ---------------------------------------------------------------- channel / association rules


def test_channel_rules(api: Api, server: LiveServer, world: tuple[Tenant, Seeded]) -> None:
    t, s = world
    vip, night = s.groups["VIP"], s.groups["Night"]
    web = t.admin.ok(
        "POST",
        "/routing-rules",
        json={"kind": "channel", "channel": "web", "on_target": {"type": "group", "id": vip}},
        status=201,
    )
    assert (web["split"], web["off_target"], web["time_plan_id"], web["name"]) == (
        False,
        None,
        None,
        "",
    )
    err = error(
        t.admin,
        "POST",
        "/routing-rules",
        409,
        json={"kind": "channel", "channel": "web", "on_target": {"type": "robot"}},
    )
    assert err["code"] == "routing_rule_duplicate"

    base = {"kind": "channel", "channel": "app", "on_target": {"type": "group", "id": vip}}
    bad: list[tuple[dict[str, Any], str]] = [
        ({"channel": None}, "channel"),
        ({"channel": "sms"}, "channel"),
        ({"on_target": {"type": "agent", "id": t.admin.me["id"]}}, "on_target.type"),
        ({"split": True}, "off_target"),
        ({"off_target": {"type": "robot"}}, "off_target"),
        (
            {"split": True, "off_target": {"type": "agent", "id": t.admin.me["id"]}},
            "off_target.type",
        ),
        ({"tag_ids": [s.tags["gold"]]}, "tag_ids"),
        ({"association_id": 1}, "association_id"),
    ]
    for change, field_name in bad:
        err = error(t.admin, "POST", "/routing-rules", 422, json={**base, **change})
        assert field_name in fields_of(err), (change, err)
    error(
        t.admin,
        "POST",
        "/routing-rules",
        404,
        json={**base, "split": True, "time_plan_id": 999_999, "off_target": {"type": "robot"}},
    )

    app = t.admin.ok(
        "POST",
        "/routing-rules",
        json={
            **base,
            "split": True,
            "time_plan_id": s.plans["Office"],
            "off_target": {"type": "robot"},
        },
    )
    assert (app["split"], app["time_plan_id"], app["off_target"]) == (
        True,
        s.plans["Office"],
        {"type": "robot", "id": None},
    )
    # Back to all day: the off target must go too, and the plan is dropped.
    url = f"/routing-rules/{app['id']}"
    assert "off_target" in fields_of(error(t.admin, "PATCH", url, 422, json={"split": False}))
    out = t.admin.ok("PATCH", url, json={"split": False, "off_target": None})
    assert (out["split"], out["off_target"], out["time_plan_id"]) == (False, None, None)
    out = t.admin.ok(
        "PATCH",
        url,
        json={"split": True, "time_plan_id": None, "off_target": {"type": "group", "id": night}},
    )
    assert out["time_plan_id"] is None and out["off_target"] == {"type": "group", "id": night}
    # Moving the rule onto a channel that has one already.
    assert (
        error(t.admin, "PATCH", url, 409, json={"channel": "web"})["code"]
        == "routing_rule_duplicate"
    )
    # The Ungrouped group is allowed here (only customer-info rules refuse it).
    t.admin.ok(
        "POST",
        "/routing-rules",
        json={
            "kind": "channel",
            "channel": "weibo",
            "on_target": {"type": "group", "id": s.ungrouped},
        },
    )
    listed = t.admin.ok("GET", "/routing-rules", params={"kind": "channel"})
    assert [r["channel"] for r in listed] == ["web", "app", "weibo"]
    assert t.admin.ok("GET", "/routing-rules", params={"kind": "customer"}) == []
    error(t.admin, "GET", "/routing-rules", 422, params={"kind": "entry"})


def test_association_rules(api: Api, server: LiveServer, world: tuple[Tenant, Seeded]) -> None:
    t, s = world
    assoc = t.admin.ok("POST", "/associations", json={"name": "Android app", "channel": "app"})
    other = api.provision(name="Other Co")
    theirs = other.admin.ok("POST", "/associations", json={"name": "Theirs"})
    body = {
        "kind": "association",
        "association_id": assoc["id"],
        "on_target": {"type": "robot"},
        "split": True,
        "off_target": {"type": "group", "id": s.groups["Night"]},
    }
    rule = t.admin.ok("POST", "/routing-rules", json=body, status=201)
    assert rule["association_id"] == assoc["id"] and rule["time_plan_id"] is None
    assert (
        error(t.admin, "POST", "/routing-rules", 409, json=body)["code"] == "routing_rule_duplicate"
    )
    for assoc_id in (theirs["id"], 999_999):
        error(t.admin, "POST", "/routing-rules", 404, json={**body, "association_id": assoc_id})
    assert "association_id" in fields_of(
        error(t.admin, "POST", "/routing-rules", 422, json={**body, "association_id": None})
    )
    assert "channel" in fields_of(
        error(t.admin, "POST", "/routing-rules", 422, json={**body, "channel": "app"})
    )
    # Deleting the association deletes its rule.
    t.admin.ok("DELETE", f"/associations/{assoc['id']}", status=204)
    assert t.admin.ok("GET", "/routing-rules", params={"kind": "association"}) == []


# ---------------------------------------------------------------- dispatch settings


def test_dispatch_settings_get_or_create_and_validation(
    api: Api, server: LiveServer, world: tuple[Tenant, Seeded]
) -> None:
    t, s = world
    first = t.admin.ok("GET", "/dispatch-settings")
    assert first["rule_order"] == ["entry", "association", "channel"]
    assert first["priority_levels"] == [[] for _ in range(10)]
    assert (first["capacity_allocation"], first["group_priority"]) == (False, [])
    assert (first["returning_customer"], first["transfer_confirm_seconds"]) == ("last", 60)
    t.admin.ok("GET", "/dispatch-settings")
    count = (
        select(func.count()).select_from(DispatchSettings).where(DispatchSettings.tenant_id == t.id)
    )
    assert db_value(server.settings, count) == [(1,)]

    levels: list[list[int]] = [[] for _ in range(10)]
    levels[0] = [s.tags["gold"]]
    levels[9] = [s.tags["silver"], s.tags["new"]]
    good = {
        "rule_order": ["channel", "entry", "association"],
        "priority_levels": levels,
        "capacity_allocation": True,
        "group_priority": [s.groups["Sales"], s.groups["VIP"]],
        "returning_customer": "most",
        "transfer_confirm_seconds": 120,
    }
    out = t.admin.ok("PUT", "/dispatch-settings", json=good)
    assert {k: out[k] for k in good} == good
    assert {k: v for k, v in t.admin.ok("GET", "/dispatch-settings").items() if k in good} == good
    assert db_value(server.settings, count) == [(1,)]

    g = s.groups
    bad: list[tuple[dict[str, Any], str]] = [
        ({"rule_order": ["entry", "channel"]}, "rule_order"),
        ({"rule_order": ["entry", "entry", "channel"]}, "rule_order"),
        ({"rule_order": ["entry", "channel", "robot"]}, "rule_order.2"),
        ({"priority_levels": levels[:9]}, "priority_levels"),
        ({"priority_levels": [*levels, []]}, "priority_levels"),
        (
            {"priority_levels": [[s.tags["gold"]], *levels[1:9], [s.tags["gold"]]]},
            "priority_levels",
        ),
        (
            {"group_priority": [g["VIP"], g["Sales"], g["Night"], g["Spare"], g["G5"], g["G6"]]},
            "group_priority",
        ),
        ({"group_priority": [g["VIP"], g["VIP"]]}, "group_priority"),
        ({"returning_customer": "off"}, "returning_customer"),
        ({"transfer_confirm_seconds": 9}, "transfer_confirm_seconds"),
        ({"transfer_confirm_seconds": 3601}, "transfer_confirm_seconds"),
        ({"capacity_allocation": None}, "capacity_allocation"),
    ]
    for change, field_name in bad:
        err = error(t.admin, "PUT", "/dispatch-settings", 422, json={**good, **change})
        assert field_name in fields_of(err), (change, err)
    missing = {k: v for k, v in good.items() if k != "transfer_confirm_seconds"}
    assert fields_of(error(t.admin, "PUT", "/dispatch-settings", 422, json=missing)) == [
        "transfer_confirm_seconds"
    ]
    other = api.provision(name="Other Co")
    o = seed(server.settings, other.id, groups=("Theirs",), tags=("theirs",))
    for change in (
        {"group_priority": [o.groups["Theirs"]]},
        {"group_priority": [999_999]},
        {"priority_levels": [[o.tags["theirs"]], *levels[1:]]},
    ):
        error(t.admin, "PUT", "/dispatch-settings", 404, json={**good, **change})
    # Nothing of the refused bodies was kept.
    assert t.admin.ok("GET", "/dispatch-settings")["transfer_confirm_seconds"] == 120
    # The other tenant has its own defaults.
    assert other.admin.ok("GET", "/dispatch-settings")["rule_order"] == [
        "entry",
        "association",
        "channel",
    ]


# ---------------------------------------------------------------- overflow rules


def test_overflow_rules(api: Api, server: LiveServer, world: tuple[Tenant, Seeded]) -> None:
    t, s = world
    g = s.groups
    body = {
        "name": "Busy sales",
        "condition": "queue_length",
        "threshold": 5,
        "overflow_group_id": g["Spare"],
        "notify": True,
        "scope_group_ids": [g["Sales"], g["VIP"]],
    }
    rule = t.admin.ok("POST", "/overflow-rules", json=body, status=201)
    assert {k: rule[k] for k in body} == body and rule["enabled"] is True
    # All groups (empty scope) with an overflow group is allowed: the engine skips that group.
    everyone = t.admin.ok(
        "POST",
        "/overflow-rules",
        json={"name": "Nobody on", "condition": "all_offline", "overflow_group_id": g["Night"]},
    )
    assert (everyone["threshold"], everyone["scope_group_ids"], everyone["notify"]) == (
        None,
        [],
        False,
    )
    assert [r["id"] for r in t.admin.ok("GET", "/overflow-rules")] == [rule["id"], everyone["id"]]

    bad: list[tuple[dict[str, Any], str]] = [
        ({"name": ""}, "name"),
        ({"condition": "slow"}, "condition"),
        ({"threshold": None}, "threshold"),
        ({"threshold": -1}, "threshold"),
        ({"threshold": 1001}, "threshold"),
        ({"condition": "all_offline"}, "threshold"),
        ({"scope_group_ids": [g["VIP"], g["VIP"]]}, "scope_group_ids"),
        ({"scope_group_ids": list(range(1, 102))}, "scope_group_ids"),
    ]
    for change, field_name in bad:
        err = error(t.admin, "POST", "/overflow-rules", 422, json={**body, **change})
        assert field_name in fields_of(err), (change, err)
    err = error(
        t.admin,
        "POST",
        "/overflow-rules",
        422,
        json={**body, "overflow_group_id": None, "notify": False},
    )
    assert err["code"] == "overflow_rule_no_action"
    err = error(
        t.admin, "POST", "/overflow-rules", 422, json={**body, "scope_group_ids": [g["Spare"]]}
    )
    assert err["code"] == "overflow_rule_loop"
    other = api.provision(name="Other Co")
    o = seed(server.settings, other.id, groups=("Theirs",))
    for change in ({"overflow_group_id": o.groups["Theirs"]}, {"scope_group_ids": [999_999]}):
        error(t.admin, "POST", "/overflow-rules", 404, json={**body, **change})

    url = f"/overflow-rules/{rule['id']}"
    assert "threshold" in fields_of(
        error(t.admin, "PATCH", url, 422, json={"condition": "all_offline"})
    )
    out = t.admin.ok(
        "PATCH", url, json={"condition": "all_offline", "threshold": None, "enabled": False}
    )
    assert (out["condition"], out["threshold"], out["enabled"]) == ("all_offline", None, False)
    out = t.admin.ok("PATCH", url, json={"overflow_group_id": None})
    assert out["overflow_group_id"] is None and out["notify"] is True
    err = error(t.admin, "PATCH", url, 422, json={"notify": False})
    assert err["code"] == "overflow_rule_no_action"
    err = error(t.admin, "PATCH", url, 422, json={"overflow_group_id": g["VIP"]})
    assert err["code"] == "overflow_rule_loop"
    t.admin.ok("DELETE", url, status=204)
    error(t.admin, "DELETE", url, 404)
    assert [r["id"] for r in t.admin.ok("GET", "/overflow-rules")] == [everyone["id"]]


# ---------------------------------------------------------------- welcome menu


def test_welcome_menu_replaces_items_in_order(
    api: Api, server: LiveServer, world: tuple[Tenant, Seeded]
) -> None:
    t, s = world
    g = s.groups
    assert t.admin.ok("GET", "/welcome-menu") == {"items": []}
    items = [
        {"label": "售前咨询", "skill_group_id": g["Sales"]},
        {"label": "VIP", "skill_group_id": g["VIP"]},
    ]
    out = t.admin.ok("PUT", "/welcome-menu", json={"items": items})
    assert [{k: i[k] for k in ("label", "skill_group_id")} for i in out["items"]] == items
    out = t.admin.ok("PUT", "/welcome-menu", json={"items": items[::-1]})
    assert [i["label"] for i in t.admin.ok("GET", "/welcome-menu")["items"]] == ["VIP", "售前咨询"]

    bad: list[tuple[list[dict[str, Any]], str]] = [
        ([{"label": f"L{i}", "skill_group_id": g["VIP"]} for i in range(11)], "items"),
        ([{"label": "", "skill_group_id": g["VIP"]}], "items.0.label"),
        ([{"label": "x" * 31, "skill_group_id": g["VIP"]}], "items.0.label"),
        (
            [
                {"label": "a", "skill_group_id": g["VIP"]},
                {"label": "a", "skill_group_id": g["Sales"]},
            ],
            "items",
        ),
        ([{"label": "a"}], "items.0.skill_group_id"),
    ]
    for body, field_name in bad:
        err = error(t.admin, "PUT", "/welcome-menu", 422, json={"items": body})
        assert field_name in fields_of(err), (body, err)
    error(
        t.admin,
        "PUT",
        "/welcome-menu",
        404,
        json={"items": [{"label": "a", "skill_group_id": 999_999}]},
    )
    assert [i["label"] for i in t.admin.ok("GET", "/welcome-menu")["items"]] == ["VIP", "售前咨询"]
    assert t.admin.ok("PUT", "/welcome-menu", json={"items": []}) == {"items": []}


# ---------------------------------------------------------------- audit, tenants, permissions


def test_every_change_is_audited(
    api: Api, server: LiveServer, world: tuple[Tenant, Seeded]
) -> None:
    t, s = world
    r = t.admin.ok("POST", "/routing-rules", json=customer([s.tags["gold"]], {"type": "robot"}))
    t.admin.ok("PATCH", f"/routing-rules/{r['id']}", json={"enabled": False})
    t.admin.ok("PUT", "/routing-rules/order", json={"ids": [r["id"]]})
    t.admin.ok("DELETE", f"/routing-rules/{r['id']}")
    settings = t.admin.ok("GET", "/dispatch-settings")
    t.admin.ok(
        "PUT", "/dispatch-settings", json={k: v for k, v in settings.items() if k != "updated_at"}
    )
    o = t.admin.ok(
        "POST", "/overflow-rules", json={"name": "n", "condition": "all_offline", "notify": True}
    )
    t.admin.ok("PATCH", f"/overflow-rules/{o['id']}", json={"name": "m"})
    t.admin.ok("DELETE", f"/overflow-rules/{o['id']}")
    t.admin.ok(
        "PUT", "/welcome-menu", json={"items": [{"label": "a", "skill_group_id": s.groups["VIP"]}]}
    )
    logs = t.admin.ok("GET", "/audit-logs", params={"page_size": 100})["items"]
    actions = [e["action"] for e in logs if e["action"] != "tenant.provision"][::-1]
    assert actions == [
        "routing_rule.created",
        "routing_rule.updated",
        "routing_rule.reordered",
        "routing_rule.deleted",
        "dispatch_settings.updated",
        "overflow_rule.created",
        "overflow_rule.updated",
        "overflow_rule.deleted",
        "welcome_menu.updated",
    ]
    updated = next(e for e in logs if e["action"] == "routing_rule.updated")
    assert updated["detail"]["fields"] == ["enabled"] and updated["target_id"] == str(r["id"])
    # A refused change leaves no audit row.
    error(t.admin, "POST", "/overflow-rules", 422, json={"name": "n", "condition": "all_offline"})
    assert t.admin.ok("GET", "/audit-logs")["total"] == len(logs)


def test_other_tenants_rules_are_not_found(
    api: Api, server: LiveServer, world: tuple[Tenant, Seeded]
) -> None:
    t, s = world
    rule = t.admin.ok("POST", "/routing-rules", json=customer([s.tags["gold"]], {"type": "robot"}))
    over = t.admin.ok(
        "POST", "/overflow-rules", json={"name": "n", "condition": "all_offline", "notify": True}
    )
    t.admin.ok(
        "PUT", "/welcome-menu", json={"items": [{"label": "a", "skill_group_id": s.groups["VIP"]}]}
    )
    other = api.provision(name="Other Co")
    o = other.admin
    assert o.ok("GET", "/routing-rules") == [] and o.ok("GET", "/overflow-rules") == []
    assert o.ok("GET", "/welcome-menu") == {"items": []}
    for method, url, body in (
        ("PATCH", f"/routing-rules/{rule['id']}", {"enabled": False}),
        ("DELETE", f"/routing-rules/{rule['id']}", None),
        ("PATCH", f"/overflow-rules/{over['id']}", {"enabled": False}),
        ("DELETE", f"/overflow-rules/{over['id']}", None),
    ):
        assert error(o, method, url, 404, json=body)["code"] == "not_found"
    # Their order cannot include our rule either.
    assert (
        error(o, "PUT", "/routing-rules/order", 422, json={"ids": [rule["id"]]})["code"]
        == "routing_order_mismatch"
    )
    assert t.admin.ok("GET", "/routing-rules")[0]["enabled"] is True


def test_agents_cannot_manage_rules(
    api: Api, server: LiveServer, world: tuple[Tenant, Seeded]
) -> None:
    t, _ = world
    _, agent = api.add_user(t)
    for method, url in (
        ("GET", "/routing-rules"),
        ("POST", "/routing-rules"),
        ("PUT", "/routing-rules/order"),
        ("PATCH", "/routing-rules/1"),
        ("DELETE", "/routing-rules/1"),
        ("GET", "/dispatch-settings"),
        ("PUT", "/dispatch-settings"),
        ("GET", "/overflow-rules"),
        ("POST", "/overflow-rules"),
        ("PATCH", "/overflow-rules/1"),
        ("DELETE", "/overflow-rules/1"),
        ("GET", "/welcome-menu"),
        ("PUT", "/welcome-menu"),
    ):
        r = agent.request(method, url, json={})
        assert r.status_code == 403, (method, url, r.status_code)
    assert api.anon.get("/routing-rules").status_code == 401


def db_run(settings: Settings, statement: Any) -> None:
    async def run() -> None:
        engine = make_engine(settings)
        try:
            async with AsyncSession(engine) as db:
                await db.execute(statement)
                await db.commit()
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_deleted_tags_and_groups_do_not_block_edits(
    api: Api, server: LiveServer, world: tuple[Tenant, Seeded]
) -> None:
    t, s = world
    rule = t.admin.ok(
        "POST",
        "/routing-rules",
        json=customer([s.tags["gold"], s.tags["new"]], {"type": "group", "id": s.groups["G6"]}),
    )
    over = t.admin.ok(
        "POST",
        "/overflow-rules",
        json={
            "name": "n",
            "condition": "all_offline",
            "notify": True,
            "scope_group_ids": [s.groups["G5"], s.groups["VIP"]],
        },
    )
    levels: list[list[int]] = [[s.tags["new"], s.tags["gold"]]] + [[] for _ in range(9)]
    current = t.admin.ok("GET", "/dispatch-settings")
    body = {k: v for k, v in current.items() if k != "updated_at"}
    t.admin.ok(
        "PUT",
        "/dispatch-settings",
        json={**body, "priority_levels": levels, "group_priority": [s.groups["G5"]]},
    )
    db_run(server.settings, delete(VisitorTag).where(VisitorTag.id == s.tags["new"]))
    db_run(
        server.settings,
        delete(SkillGroup).where(SkillGroup.id.in_([s.groups["G5"], s.groups["G6"]])),
    )

    # Deleted tags and groups disappear from lists; a stale target still allows other edits.
    assert t.admin.ok("GET", "/routing-rules")[0]["tag_ids"] == [s.tags["gold"]]
    out = t.admin.ok("PATCH", f"/routing-rules/{rule['id']}", json={"enabled": False})
    assert out["enabled"] is False and out["on_target"] == {"type": "group", "id": s.groups["G6"]}
    assert t.admin.ok("GET", "/overflow-rules")[0]["scope_group_ids"] == [s.groups["VIP"]]
    t.admin.ok("PATCH", f"/overflow-rules/{over['id']}", json={"name": "m"})
    got = t.admin.ok("GET", "/dispatch-settings")
    assert got["priority_levels"][0] == [s.tags["gold"]] and got["group_priority"] == []
