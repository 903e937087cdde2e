"""Skill groups (§5.2), members, code mode, binding, Ungrouped, deletion and favourites (§24)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.conversations.models import Conversation
from kefu.core import clock
from kefu.events.types import CapacityFreed
from kefu.routing.models import (
    DispatchSettings,
    FavouriteGroup,
    OverflowRule,
    RoutingRule,
    TimePlan,
)
from tests.chat_helpers import Visitor, new_widget, staff_socket
from tests.conftest import LiveServer
from tests.helpers import Api, Client, Tenant

T = TypeVar("T")


# ---------------------------------------------------------------- helpers


def on_db(server: LiveServer, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one committed transaction on the server's own loop and engine."""

    async def run() -> T:
        async with server.app.state.sessionmaker() as db:
            result = await work(db)
            await db.commit()
            return result

    future = asyncio.run_coroutine_threadsafe(run(), server.app.state.loop)
    return future.result(timeout=10)


def add_row(server: LiveServer, row: Any) -> int:
    async def work(db: AsyncSession) -> int:
        db.add(row)
        await db.flush()
        return int(row.id)

    return on_db(server, work)


def time_plan(server: LiveServer, tenant_id: int, name: str = "客服排班") -> int:
    now = clock.now()
    return add_row(
        server,
        TimePlan(tenant_id=tenant_id, name=name, weekly={}, created_at=now, updated_at=now),
    )


def routing_rule(
    server: LiveServer,
    tenant_id: int,
    kind: str,
    on: tuple[str, int],
    off: tuple[str, int] | None = None,
) -> int:
    now = clock.now()
    return add_row(
        server,
        RoutingRule(
            tenant_id=tenant_id,
            kind=kind,
            channel="web" if kind == "channel" else None,
            split=off is not None,
            on_target_type=on[0],
            on_target_id=on[1],
            off_target_type=off[0] if off else None,
            off_target_id=off[1] if off else None,
            created_at=now,
            updated_at=now,
        ),
    )


def conversation(
    server: LiveServer,
    api: Api,
    t: Tenant,
    *,
    group_id: int | None,
    state: str = "waiting",
    agent_id: int | None = None,
) -> int:
    widget = new_widget(t)
    visitor = Visitor(api, widget)
    now = clock.now()
    return add_row(
        server,
        Conversation(
            tenant_id=t.id,
            visitor_id=visitor.id,
            skill_group_id=group_id,
            state=state,
            agent_id=agent_id,
            created_at=now,
            queued_at=now,
        ),
    )


@contextlib.contextmanager
def captured_events(server: LiveServer) -> Iterator[list[BaseModel]]:
    seen: list[BaseModel] = []

    async def grab(event: BaseModel) -> None:
        seen.append(event)

    bus = server.app.state.bus
    bus.subscribe(grab)
    try:
        yield seen
    finally:
        bus._handlers.remove(grab)


def err(r: Any) -> str:
    return str(r.json()["error"]["code"])


def groups(c: Client) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = c.ok("GET", "/skill-groups")
    return out


def by_name(c: Client, name: str) -> dict[str, Any]:
    return next(g for g in groups(c) if g["name"] == name)


def ungrouped(c: Client) -> dict[str, Any]:
    return next(g for g in groups(c) if g["builtin"] == "ungrouped")


