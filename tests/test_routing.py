"""Routing and dispatch through the API (SPEC §5.3–§5.8, §3.3, §6 greetings)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime

import pytest

from kefu.conversations import dispatch
from kefu.core.clock import Clock, FakeClock, set_clock
from tests.chat_helpers import Visitor, cid, new_widget, staff_socket
from tests.conftest import LiveServer
from tests.helpers import Api, Client
from tests.routing_helpers import (
    NEVER,
    channel_rule,
    eventually,
    group,
    ongoing_ids,
    plan,
    run_timers,
    switches,
    system_texts,
)


@pytest.fixture
def fake_clock() -> Iterator[FakeClock]:
    clock = FakeClock()
    set_clock(clock)
    yield clock
    set_clock(Clock())


def test_channel_rule_sends_visitors_to_the_group_and_its_queue(
    api: Api, server: LiveServer
) -> None:
    t = api.provision()
    a_user, a = api.add_user(t, max_concurrent=1)
    _b_user, b = api.add_user(t)  # ungrouped, idle: must not get the group's visitors
    g = group(t, "售前", [a_user["id"]], greeting="##亲##，售前组为您服务")
    channel_rule(t, g["id"])
    widget = new_widget(t)
    with staff_socket(server.base_url, a), staff_socket(server.base_url, b):
        v1 = Visitor(api, widget, profile={"name": "Jon"})
        first = v1.send("hi")["conversation_id"]
        assert ongoing_ids(a) == [first]
        assert system_texts(a, first, "group_greeting") == ["Jon，售前组为您服务"]
        # Unnamed visitors are greeted with the default word.
        v2 = Visitor(api, widget)
        second = v2.send("hello")["conversation_id"]
        assert v2.http.ok("GET", "/visitor/conversation")["state"] == "waiting"
        assert ongoing_ids(b) == []
        assert system_texts(t.admin, second, "group_greeting") == ["亲，售前组为您服务"]
        # The waiting one shows in the group member's queue and the admin's, not in B's.
        assert [i["id"] for i in a.ok("GET", "/waiting")["items"]] == [second]
        assert b.ok("GET", "/waiting")["items"] == []
        page = t.admin.ok("GET", "/waiting")
        assert page["is_admin"] and [i["id"] for i in page["items"]] == [second]
        assert page["items"][0]["skill_group"]["name"] == "售前"
        # A frees room: the queue drains to A.
        a.ok("POST", f"/conversations/{first}/end")
        eventually(lambda: ongoing_ids(a) == [second])


def test_split_rule_uses_the_off_hours_target_and_message(api: Api, server: LiveServer) -> None:
    t = api.provision()
    a_user, a = api.add_user(t)
    n_user, n = api.add_user(t)
    closed = plan(t, "从不上班", NEVER)
    day = group(t, "白班", [a_user["id"]])
    night = group(t, "夜班", [n_user["id"]], greeting="夜班为您服务")
    channel_rule(
        t,
        day["id"],
        split=True,
        time_plan_id=closed["id"],
        off_target={"type": "group", "id": night["id"]},
    )
    with staff_socket(server.base_url, a), staff_socket(server.base_url, n):
        conv = Visitor(api, new_widget(t)).send("late")["conversation_id"]
        assert ongoing_ids(n) == [conv] and ongoing_ids(a) == []
        assert system_texts(n, conv, "group_greeting") == ["夜班为您服务"]
        # A group whose own plan is closed sends its off-hours message instead of the greeting.
        t.admin.ok(
            "PATCH",
            f"/skill-groups/{night['id']}",
            json={"time_plan_id": closed["id"], "off_hours_message": "我们已下班"},
        )
        conv2 = Visitor(api, new_widget(t)).send("later")["conversation_id"]
        assert system_texts(n, conv2, "off_hours") == ["我们已下班"]
        assert system_texts(n, conv2, "group_greeting") == []


def test_hours_only_dispatch_waits_for_the_plan_to_open(
    api: Api, server: LiveServer, fake_clock: FakeClock
) -> None:
    # Monday 2026-11-23 08:00 in Shanghai (00:00 UTC); the plan opens at 09:00 local.
    fake_clock.set(datetime(2026, 11, 23, 0, 0, tzinfo=UTC))
    t = api.provision()
    a_user, a = api.add_user(t)
    office = plan(t, "办公时间", {"1": [["09:00", "18:00"]]})
    g = group(t, "客服", [a_user["id"]], time_plan_id=office["id"])
    channel_rule(t, g["id"])
    switches(t, dispatch_only_in_hours=True)
    with staff_socket(server.base_url, a):
        v = Visitor(api, new_widget(t))
        conv = v.send("early bird")["conversation_id"]
        assert v.http.ok("GET", "/visitor/conversation")["state"] == "waiting"
        fake_clock.advance(seconds=30 * 60)
        assert run_timers(server) == 0  # still before 09:00
        fake_clock.advance(seconds=31 * 60)
        assert run_timers(server) == 1
        assert ongoing_ids(a) == [conv]


def test_customer_rule_naming_an_agent_beats_every_other_rule(api: Api, server: LiveServer) -> None:
    t = api.provision()
    a_user, a = api.add_user(t)
    vip_user, vip_agent = api.add_user(t)
    g = group(t, "普通", [a_user["id"]])
    channel_rule(t, g["id"])
    tag = t.admin.ok("POST", "/visitor-tags", json={"name": "大客户", "color": "#e6a23c"})
    t.admin.ok(
        "POST",
        "/routing-rules",
        json={
            "kind": "customer",
            "name": "大客户专属",
            "tag_ids": [tag["id"]],
            "on_target": {"type": "agent", "id": vip_user["id"]},
        },
    )
    widget = new_widget(t)
    with staff_socket(server.base_url, a), staff_socket(server.base_url, vip_agent):
        v = Visitor(api, widget)
        first = v.send("one")["conversation_id"]
        assert ongoing_ids(a) == [first]
        t.admin.ok("PUT", f"/visitors/{v.id}/tags", json={"tag_ids": [tag["id"]]})
        a.ok("POST", f"/conversations/{first}/end")
        second = v.send("two")["conversation_id"]
        assert ongoing_ids(vip_agent) == [second]


def test_queue_order_is_vip_then_customer_level_then_first_come(
    api: Api, server: LiveServer
) -> None:
    t = api.provision()
    _a_user, a = api.add_user(t, max_concurrent=0)
    gold = t.admin.ok("POST", "/visitor-tags", json={"name": "金牌", "color": "#e6a23c"})
    silver = t.admin.ok("POST", "/visitor-tags", json={"name": "银牌", "color": "#909399"})
    levels: list[list[int]] = [[] for _ in range(10)]
    levels[1], levels[4] = [gold["id"]], [silver["id"]]
    settings = t.admin.ok("GET", "/dispatch-settings")
    settings.pop("updated_at", None)
    t.admin.ok("PUT", "/dispatch-settings", json={**settings, "priority_levels": levels})
    widget = new_widget(t)
    plain, silver_v, gold_v, vip_v = (Visitor(api, widget) for _ in range(4))
    ids = {}
    for name, v in [("plain", plain), ("silver", silver_v), ("gold", gold_v), ("vip", vip_v)]:
        ids[name] = v.send(name)["conversation_id"]
    t.admin.ok("PUT", f"/visitors/{silver_v.id}/tags", json={"tag_ids": [silver["id"]]})
    t.admin.ok("PUT", f"/visitors/{gold_v.id}/tags", json={"tag_ids": [gold["id"]]})
    t.admin.ok("PATCH", f"/visitors/{vip_v.id}", json={"vip": True})
    want = [ids["vip"], ids["gold"], ids["silver"], ids["plain"]]
    eventually(lambda: [i["id"] for i in t.admin.ok("GET", "/waiting")["items"]] == want)
    items = t.admin.ok("GET", "/waiting")["items"]
    assert [i["priority_rank"] for i in items] == [0, 2, 5, 11]
    assert [i["position"] for i in items] == [1, 2, 3, 4]
    assert plain.http.ok("GET", "/visitor/conversation")["queue_position"] == 4
    # Capacity frees: the VIP goes first, then the gold customer.
    with staff_socket(server.base_url, a):
        t.admin.ok("PATCH", f"/users/{_a_user['id']}", json={"max_concurrent": 2})
        eventually(lambda: sorted(ongoing_ids(a)) == sorted([ids["vip"], ids["gold"]]))
    filtered = t.admin.ok("GET", "/waiting", params={"vip": "false"})["items"]
    assert [i["id"] for i in filtered] == [ids["silver"], ids["plain"]]


def test_manual_pickup_switch_detail_switch_and_the_200_cap(
    api: Api, server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = api.provision()
    _a_user, a = api.add_user(t, max_concurrent=0)
    v = Visitor(api, new_widget(t))
    conv = v.send("waiting")["conversation_id"]
    r = a.get(f"/waiting/{conv}/messages")
    assert r.status_code == 403 and r.json()["error"]["code"] == "waiting_detail_disabled"
    switches(t, waiting_detail=True, manual_pickup=False)
    assert [m["body"]["text"] for m in a.ok("GET", f"/waiting/{conv}/messages")] == ["waiting"]
    assert a.ok("GET", "/waiting")["can_pickup"] is False
    r = a.post(f"/waiting/{conv}/pickup")
    assert r.status_code == 403 and r.json()["error"]["code"] == "manual_pickup_disabled"
    switches(t, manual_pickup=True)
    monkeypatch.setattr(dispatch, "HARD_CAP", 0)
    r = a.post(f"/waiting/{conv}/pickup")
    assert r.status_code == 409 and r.json()["error"]["code"] == "agent_at_hard_cap"
    monkeypatch.undo()
    # Manual pickup ignores max concurrent (0 here); a second pickup finds it taken.
    assert a.ok("POST", f"/waiting/{conv}/pickup")["state"] == "ongoing"
    r = t.admin.post(f"/waiting/{conv}/pickup")
    assert r.status_code == 409 and r.json()["error"]["code"] == "conversation_not_waiting"
    assert ongoing_ids(a) == [conv]


def test_pickup_needs_the_sessions_page(api: Api) -> None:
    """A role with the Waiting page but not Sessions would take a chat it cannot open."""
    t = api.provision()
    role = t.admin.ok("POST", "/roles", json={"name": "Queue watcher", "pages": ["agent.waiting"]})
    _, watcher = api.add_user(t, role_id=role["id"])
    conv = Visitor(api, new_widget(t)).send("hello")["conversation_id"]
    assert [i["id"] for i in t.admin.ok("GET", "/waiting")["items"]] == [conv]
    r = watcher.post(f"/waiting/{conv}/pickup")
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert t.admin.ok("GET", "/waiting")["total"] == 1


def test_admin_transfers_and_closes_waiting_conversations(api: Api, server: LiveServer) -> None:
    t = api.provision()
    b_user, b = api.add_user(t, max_concurrent=0)
    _c_user, c = api.add_user(t, max_concurrent=0)
    widget = new_widget(t)
    one = Visitor(api, widget).send("one")["conversation_id"]
    two = Visitor(api, widget).send("two")["conversation_id"]
    r = c.post(f"/waiting/{one}/end")
    assert r.status_code == 403
    with staff_socket(server.base_url, b):
        moved = t.admin.ok("POST", f"/waiting/{one}/transfer", json={"agent_id": b_user["id"]})
        assert moved["state"] == "ongoing" and moved["agent"]["id"] == b_user["id"]
    assert t.admin.ok("POST", f"/waiting/{two}/end")["state"] == "ended"
    assert t.admin.ok("GET", "/waiting")["total"] == 0


def test_transfer_to_agent_with_and_without_confirmation(
    api: Api, server: LiveServer, fake_clock: FakeClock
) -> None:
    t = api.provision()
    a_user, a = api.add_user(t)
    b_user, b = api.add_user(t, max_concurrent=0)
    b.ok("PATCH", "/me", json={"greeting_text": "我是B", "greeting_enabled": True})
    offline_user, _offline = api.add_user(t)
    with ExitStack() as stack:
        stack.enter_context(staff_socket(server.base_url, a))
        stack.enter_context(staff_socket(server.base_url, b))
        v = Visitor(api, new_widget(t))
        conv = v.send("help")["conversation_id"]
        assert ongoing_ids(a) == [conv]
        # Offline targets and self are refused.
        r = a.post(f"/conversations/{conv}/transfer", json={"agent_id": offline_user["id"]})
        assert r.json()["error"]["code"] == "transfer_target_offline"
        r = a.post(f"/conversations/{conv}/transfer", json={"agent_id": a_user["id"]})
        assert r.json()["error"]["code"] == "transfer_to_self"
        targets = a.ok("GET", "/transfer-targets")
        assert [x["id"] for x in targets["agents"]][:1] == [b_user["id"]]  # Idle first
        assert targets["agents"][-1]["status"] == "offline"
        # With confirmation: B rejects, then a second request expires, then B accepts.
        switches(t, transfer_confirmation=True)
        out = a.ok("POST", f"/conversations/{conv}/transfer", json={"agent_id": b_user["id"]})
        assert out["outcome"] == "pending"
        req = out["request"]
        assert [x["id"] for x in b.ok("GET", "/transfer-requests")] == [req["id"]]
        r = a.post(f"/conversations/{conv}/transfer", json={"agent_id": b_user["id"]})
        assert r.json()["error"]["code"] == "transfer_pending"
        assert b.ok("POST", f"/transfer-requests/{req['id']}/reject")["state"] == "rejected"
        assert ongoing_ids(a) == [conv]
        req = a.ok("POST", f"/conversations/{conv}/transfer", json={"agent_id": b_user["id"]})[
            "request"
        ]
        fake_clock.advance(seconds=61)
        assert run_timers(server) >= 1
        r = b.post(f"/transfer-requests/{req['id']}/accept")
        assert r.status_code == 409 and r.json()["error"]["code"] == "transfer_request_closed"
        assert ongoing_ids(a) == [conv]
        req = a.ok("POST", f"/conversations/{conv}/transfer", json={"agent_id": b_user["id"]})[
            "request"
        ]
        assert b.ok("POST", f"/transfer-requests/{req['id']}/accept")["state"] == "accepted"
        # Max concurrent 0 does not block a transfer; B sees the whole history and greets.
        assert ongoing_ids(b) == [conv] and ongoing_ids(a) == []
        texts = [m["body"].get("text") for m in b.ok("GET", f"/conversations/{conv}/messages")]
        assert texts[0] == "help" and texts[-1] == "我是B"
        # No greeting on transfer: B hands it back to A without A's (empty) or B's greeting.
        switches(t, transfer_confirmation=False, no_greeting_on_transfer=True)
        a.ok("PATCH", "/me", json={"greeting_text": "我是A", "greeting_enabled": True})
        out = b.ok("POST", f"/conversations/{conv}/transfer", json={"agent_id": a_user["id"]})
        assert out["outcome"] == "transferred" and ongoing_ids(a) == [conv]
        assert system_texts(a, conv, "agent_greeting") == ["我是B"]


def test_transfer_to_group_dispatches_or_queues_and_refuses_empty_groups(
    api: Api, server: LiveServer
) -> None:
    t = api.provision()
    _a_user, a = api.add_user(t)
    g_user, g_agent = api.add_user(t, max_concurrent=1)
    g = group(t, "技术支持", [g_user["id"]], greeting="技术支持组在此")
    empty = group(t, "空组", [])
    with staff_socket(server.base_url, a), staff_socket(server.base_url, g_agent):
        widget = new_widget(t)
        one = Visitor(api, widget).send("one")["conversation_id"]
        two = Visitor(api, widget).send("two")["conversation_id"]
        assert sorted(ongoing_ids(a)) == sorted([one, two])
        r = a.post(f"/conversations/{one}/transfer", json={"skill_group_id": empty["id"]})
        assert r.json()["error"]["code"] == "skill_group_empty"
        groups = {x["id"]: x for x in a.ok("GET", "/transfer-targets")["groups"]}
        assert groups[g["id"]]["member_count"] == 1 and groups[g["id"]]["idle_count"] == 1
        out = a.ok("POST", f"/conversations/{one}/transfer", json={"skill_group_id": g["id"]})
        assert out["outcome"] == "transferred" and ongoing_ids(g_agent) == [one]
        assert system_texts(g_agent, one, "group_greeting") == ["技术支持组在此"]
        # The member is now full: the next one waits in the group's queue.
        out = a.ok("POST", f"/conversations/{two}/transfer", json={"skill_group_id": g["id"]})
        assert out["outcome"] == "queued" and out["conversation"]["state"] == "waiting"
        assert ongoing_ids(a) == []
        assert [i["id"] for i in g_agent.ok("GET", "/waiting")["items"]] == [two]
        g_agent.ok("POST", f"/conversations/{one}/end")
        eventually(lambda: ongoing_ids(g_agent) == [two])


def test_overflow_rules_move_the_extra_customer_and_notify_admins(
    api: Api, server: LiveServer
) -> None:
    t = api.provision()
    a_user, a = api.add_user(t, max_concurrent=0)
    o_user, o = api.add_user(t, max_concurrent=0)
    main = group(t, "主组", [a_user["id"]])
    spill = group(t, "溢出组", [o_user["id"]])
    channel_rule(t, main["id"])
    t.admin.ok(
        "POST",
        "/overflow-rules",
        json={
            "name": "排队超过1人",
            "condition": "queue_length",
            "threshold": 1,
            "overflow_group_id": spill["id"],
            "notify": True,
            "scope_group_ids": [main["id"]],
            "enabled": True,
        },
    )
    widget = new_widget(t)
    with staff_socket(server.base_url, a), staff_socket(server.base_url, o):
        first = Visitor(api, widget).send("1")["conversation_id"]
        second = Visitor(api, widget).send("2")["conversation_id"]
        by_id = {i["id"]: i for i in t.admin.ok("GET", "/waiting")["items"]}
        assert by_id[first]["skill_group"]["id"] == main["id"]
        assert by_id[second]["skill_group"]["id"] == spill["id"]
    notices = t.admin.ok("GET", "/notifications")
    items = notices["items"] if isinstance(notices, dict) else notices
    assert any(n["kind"] == "queue_overflow" for n in items)


def test_all_offline_overflow_moves_the_whole_queue(api: Api, server: LiveServer) -> None:
    t = api.provision()
    a_user, a = api.add_user(t, max_concurrent=0)
    o_user, o = api.add_user(t, max_concurrent=0)
    main = group(t, "主组", [a_user["id"]])
    spill = group(t, "值班组", [o_user["id"]])
    channel_rule(t, main["id"])
    t.admin.ok(
        "POST",
        "/overflow-rules",
        json={
            "name": "全部离线",
            "condition": "all_offline",
            "overflow_group_id": spill["id"],
            "notify": False,
            "scope_group_ids": [],
            "enabled": True,
        },
    )
    widget = new_widget(t)
    with staff_socket(server.base_url, o):
        with staff_socket(server.base_url, a):
            convs = [Visitor(api, widget).send(str(i))["conversation_id"] for i in range(2)]
            groups = {i["skill_group"]["id"] for i in t.admin.ok("GET", "/waiting")["items"]}
            assert groups == {main["id"]}
        a.post("/auth/logout")
        eventually(
            lambda: (
                {i["skill_group"]["id"] for i in t.admin.ok("GET", "/waiting")["items"]}
                == {spill["id"]}
            )
        )
    assert len(convs) == 2


def test_queue_cap_refuses_new_conversations_and_warns_admins(
    api: Api, server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = api.provision()
    monkeypatch.setattr(dispatch, "waiting_cap", lambda tenant: 10)
    widget = new_widget(t)
    for i in range(10):
        Visitor(api, widget).send(str(i))
    late = Visitor(api, widget)
    r = late.http.post(
        "/visitor/messages",
        json={"client_msg_id": "x" * 16, "kind": "text", "body": {"text": "3"}},
    )
    assert r.status_code == 429 and r.json()["error"]["code"] == "queue_full"
    assert late.http.ok("GET", "/visitor/conversation") is None
    notices = t.admin.ok("GET", "/notifications")
    items = notices["items"] if isinstance(notices, dict) else notices
    levels = sorted(n["data"]["level"] for n in items if n["kind"] == "queue_cap")
    assert levels == ["full", "near"]


def _load_the_holder(api: Api, widget: dict, holder: Client, other: Client, holder_id: int) -> None:
    """Give the previous agent one more conversation than the other (so §5.5 picks the other)."""
    extra = Visitor(api, widget).send("filler")["conversation_id"]
    if extra in ongoing_ids(other):
        other.ok("POST", f"/conversations/{extra}/transfer", json={"agent_id": holder_id})
    assert ongoing_ids(holder) == [extra] and ongoing_ids(other) == []


def test_returning_customer_goes_back_to_the_last_agent(api: Api, server: LiveServer) -> None:
    t = api.provision()
    a_user, a = api.add_user(t, max_concurrent=5)
    b_user, b = api.add_user(t, max_concurrent=5)
    widget = new_widget(t)
    with staff_socket(server.base_url, a), staff_socket(server.base_url, b):
        v = Visitor(api, widget)
        first = v.send("one")["conversation_id"]
        holder, other, hid = (
            (a, b, a_user["id"]) if first in ongoing_ids(a) else (b, a, b_user["id"])
        )
        holder.ok("POST", f"/conversations/{first}/end")
        _load_the_holder(api, widget, holder, other, hid)
        # Switch off: §5.5 sends the returning visitor to the less loaded agent.
        second = v.send("two")["conversation_id"]
        assert ongoing_ids(other) == [second]
        other.ok("POST", f"/conversations/{second}/end")
        # Switch on, "last agent": back to the agent who served them last (now `other`).
        switches(t, returning_customer_first=True)
        third = v.send("three")["conversation_id"]
        assert third in ongoing_ids(other)


def test_least_loaded_group_prefers_the_previous_agent(api: Api, server: LiveServer) -> None:
    t = api.provision()
    a_user, a = api.add_user(t, max_concurrent=5)
    b_user, b = api.add_user(t, max_concurrent=5)
    g = group(
        t,
        "企微",
        [a_user["id"], b_user["id"]],
        assignment_mode="least_loaded",
        prefer_previous=True,
    )
    channel_rule(t, g["id"])
    widget = new_widget(t)
    with staff_socket(server.base_url, a), staff_socket(server.base_url, b):
        v = Visitor(api, widget)
        first = v.send("one")["conversation_id"]
        holder, other, hid = (
            (a, b, a_user["id"]) if first in ongoing_ids(a) else (b, a, b_user["id"])
        )
        holder.ok("POST", f"/conversations/{first}/end")
        _load_the_holder(api, widget, holder, other, hid)
        second = v.send("two")["conversation_id"]
        assert second in ongoing_ids(holder)


def test_reassign_an_ended_conversation_creates_a_new_one(api: Api, server: LiveServer) -> None:
    t = api.provision()
    a_user, a = api.add_user(t)
    b_user, b = api.add_user(t, max_concurrent=0)
    with staff_socket(server.base_url, a), staff_socket(server.base_url, b):
        v = Visitor(api, new_widget(t))
        old = v.send("question")["conversation_id"]
        r = t.admin.post(f"/conversations/{old}/reassign", json={"agent_id": b_user["id"]})
        assert r.json()["error"]["code"] == "conversation_not_ended"
        a.ok("POST", f"/conversations/{old}/end")
        new = t.admin.ok("POST", f"/conversations/{old}/reassign", json={"agent_id": b_user["id"]})
        assert new["id"] != old and new["state"] == "ongoing"
        assert ongoing_ids(b) == [new["id"]]
        assert v.http.ok("GET", "/visitor/conversation")["id"] == new["id"]
        r = t.admin.post(f"/conversations/{old}/reassign", json={"agent_id": a_user["id"]})
        assert r.json()["error"]["code"] == "visitor_has_open_conversation"


def test_welcome_menu_choice_routes_to_the_item_group(api: Api, server: LiveServer) -> None:
    t = api.provision()
    a_user, a = api.add_user(t)
    s_user, s = api.add_user(t)
    sales = group(t, "销售", [s_user["id"]])
    support = group(t, "售后", [a_user["id"]])
    channel_rule(t, support["id"])
    t.admin.ok(
        "PUT",
        "/welcome-menu",
        json={"items": [{"label": "我要买", "skill_group_id": sales["id"]}]},
    )
    widget = new_widget(t, welcome_text="欢迎光临")
    assert api.client().ok("GET", f"/public/widgets/{widget['key']}")["welcome_menu"] == []
    switches(t, welcome_menu=True)
    menu = api.client().ok("GET", f"/public/widgets/{widget['key']}")["welcome_menu"]
    assert [m["label"] for m in menu] == ["我要买"]
    with staff_socket(server.base_url, a), staff_socket(server.base_url, s):
        v = Visitor(api, widget)
        msg = v.http.ok(
            "POST", "/visitor/menu-choice", json={"item_id": menu[0]["id"], "client_msg_id": "m1"}
        )
        assert msg["body"]["text"] == "我要买"
        # The entry (menu) beats the channel rule, which points at 售后.
        assert ongoing_ids(s) == [msg["conversation_id"]] and ongoing_ids(a) == []
    other = api.provision()
    r = v.http.post("/visitor/menu-choice", json={"item_id": 10**9, "client_msg_id": "m2"})
    assert r.status_code == 404
    _ = other


def test_broadcast_group_shares_the_conversation_with_every_member(
    api: Api, server: LiveServer
) -> None:
    t = api.provision()
    a_user, a = api.add_user(t, max_concurrent=0)
    b_user, b = api.add_user(t, max_concurrent=0)
    _c_user, c = api.add_user(t)
    g = group(t, "全员接待", [a_user["id"], b_user["id"]], assignment_mode="broadcast")
    channel_rule(t, g["id"])
    v = Visitor(api, new_widget(t))
    conv = v.send("anyone?")["conversation_id"]
    # Both members have it (status and max concurrent do not matter); others do not.
    assert ongoing_ids(a) == [conv] and ongoing_ids(b) == [conv] and ongoing_ids(c) == []
    for who, text in [(a, "A here"), (b, "B too")]:
        who.ok(
            "POST",
            f"/conversations/{conv}/messages",
            json={"client_msg_id": cid(), "kind": "text", "body": {"text": text}},
        )
    r = c.post(
        f"/conversations/{conv}/messages",
        json={"client_msg_id": cid(), "kind": "text", "body": {"text": "me?"}},
    )
    assert r.status_code in (404, 409)
    senders = {
        m["body"]["text"]: m["sender"]["id"]
        for m in a.ok("GET", f"/conversations/{conv}/messages")
        if m["sender"]["type"] == "agent"
    }
    assert senders == {"A here": a_user["id"], "B too": b_user["id"]}
    assert b.ok("POST", f"/conversations/{conv}/end")["state"] == "ended"


def test_a_broadcast_group_given_its_first_member_shares_what_waited(
    api: Api, server: LiveServer
) -> None:
    """A drain pass reads only free agents; a broadcast group's members need not be free (busy,
    max concurrent 0), so the pass must still see that the group now has one."""
    t = api.provision()
    _c_user, c = api.add_user(t)
    g = group(t, "全员接待", [], assignment_mode="broadcast")
    channel_rule(t, g["id"])
    conv = Visitor(api, new_widget(t)).send("anyone?")["conversation_id"]
    assert [i["id"] for i in t.admin.ok("GET", "/waiting")["items"]] == [conv]
    a_user, a = api.add_user(t, max_concurrent=0)
    a.ok("PUT", "/me/status", json={"status": "busy"})
    t.admin.ok("PUT", f"/skill-groups/{g['id']}/members", json={"user_ids": [a_user["id"]]})
    eventually(lambda: ongoing_ids(a) == [conv])
    assert ongoing_ids(c) == [] and t.admin.ok("GET", "/waiting")["items"] == []


def test_a_conversation_transferred_to_a_group_never_returns_to_its_sender(
    api: Api, server: LiveServer
) -> None:
    t = api.provision()
    a_user, a = api.add_user(t)
    b_user, b = api.add_user(t, max_concurrent=0)
    g = group(t, "同组", [a_user["id"], b_user["id"]])
    channel_rule(t, g["id"])
    with staff_socket(server.base_url, a), staff_socket(server.base_url, b):
        conv = Visitor(api, new_widget(t)).send("hi")["conversation_id"]
        assert ongoing_ids(a) == [conv]
        out = a.ok("POST", f"/conversations/{conv}/transfer", json={"skill_group_id": g["id"]})
        assert out["outcome"] == "queued"
        # A still has room; a drain (A turning Idle again) must not hand it back.
        a.ok("PUT", "/me/status", json={"status": "busy"})
        a.ok("PUT", "/me/status", json={"status": "idle"})
        assert [i["id"] for i in t.admin.ok("GET", "/waiting")["items"]] == [conv]
        assert ongoing_ids(a) == []
        t.admin.ok("PATCH", f"/users/{b_user['id']}", json={"max_concurrent": 1})
        eventually(lambda: ongoing_ids(b) == [conv])