def new_group(c: Client, name: str, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = c.ok("POST", "/skill-groups", json={"name": name, **fields}, status=201)
    return out


def member_names(c: Client, group_id: int, **params: str) -> list[str]:
    rows = c.ok("GET", f"/skill-groups/{group_id}/members", params=params)
    return [m["nickname"] for m in rows]


def audit_actions(t: Tenant) -> list[str]:
    items = t.admin.ok("GET", "/audit-logs", params={"page_size": 100})["items"]
    return [i["action"] for i in items if i["target_type"] == "skill_group"]


# ---------------------------------------------------------------- CRUD and validation


def test_create_list_edit_delete(api: Api, server: LiveServer) -> None:
    t = api.provision()
    listed = groups(t.admin)
    assert [(g["name"], g["builtin"]) for g in listed] == [("未分组", "ungrouped")]

    made = new_group(t.admin, "售后")
    assert made["builtin"] is None and made["greeting"] == "" and made["time_plan_id"] is None
    assert made["assignment_mode"] == "balanced" and made["prefer_previous"] is False
    assert (made["member_count"], made["idle_count"]) == (0, 0)
    new_group(t.admin, "Alpha")
    new_group(t.admin, "Beta2")
    # Ungrouped first, then by name.
    assert [g["name"] for g in groups(t.admin)] == ["未分组", "Alpha", "Beta2", "售后"]

    plan = time_plan(server, t.id)
    patched = t.admin.ok(
        "PATCH",
        f"/skill-groups/{made['id']}",
        json={
            "name": "售后服务",
            "greeting": "您好，这里是售后",
            "time_plan_id": plan,
            "off_hours_message": "我们已下班",
            "assignment_mode": "least_loaded",
            "prefer_previous": True,
        },
    )
    assert patched["name"] == "售后服务" and patched["time_plan_id"] == plan
    assert patched["assignment_mode"] == "least_loaded" and patched["prefer_previous"] is True
    again = t.admin.ok("GET", f"/skill-groups/{made['id']}")
    assert again["greeting"] == "您好，这里是售后" and again["off_hours_message"] == "我们已下班"
    # Back to the system default plan.
    assert (
        t.admin.ok("PATCH", f"/skill-groups/{made['id']}", json={"time_plan_id": None})[
            "time_plan_id"
        ]
        is None
    )

    t.admin.ok("DELETE", f"/skill-groups/{made['id']}", status=204)
    r = t.admin.get(f"/skill-groups/{made['id']}")
    assert r.status_code == 404 and err(r) == "not_found"
    assert audit_actions(t)[:3] == [
        "skill_group.deleted",
        "skill_group.updated",
        "skill_group.updated",
    ]
    assert "skill_group.created" in audit_actions(t)


@pytest.mark.parametrize(
    "name",
    ["", "   ", "售后 一组", "a-b", "vip_1", "客服😀", "x" * 31, "a\nb", "售后！"],
)
def test_name_charset_and_length(api: Api, server: LiveServer, name: str) -> None:
    t = api.provision()
    r = t.admin.post("/skill-groups", json={"name": name})
    assert r.status_code == 422, r.text
    assert err(r) == "validation_error"


def test_field_rules(api: Api, server: LiveServer) -> None:
    t = api.provision()
    other = api.provision("Other Co")
    g = new_group(t.admin, "VIP客户1" + "x" * 24)  # 30 characters is fine
    assert len(g["name"]) == 30
    for body in (
        {"name": "A", "greeting": "x" * 1001},
        {"name": "A", "off_hours_message": "x" * 501},
        {"name": "A", "assignment_mode": "random"},
        {"name": "A", "unknown_field": 1},
        {"name": "A", "time_plan_id": 0},
    ):
        r = t.admin.post("/skill-groups", json=body)
        assert r.status_code == 422, (body, r.text)
    assert (
        t.admin.post("/skill-groups", json={"name": "A", "greeting": "x" * 1000}).status_code == 201
    )

    # Names are unique per tenant (case-insensitive); another tenant may reuse them.
    r = t.admin.post("/skill-groups", json={"name": "a"})
    assert r.status_code == 409 and err(r) == "skill_group_name_taken"
    r = t.admin.post("/skill-groups", json={"name": "未分组"})
    assert r.status_code == 409 and err(r) == "skill_group_name_taken"
    new_group(other.admin, "A")
    b = new_group(t.admin, "B")
    r = t.admin.patch(f"/skill-groups/{b['id']}", json={"name": "A"})
    assert r.status_code == 409 and err(r) == "skill_group_name_taken"
    r = t.admin.patch(f"/skill-groups/{b['id']}", json={"name": None})
    assert r.status_code == 422

    # Working plans must be the tenant's own.
    r = t.admin.post("/skill-groups", json={"name": "C", "time_plan_id": 999999})
    assert r.status_code == 404 and err(r) == "not_found"
    foreign_plan = time_plan(server, other.id)
    r = t.admin.patch(f"/skill-groups/{b['id']}", json={"time_plan_id": foreign_plan})
    assert r.status_code == 404 and err(r) == "not_found"
    own = time_plan(server, t.id)
    assert new_group(t.admin, "C", time_plan_id=own)["time_plan_id"] == own


def test_other_tenants_groups_answer_404(api: Api, server: LiveServer) -> None:
    t = api.provision()
    other = api.provision("Other Co")
    theirs = new_group(other.admin, "Theirs")
    their_ungrouped = ungrouped(other.admin)
    for gid in (theirs["id"], their_ungrouped["id"]):
        for method, url, body in (
            ("GET", f"/skill-groups/{gid}", None),
            ("PATCH", f"/skill-groups/{gid}", {"greeting": "x"}),
            ("DELETE", f"/skill-groups/{gid}", None),
            ("GET", f"/skill-groups/{gid}/members", None),
            ("PUT", f"/skill-groups/{gid}/members", {"user_ids": []}),
            ("POST", f"/skill-groups/{gid}/members/code", {"text": "", "action": "add"}),
        ):
            r = t.admin.request(method, url, json=body)
            assert r.status_code == 404 and err(r) == "not_found", (method, url, r.text)
    assert other.admin.ok("GET", f"/skill-groups/{theirs['id']}")["name"] == "Theirs"


def test_page_guards(api: Api, server: LiveServer) -> None:
    t = api.provision()
    g = new_group(t.admin, "G")
    _, agent = api.add_user(t)
    assert agent.get("/skill-groups").status_code == 403
    assert agent.post("/skill-groups", json={"name": "X"}).status_code == 403
    reader_role = t.admin.ok("POST", "/roles", json={"name": "渠道", "pages": ["admin.channels"]})
    _, reader = api.add_user(t, role_id=reader_role["id"])
    assert [x["name"] for x in groups(reader)] == ["未分组", "G"]
    assert reader.get(f"/skill-groups/{g['id']}").status_code == 403  # one group: managers only
    assert reader.post("/skill-groups", json={"name": "X"}).status_code == 403
    assert reader.patch(f"/skill-groups/{g['id']}", json={"greeting": "x"}).status_code == 403
    assert reader.get(f"/skill-groups/{g['id']}/members").status_code == 403
    assert reader.delete(f"/skill-groups/{g['id']}").status_code == 403
    manager_role = t.admin.ok(
        "POST", "/roles", json={"name": "技能组管理", "pages": ["admin.members.skill_groups"]}
    )
    _, manager = api.add_user(t, role_id=manager_role["id"])
    new_group(manager, "X")
    assert api.anon.get("/skill-groups").status_code == 401


# ---------------------------------------------------------------- members


def test_members_replace_search_filter_and_counts(api: Api, server: LiveServer) -> None:
    t = api.provision()
    ann, ann_c = api.add_user(t, nickname="Ann", email="ann.lee@example.test")
    bob, bob_c = api.add_user(t, nickname="Bob", email="bob@example.test")
    cat, _ = api.add_user(t, nickname="猫猫", email="cat@corp.test")
    g = new_group(t.admin, "G")
    out = t.admin.ok(
        "PUT",
        f"/skill-groups/{g['id']}/members",
        json={"user_ids": [ann["id"], bob["id"], cat["id"]]},
    )
    assert out["member_count"] == 3 and out["idle_count"] == 0
    with staff_socket(server.base_url, ann_c), staff_socket(server.base_url, bob_c):
        bob_c.ok("PUT", "/me/status", json={"status": "busy"}, status=200)
        conversation(server, api, t, group_id=g["id"], state="ongoing", agent_id=ann["id"])
        assert (by_name(t.admin, "G")["member_count"], by_name(t.admin, "G")["idle_count"]) == (
            3,
            1,
        )
        rows = t.admin.ok("GET", f"/skill-groups/{g['id']}/members")
        assert [(m["nickname"], m["status"], m["ongoing"]) for m in rows] == [
            ("Ann", "idle", 1),
            ("Bob", "busy", 0),
            ("猫猫", "offline", 0),
        ]
        assert rows[0]["email"] == "ann.lee@example.test" and rows[0]["max_concurrent"] == 10
        assert member_names(t.admin, g["id"], q="aNn") == ["Ann"]
        assert member_names(t.admin, g["id"], q="@EXAMPLE") == ["Ann", "Bob"]
        assert member_names(t.admin, g["id"], q="猫") == ["猫猫"]
        assert member_names(t.admin, g["id"], q="%") == []
        assert member_names(t.admin, g["id"], status="idle") == ["Ann"]
        assert member_names(t.admin, g["id"], status="busy,offline") == ["Bob", "猫猫"]
        assert member_names(t.admin, g["id"], status="away,invisible") == []
        r = t.admin.get(f"/skill-groups/{g['id']}/members", params={"status": "idle,sleeping"})
        assert r.status_code == 422
    # Replace with a smaller set.
    out = t.admin.ok("PUT", f"/skill-groups/{g['id']}/members", json={"user_ids": [bob["id"]]})
    assert out["member_count"] == 1
    assert member_names(t.admin, g["id"]) == ["Bob"]
    assert "skill_group.members_changed" in audit_actions(t)


def test_put_members_refuses_unknown_and_foreign_users(api: Api, server: LiveServer) -> None:
    t = api.provision()
    other = api.provision("Other Co")
    ann, _ = api.add_user(t)
    stranger, _ = api.add_user(other)
    g = new_group(t.admin, "G")
    for ids in ([ann["id"], 999999], [stranger["id"]]):
        r = t.admin.put(f"/skill-groups/{g['id']}/members", json={"user_ids": ids})
        assert r.status_code == 404 and err(r) == "not_found"
    assert member_names(t.admin, g["id"]) == []
    r = t.admin.put(f"/skill-groups/{g['id']}/members", json={"user_ids": list(range(1, 1002))})
    assert r.status_code == 422


def test_code_mode_adds_and_removes_by_email(api: Api, server: LiveServer) -> None:
    t = api.provision()
    other = api.provision("Other Co")
    api.add_user(t, nickname="Ann", email="ann@example.test")
    bob, _ = api.add_user(t, nickname="Bob", email="bob@example.test")
    stranger, _ = api.add_user(other, email="stranger@example.test")
    g = new_group(t.admin, "G")
    t.admin.ok("PUT", f"/skill-groups/{g['id']}/members", json={"user_ids": [bob["id"]]})

    text = (
        "  ANN@example.test \n\n bob@example.test\nstranger@example.test\n"
        "not-an-email\nann@example.test\n"
    )
    out = t.admin.ok(
        "POST", f"/skill-groups/{g['id']}/members/code", json={"text": text, "action": "add"}
    )
    assert out == {
        "added": ["ann@example.test"],
        "removed": [],
        "unknown": ["stranger@example.test", "not-an-email"],
        "unchanged": ["bob@example.test"],
    }
    assert member_names(t.admin, g["id"]) == ["Ann", "Bob"]

    out = t.admin.ok(
        "POST",
        f"/skill-groups/{g['id']}/members/code",
        json={"text": "Bob@Example.test\r\nnobody@example.test", "action": "remove"},
    )
    assert out == {
        "added": [],
        "removed": ["bob@example.test"],
        "unknown": ["nobody@example.test"],
        "unchanged": [],
    }
    assert member_names(t.admin, g["id"]) == ["Ann"]
    out = t.admin.ok(
        "POST",
        f"/skill-groups/{g['id']}/members/code",
        json={"text": "bob@example.test", "action": "remove"},
    )
    assert out["unchanged"] == ["bob@example.test"] and out["removed"] == []

    many = "\n".join(f"u{i}@example.test" for i in range(1001))
    r = t.admin.post(f"/skill-groups/{g['id']}/members/code", json={"text": many, "action": "add"})
    assert r.status_code == 422
    r = t.admin.post(
        f"/skill-groups/{g['id']}/members/code", json={"text": "a@b.cd", "action": "replace"}
    )
    assert r.status_code == 422
    assert stranger["id"] not in [
        m["id"] for m in t.admin.ok("GET", f"/skill-groups/{g['id']}/members")
    ]


def test_bound_group_keeps_at_least_one_member(api: Api, server: LiveServer) -> None:
    t = api.provision()
    ann, _ = api.add_user(t, email="ann2@example.test")
    bob, _ = api.add_user(t, email="bob2@example.test")
    bound = new_group(t.admin, "Bound")
    off_bound = new_group(t.admin, "OffBound")
    customer_only = new_group(t.admin, "Customer")
    for g in (bound, off_bound, customer_only):
        t.admin.ok(
            "PUT", f"/skill-groups/{g['id']}/members", json={"user_ids": [ann["id"], bob["id"]]}
        )
    routing_rule(server, t.id, "channel", ("group", bound["id"]))
    routing_rule(server, t.id, "association", ("robot", 1), ("group", off_bound["id"]))
    routing_rule(server, t.id, "customer", ("group", customer_only["id"]))

    for g in (bound, off_bound):
        r = t.admin.put(f"/skill-groups/{g['id']}/members", json={"user_ids": []})
        assert r.status_code == 409 and err(r) == "skill_group_bound_needs_member"
        r = t.admin.post(
            f"/skill-groups/{g['id']}/members/code",
            json={"text": "ann2@example.test\nbob2@example.test", "action": "remove"},
        )
        assert r.status_code == 409 and err(r) == "skill_group_bound_needs_member"
        assert len(member_names(t.admin, g["id"])) == 2
        # Removing some members is fine.
        t.admin.ok("PUT", f"/skill-groups/{g['id']}/members", json={"user_ids": [ann["id"]]})
    # A customer-info rule is no channel binding.
    t.admin.ok("PUT", f"/skill-groups/{customer_only['id']}/members", json={"user_ids": []})


# ---------------------------------------------------------------- Ungrouped


def test_ungrouped_is_computed_and_protected(api: Api, server: LiveServer) -> None:
    t = api.provision()
    ann, ann_c = api.add_user(t, nickname="Ann")
    api.add_user(t, nickname="Bob")
    viewer_role = t.admin.ok("POST", "/roles", json={"name": "只读", "pages": ["admin.history"]})
    api.add_user(t, nickname="Viewer", role_id=viewer_role["id"])  # takes no conversations
    ug = ungrouped(t.admin)
    admin_nick = t.admin.me["nickname"]
    assert sorted(member_names(t.admin, ug["id"])) == sorted(["Ann", "Bob", admin_nick])
    assert ug["member_count"] == 3

    g = new_group(t.admin, "G")
    t.admin.ok("PUT", f"/skill-groups/{g['id']}/members", json={"user_ids": [ann["id"]]})
    assert sorted(member_names(t.admin, ug["id"])) == sorted(["Bob", admin_nick])
    assert ungrouped(t.admin)["member_count"] == 2
    with staff_socket(server.base_url, ann_c):
        assert ungrouped(t.admin)["idle_count"] == 0
        assert by_name(t.admin, "G")["idle_count"] == 1

    # Its settings can be set ...
    plan = time_plan(server, t.id)
    out = t.admin.ok(
        "PATCH",
        f"/skill-groups/{ug['id']}",
        json={
            "greeting": "欢迎",
            "off_hours_message": "下班了",
            "time_plan_id": plan,
            "name": "未分组",
        },
    )
    assert (out["greeting"], out["off_hours_message"], out["time_plan_id"]) == (
        "欢迎",
        "下班了",
        plan,
    )
    # ... but not its name, members or existence.
    for method, url, body in (
        ("PATCH", f"/skill-groups/{ug['id']}", {"name": "其他"}),
        ("DELETE", f"/skill-groups/{ug['id']}", None),
        ("PUT", f"/skill-groups/{ug['id']}/members", {"user_ids": [ann["id"]]}),
        (
            "POST",
            f"/skill-groups/{ug['id']}/members/code",
            {"text": "x@example.test", "action": "add"},
        ),
    ):
        r = t.admin.request(method, url, json=body)
        assert r.status_code == 409 and err(r) == "skill_group_builtin", (method, url, r.text)
    assert ungrouped(t.admin)["name"] == "未分组"


# ---------------------------------------------------------------- deletion


def test_delete_moves_sessions_to_ungrouped_and_cleans_rules(api: Api, server: LiveServer) -> None:
    t = api.provision()
    ann, _ = api.add_user(t)
    g = new_group(t.admin, "Gone")
    keep = new_group(t.admin, "Keep")
    t.admin.ok("PUT", f"/skill-groups/{g['id']}/members", json={"user_ids": [ann["id"]]})
    waiting = conversation(server, api, t, group_id=g["id"])
    kept_conv = conversation(server, api, t, group_id=keep["id"])
    gone_rules = [
        routing_rule(server, t.id, "channel", ("group", g["id"])),
        routing_rule(server, t.id, "association", ("robot", 1), ("group", g["id"])),
        routing_rule(server, t.id, "customer", ("group", g["id"])),
    ]
    kept_rule = routing_rule(server, t.id, "channel", ("group", keep["id"]), ("robot", 1))
    now = clock.now()
    both = add_row(
        server,
        OverflowRule(
            tenant_id=t.id,
            name="both",
            condition="queue_length",
            threshold=3,
            overflow_group_id=g["id"],
            scope_group_ids=[g["id"], keep["id"]],
            created_at=now,
            updated_at=now,
        ),
    )
    only = add_row(
        server,
        OverflowRule(
            tenant_id=t.id,
            name="only",
            condition="all_offline",
            overflow_group_id=keep["id"],
            scope_group_ids=[g["id"]],
            created_at=now,
            updated_at=now,
        ),
    )

    async def prioritise(db: AsyncSession) -> None:
        row = await db.scalar(select(DispatchSettings).where(DispatchSettings.tenant_id == t.id))
        if row is None:
            row = DispatchSettings(tenant_id=t.id, updated_at=clock.now())
            db.add(row)
        row.group_priority = [keep["id"], g["id"]]

    on_db(server, prioritise)
    _, agent = api.add_user(t)
    agent.ok("PUT", "/me/favourite-groups", json={"skill_group_ids": [g["id"], keep["id"]]})

    with captured_events(server) as events:
        t.admin.ok("DELETE", f"/skill-groups/{g['id']}", status=204)
    assert any(isinstance(e, CapacityFreed) and e.tenant_id == t.id for e in events)

    async def read(db: AsyncSession) -> dict[str, Any]:
        rows = await db.execute(select(Conversation.id, Conversation.skill_group_id))
        convs = {cid: gid for cid, gid in rows.all()}
        rules = set(await db.scalars(select(RoutingRule.id)))
        overflow = {
            r.id: (r.overflow_group_id, r.scope_group_ids, r.enabled)
            for r in await db.scalars(select(OverflowRule))
        }
        settings = await db.scalar(
            select(DispatchSettings).where(DispatchSettings.tenant_id == t.id)
        )
        favs = set(await db.scalars(select(FavouriteGroup.skill_group_id)))
        assert settings is not None
        return {
            "convs": convs,
            "rules": rules,
            "overflow": overflow,
            "priority": settings.group_priority,
            "favs": favs,
        }

    state = on_db(server, read)
    assert state["convs"][waiting] is None
    assert state["convs"][kept_conv] == keep["id"]
    assert kept_rule in state["rules"] and not set(gone_rules) & state["rules"]
    assert state["overflow"][both] == (None, [keep["id"]], True)
    # A rule that covered only the deleted group is switched off rather than widened to all.
    assert state["overflow"][only] == (keep["id"], [], False)
    assert state["priority"] == [keep["id"]]
    assert state["favs"] == {keep["id"]}
    assert agent.ok("GET", "/me/favourite-groups")["skill_group_ids"] == [keep["id"]]
    # Ann is back in Ungrouped.
    assert ann["id"] in [
        m["id"] for m in t.admin.ok("GET", f"/skill-groups/{ungrouped(t.admin)['id']}/members")
    ]
    assert "skill_group.deleted" in audit_actions(t)


def test_membership_changes_free_capacity(api: Api, server: LiveServer) -> None:
    t = api.provision()
    ann, _ = api.add_user(t, email="ann3@example.test")
    g = new_group(t.admin, "G")
    with captured_events(server) as events:
        t.admin.ok("PUT", f"/skill-groups/{g['id']}/members", json={"user_ids": [ann["id"]]})
    assert [type(e) for e in events if isinstance(e, CapacityFreed)] == [CapacityFreed]
    with captured_events(server) as events:
        t.admin.ok(
            "POST",
            f"/skill-groups/{g['id']}/members/code",
            json={"text": "ann3@example.test", "action": "remove"},
        )
    assert any(isinstance(e, CapacityFreed) for e in events)
    with captured_events(server) as events:  # nothing changed: no event
        t.admin.ok("PUT", f"/skill-groups/{g['id']}/members", json={"user_ids": []})
    assert not any(isinstance(e, CapacityFreed) for e in events)


# ---------------------------------------------------------------- candidates and favourites


def test_candidates_are_agents(api: Api, server: LiveServer) -> None:
    t = api.provision()
    api.add_user(t, nickname="Ann")
    viewer_role = t.admin.ok("POST", "/roles", json={"name": "只读", "pages": ["admin.history"]})
    api.add_user(t, nickname="Viewer", role_id=viewer_role["id"])
    names = [c["nickname"] for c in t.admin.ok("GET", "/skill-groups/candidates")]
    assert "Ann" in names and "Viewer" not in names and t.admin.me["nickname"] in names


def test_favourite_groups(api: Api, server: LiveServer) -> None:
    t = api.provision()
    other = api.provision("Other Co")
    g1 = new_group(t.admin, "售前")
    g2 = new_group(t.admin, "售后")
    theirs = new_group(other.admin, "Theirs")
    _, agent = api.add_user(t)
    first = agent.ok("GET", "/me/favourite-groups")
    assert first["skill_group_ids"] == []
    assert [g["name"] for g in first["groups"]] == ["未分组", "售前", "售后"]
    ug_id = first["groups"][0]["id"]

    out = agent.ok("PUT", "/me/favourite-groups", json={"skill_group_ids": [g2["id"], ug_id]})
    assert out["skill_group_ids"] == [ug_id, g2["id"]]
    assert agent.ok("GET", "/me/favourite-groups")["skill_group_ids"] == [ug_id, g2["id"]]
    # Another user's favourites are their own.
    assert t.admin.ok("GET", "/me/favourite-groups")["skill_group_ids"] == []

    for ids in ([g1["id"], 999999], [theirs["id"]]):
        r = agent.put("/me/favourite-groups", json={"skill_group_ids": ids})
        assert r.status_code == 404 and err(r) == "not_found"
    assert agent.ok("GET", "/me/favourite-groups")["skill_group_ids"] == [ug_id, g2["id"]]
    r = agent.put("/me/favourite-groups", json={"skill_group_ids": list(range(1, 52))})
    assert r.status_code == 422
    assert (
        agent.ok("PUT", "/me/favourite-groups", json={"skill_group_ids": []})["skill_group_ids"]
        == []
    )
    assert api.anon.get("/me/favourite-groups").status_code == 401
