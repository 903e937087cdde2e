"""Automations (SPEC §6 greetings and system messages, §7 timers) through the API."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from sqlalchemy import select

from kefu.automations.models import AlertRecord, LeaveMessage
from kefu.automations.timers import ALL_KINDS
from kefu.conversations.models import Conversation
from kefu.core.clock import Clock, FakeClock, set_clock
from kefu.core.config import Settings
from kefu.workers.models import Timer
from tests.chat_helpers import Visitor, cid, event_named, new_widget, recv_until, staff_socket
from tests.conftest import LiveServer, free_port
from tests.helpers import PASSWORD, Api, Client, Tenant
from tests.routing_helpers import (
    NEVER,
    eventually,
    group,
    on_server,
    ongoing_ids,
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


def configure(t: Tenant, **parts: Any) -> dict[str, Any]:
    """Save the settings with `parts` merged over the current ones (timers by name)."""
    current = t.admin.ok("GET", "/automations/settings")
    current.pop("updated_at")
    timers = current["timers"]
    for key, value in parts.items():
        if key in timers:
            timers[key] = {**timers[key], **value}
        else:
            current[key] = value
    out: dict[str, Any] = t.admin.ok("PUT", "/automations/settings", json=current)
    return out


def say(agent: Client, conv: int, text: str) -> dict[str, Any]:
    body: dict[str, Any] = agent.ok(
        "POST",
        f"/conversations/{conv}/messages",
        json={"client_msg_id": cid(), "kind": "text", "body": {"text": text}},
    )
    return body


def tick(server: LiveServer, clock: FakeClock, seconds: float) -> None:
    clock.advance(seconds=seconds)
    run_timers(server)


def state(client: Client, conv: int) -> dict[str, Any]:
    body: dict[str, Any] = client.ok("GET", f"/conversations/{conv}")
    return body


def end_reason(server: LiveServer, conv: int) -> str | None:
    async def read() -> str | None:
        async with server.app.state.sessionmaker() as db:
            found = await db.get(Conversation, conv)
            return found.end_reason if found is not None else None

    result: str | None = on_server(server, read())
    return result


def notices(client: Client, kind: str) -> list[dict[str, Any]]:
    return [n for n in client.ok("GET", "/notifications")["items"] if n["kind"] == kind]


def restart(server: LiveServer, settings: Settings) -> LiveServer:
    server.stop()
    port = free_port()
    live = LiveServer(
        settings.model_copy(update={"port": port, "public_base_url": f"http://127.0.0.1:{port}"})
    )
    live.start()
    return live


def db_rows(server: LiveServer, model: Any) -> list[Any]:
    async def read() -> list[Any]:
        async with server.app.state.sessionmaker() as db:
            return list(await db.scalars(select(model)))

    result: list[Any] = on_server(server, read())
    return result


# --- settings --------------------------------------------------------------------------


def test_settings_defaults_save_audit_and_permissions(api: Api, server: LiveServer) -> None:
    t = api.provision()
    _, agent = api.add_user(t)
    got = agent.ok("GET", "/automations/settings")
    assert got["dispatcher_nickname"] == "调度员" and got["salutation"] == "亲"
    assert got["updated_at"] is None
    assert got["timers"]["waiting_reminder"]["enabled"] is False
    assert got["timers"]["visitor_timeout"]["count"] == 1
    body = {k: v for k, v in got.items() if k != "updated_at"}
    r = agent.put("/automations/settings", json=body)
    assert r.status_code == 403
    saved = configure(t, dispatcher_nickname="小秘书", inactive={"enabled": True, "timeout": 600})
    assert saved["dispatcher_nickname"] == "小秘书" and saved["updated_at"]
    assert agent.ok("GET", "/automations/settings")["timers"]["inactive"]["timeout"] == 600
    audit = t.admin.ok("GET", "/audit-logs")["items"]
    entry = next(a for a in audit if a["action"] == "automations.updated")
    assert entry["detail"]["timers.inactive.timeout"] == {"from": 1800, "to": 600}
    assert entry["detail"]["dispatcher_nickname"]["to"] == "小秘书"
    # Anonymous callers are refused.
    assert api.anon.get("/automations/settings").status_code == 401


@pytest.mark.parametrize(
    "patch",
    [
        {"welcome_text": "x" * 501},
        {"greeting_text": "x" * 501},
        {"end_message": "x" * 501},
        {"dispatcher_nickname": ""},
        {"dispatcher_nickname": "x" * 21},
        {"salutation": "  "},
        {"visitor_timeout": {"count": 0}},
        {"visitor_timeout": {"count": 11}},
        {"visitor_timeout": {"interval": 9}},
        {"visitor_timeout": {"first_timeout": 8 * 24 * 3600}},
        {"visitor_timeout": {"tag_ids": list(range(1, 12))}},
        {"visitor_timeout": {"remark": "r" * 201}},
        {"inactive": {"timeout": 0}},
        {"waiting_reminder": {"period": "night"}},
        {"waiting_reminder": {"count": 20}},
        {"waiting_end": {"mode": "forever"}},
        {"agent_no_reply": {"alert_level": "panic"}},
        {"agent_no_reply": {"timeout": "soon"}},
        {"agent_no_reply": {"surprise": True}},
        {"unknown_field": 1},
    ],
)
def test_settings_validation_is_a_422(api: Api, server: LiveServer, patch: dict[str, Any]) -> None:
    t = api.provision()
    current = t.admin.ok("GET", "/automations/settings")
    current.pop("updated_at")
    for key, value in patch.items():
        if key in current["timers"]:
            current["timers"][key] = {**current["timers"][key], **value}
        else:
            current[key] = value
    r = t.admin.put("/automations/settings", json=current)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"
    assert t.admin.ok("GET", "/automations/settings")["updated_at"] is None  # nothing written


# --- greetings and system messages (§6) --------------------------------------------------


def test_enterprise_welcome_greeting_end_message_and_nickname(api: Api, server: LiveServer) -> None:
    t = api.provision()
    _, agent = api.add_user(t)
    configure(
        t,
        welcome_text="欢迎光临",
        greeting_text="##亲##，有什么可以帮您？",
        end_message="感谢您的咨询，再见",
        dispatcher_nickname="小助手",
        salutation="朋友",
    )
    plain = new_widget(t)
    own = new_widget(t, welcome_text="本站欢迎语")
    # The public configuration carries the enterprise welcome when the widget has none.
    assert api.anon.get(f"/public/widgets/{plain['key']}").json()["welcome_text"] == "欢迎光临"
    assert api.anon.get(f"/public/widgets/{own['key']}").json()["welcome_text"] == "本站欢迎语"
    with staff_socket(server.base_url, agent):
        v = Visitor(api, plain)
        assert v.session["widget"]["welcome_text"] == "欢迎光临"
        conv = v.send("hello")["conversation_id"]
        msgs = agent.ok("GET", f"/conversations/{conv}/messages")
        codes = [m["body"].get("code") for m in msgs if m["kind"] == "system"]
        assert codes[:2] == ["welcome", "enterprise_greeting"]
        greeting = next(m for m in msgs if m["body"].get("code") == "enterprise_greeting")
        assert greeting["body"]["text"] == "朋友，有什么可以帮您？"
        assert greeting["sender"]["name"] == "小助手"
        # Only after the first message.
        v.send("again")
        assert len(system_texts(agent, conv, "enterprise_greeting")) == 1
        agent.ok("POST", f"/conversations/{conv}/end")
        assert system_texts(agent, conv, "end_message") == ["感谢您的咨询，再见"]
        seen = v.http.ok("GET", "/visitor/messages", params={"conversation_id": conv})
        assert seen[-1]["body"]["text"] == "感谢您的咨询，再见"
        # A named visitor is greeted by name; a widget's own welcome wins.
        v2 = Visitor(api, own, profile={"name": "Jon"})
        conv2 = v2.send("hi")["conversation_id"]
        assert system_texts(agent, conv2, "welcome") == ["本站欢迎语"]
        assert system_texts(agent, conv2, "enterprise_greeting") == ["Jon，有什么可以帮您？"]


def test_enterprise_greeting_not_sent_off_hours(api: Api, server: LiveServer) -> None:
    t = api.provision()
    configure(t, greeting_text="您好")
    default = t.admin.ok("GET", "/time-plans")[0]
    t.admin.ok("PATCH", f"/time-plans/{default['id']}", json={"weekly": NEVER})
    v = Visitor(api, new_widget(t))
    conv = v.send("anyone?")["conversation_id"]
    assert system_texts(t.admin, conv, "enterprise_greeting") == []
    # Back in hours: the next visitor is greeted.
    t.admin.ok(
        "PATCH",
        f"/time-plans/{default['id']}",
        json={"weekly": {str(d): [["00:00", "24:00"]] for d in range(1, 8)}},
    )
    conv2 = Visitor(api, new_widget(t)).send("hi")["conversation_id"]
    assert system_texts(t.admin, conv2, "enterprise_greeting") == ["您好"]


def test_no_messages_when_texts_are_empty(api: Api, server: LiveServer) -> None:
    t = api.provision()
    _, agent = api.add_user(t)
    with staff_socket(server.base_url, agent):
        conv = Visitor(api, new_widget(t)).send("hi")["conversation_id"]
        agent.ok("POST", f"/conversations/{conv}/end")
        msgs = agent.ok("GET", f"/conversations/{conv}/messages")
        assert [m for m in msgs if m["kind"] == "system"] == []
        assert msgs[0]["sender"]["type"] == "visitor"


# --- visitor no-reply (§7) -------------------------------------------------------------------


def _held(api: Api, server: LiveServer, t: Tenant, agent: Client) -> tuple[Visitor, int]:
    v = Visitor(api, new_widget(t), profile={"name": "Ada"})
    conv = v.send("question")["conversation_id"]
    eventually(lambda: ongoing_ids(agent) == [conv])
    return v, conv


def test_visitor_no_reply_prompts_then_ends_and_notifies(
    api: Api, server: LiveServer, fake_clock: FakeClock
) -> None:
    t = api.provision()
    _, agent = api.add_user(t)
    tag = t.admin.ok("POST", "/session-tags", json={"name": "无响应"})
    configure(
        t,
        visitor_timeout={
            "enabled": True,
            "first_timeout": 60,
            "count": 2,
            "interval": 30,
            "end_delay": 20,
            "text": "还在吗？",
            "tag_ids": [tag["id"]],
            "remark": "访客未回复",
        },
    )
    with staff_socket(server.base_url, agent) as ws:
        v, conv = _held(api, server, t, agent)
        say(agent, conv, "how can I help?")
        tick(server, fake_clock, 59)
        assert system_texts(agent, conv, "visitor_timeout_prompt") == []
        tick(server, fake_clock, 2)
        eventually(lambda: system_texts(agent, conv, "visitor_timeout_prompt") == ["还在吗？"])
        # The visitor answers: the countdown stops; the next agent message starts it again.
        v.send("yes")
        tick(server, fake_clock, 600)
        assert len(system_texts(agent, conv, "visitor_timeout_prompt")) == 1
        say(agent, conv, "anything else?")
        tick(server, fake_clock, 61)
        eventually(lambda: len(system_texts(agent, conv, "visitor_timeout_prompt")) == 2)
        tick(server, fake_clock, 31)
        eventually(lambda: len(system_texts(agent, conv, "visitor_timeout_prompt")) == 3)
        assert state(agent, conv)["state"] == "ongoing"
        tick(server, fake_clock, 21)
        eventually(lambda: state(agent, conv)["state"] == "ended")
        ended = recv_until(ws, event_named("conversation.ended"))
        assert ended["data"]["reason"] == "visitor_timeout" and ended["data"]["by"] == "system"
        assert end_reason(server, conv) == "visitor_timeout"
        [notice] = notices(agent, "conversation_auto_ended")
        assert notice["data"] == {
            "conversation_id": conv,
            "visitor_name": "Ada",
            "reason": "visitor_timeout",
        }
        applied = t.admin.ok("GET", f"/conversations/{conv}/session-tags")
        assert [x["id"] for x in applied["tags"]] == [tag["id"]]
        assert applied["remark"] == "访客未回复"
        assert v.http.ok("GET", "/visitor/conversation") is None


def test_visitor_no_reply_off_means_no_prompt_and_no_end(
    api: Api, server: LiveServer, fake_clock: FakeClock
) -> None:
    t = api.provision()
    _, agent = api.add_user(t)
    configure(t, visitor_timeout={"enabled": False, "first_timeout": 10})
    with staff_socket(server.base_url, agent):
        _v, conv = _held(api, server, t, agent)
        say(agent, conv, "hello")
        tick(server, fake_clock, 3600)
        assert state(agent, conv)["state"] == "ongoing"
        assert system_texts(agent, conv, "visitor_timeout_prompt") == []


def test_visitor_no_reply_countdown_survives_a_restart(
    api: Api, server: LiveServer, settings: Settings, fake_clock: FakeClock
) -> None:
    t = api.provision()
    _, agent = api.add_user(t)
    configure(
        t,
        visitor_timeout={
            "enabled": True,
            "first_timeout": 60,
            "count": 1,
            "text": "",
            "end_delay": 30,
        },
    )
    with staff_socket(server.base_url, agent):
        _v, conv = _held(api, server, t, agent)
        say(agent, conv, "hello")
    fake_clock.advance(seconds=30)
    live = restart(server, settings)
    try:
        admin = Api(live.base_url).login(t.admin_email, t.admin_password)
        tick(live, fake_clock, 31)  # the (empty) prompt moment passes silently
        assert state(admin, conv)["state"] == "ongoing"
        tick(live, fake_clock, 31)
        eventually(lambda: state(admin, conv)["state"] == "ended")
        assert end_reason(live, conv) == "visitor_timeout"
        assert system_texts(admin, conv, "visitor_timeout_prompt") == []
        admin.close()
    finally:
        live.stop()


# --- inactive (§7) -------------------------------------------------------------------------


def test_inactive_conversation_ends_first_when_shorter(
    api: Api, server: LiveServer, fake_clock: FakeClock
) -> None:
    t = api.provision()
    _, agent = api.add_user(t)
    configure(
        t,
        inactive={"enabled": True, "timeout": 120, "text": "会话因长时间无消息而结束"},
        visitor_timeout={"enabled": True, "first_timeout": 300, "text": "在吗"},
    )
    switches(t, csat_no_invite_on_auto_end=True)
    with staff_socket(server.base_url, agent):
        v, conv = _held(api, server, t, agent)
        tick(server, fake_clock, 100)
        v.send("still here")  # activity restarts the count
        tick(server, fake_clock, 100)
        assert state(agent, conv)["state"] == "ongoing"
        say(agent, conv, "ok")
        tick(server, fake_clock, 121)
        eventually(lambda: state(agent, conv)["state"] == "ended")
        assert end_reason(server, conv) == "inactive"
        assert system_texts(agent, conv, "inactive_prompt") == ["会话因长时间无消息而结束"]
        assert system_texts(agent, conv, "visitor_timeout_prompt") == []
        assert notices(agent, "conversation_auto_ended")[0]["data"]["reason"] == "inactive"


def test_ending_drops_every_timer_of_the_conversation_and_only_its_own(
    api: Api, server: LiveServer, fake_clock: FakeClock
) -> None:
    # One DELETE for all the kinds (kefu.workers.scheduler.cancel_timers).
    t = api.provision()
    _, agent = api.add_user(t, max_concurrent=2)
    configure(
        t,
        inactive={"enabled": True, "timeout": 600, "text": "结束"},
        visitor_timeout={"enabled": True, "first_timeout": 300, "text": "在吗"},
    )
    with staff_socket(server.base_url, agent):
        _v, conv = _held(api, server, t, agent)
        v2 = Visitor(api, new_widget(t), profile={"name": "Bo"})
        other = v2.send("second")["conversation_id"]
        eventually(lambda: sorted(ongoing_ids(agent)) == sorted([conv, other]))
        say(agent, conv, "hello")  # the visitor's no-reply timer starts
        say(agent, other, "hello")

        def kinds_of(subject: int) -> set[str]:
            rows = db_rows(server, Timer)
            return {r.kind for r in rows if r.subject_id == subject and r.kind in ALL_KINDS}

        assert len(kinds_of(conv)) >= 2, kinds_of(conv)
        kept = kinds_of(other)
        agent.ok("POST", f"/conversations/{conv}/end")
        assert kinds_of(conv) == set()
        assert kinds_of(other) == kept


def test_inactive_off_keeps_the_conversation(
    api: Api, server: LiveServer, fake_clock: FakeClock
) -> None:
    t = api.provision()
    _, agent = api.add_user(t)
    with staff_socket(server.base_url, agent):
        _v, conv = _held(api, server, t, agent)
        tick(server, fake_clock, 4 * 3600)
        assert state(agent, conv)["state"] == "ongoing"


# --- waiting reminder, leave message (§7) ---------------------------------------------------


def test_waiting_reminders_and_leave_message_end_the_conversation(
    api: Api, server: LiveServer, fake_clock: FakeClock
) -> None:
    t = api.provision()  # no agent online: visitors wait
    configure(
        t,
        waiting_reminder={
            "enabled": True,
            "text": "请稍候，也可以留言",
            "first_after": 60,
            "count": 2,
            "interval": 60,
            "leave_message": True,
        },
    )
    v = Visitor(api, new_widget(t), profile={"name": "Bea"})
    conv = v.send("hello?")["conversation_id"]
    r = v.http.post("/visitor/leave-message", json={"content": "too early"})
    assert r.status_code == 201  # the button is on: the visitor may leave one at any time
    assert v.http.ok("GET", "/visitor/conversation") is None
    assert end_reason(server, conv) == "leave_message"
    [stored] = db_rows(server, LeaveMessage)
    assert stored.content == "too early" and stored.conversation_id == conv
    assert notices(t.admin, "conversation_auto_ended")[0]["data"]["reason"] == "leave_message"
    # A second conversation gets the reminders, with the button code, `count` times.
    conv2 = v.send("me again")["conversation_id"]
    for n in (1, 2):
        tick(server, fake_clock, 61)
        eventually(lambda n=n: len(system_texts(t.admin, conv2, "waiting_reminder_leave")) == n)
    tick(server, fake_clock, 600)
    assert len(system_texts(t.admin, conv2, "waiting_reminder_leave")) == 2
    bad = v.http.post("/visitor/leave-message", json={"content": " "})
    assert bad.status_code == 422
    bad = v.http.post("/visitor/leave-message", json={"content": "x", "phone": "call me"})
    assert bad.status_code == 422
    v.http.ok(
        "POST",
        "/visitor/leave-message",
        json={"name": "Bea", "phone": "13800138000", "content": "please call"},
    )
    assert state(t.admin, conv2)["state"] == "ended"
    # Nothing open: no more leave messages.
    r = v.http.post("/visitor/leave-message", json={"content": "again"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "leave_message_unavailable"


def test_waiting_reminder_off_period_and_acceptance(
    api: Api, server: LiveServer, fake_clock: FakeClock
) -> None:
    t = api.provision()
    _, agent = api.add_user(t)
    # Off: no reminder, and no leave message.
    v = Visitor(api, new_widget(t))
    conv = v.send("hi")["conversation_id"]
    tick(server, fake_clock, 3600)
    assert system_texts(t.admin, conv, "waiting_reminder") == []
    r = v.http.post("/visitor/leave-message", json={"content": "x"})
    assert r.status_code == 409
    t.admin.ok("POST", f"/conversations/{conv}/end")
    # "Off duty only" while the (default) plan is working: nothing is sent.
    configure(
        t,
        waiting_reminder={"enabled": True, "period": "off_duty", "first_after": 30, "count": 3},
    )
    conv = v.send("hi")["conversation_id"]
    tick(server, fake_clock, 31)
    tick(server, fake_clock, 61)
    assert system_texts(t.admin, conv, "waiting_reminder") == []
    t.admin.ok("POST", f"/conversations/{conv}/end")
    # "On duty": sent; acceptance stops the rest.
    configure(t, waiting_reminder={"period": "on_duty", "interval": 60})
    conv = v.send("hi")["conversation_id"]
    tick(server, fake_clock, 31)
    eventually(lambda: len(system_texts(t.admin, conv, "waiting_reminder")) == 1)
    with staff_socket(server.base_url, agent):
        eventually(lambda: ongoing_ids(agent) == [conv])
        tick(server, fake_clock, 300)
        assert len(system_texts(agent, conv, "waiting_reminder")) == 1


# --- waiting timeout end (§7) -------------------------------------------------------------


def test_waiting_timeout_remind_and_end(
    api: Api, server: LiveServer, fake_clock: FakeClock
) -> None:
    t = api.provision()
    _, agent = api.add_user(t)  # never online
    tag = t.admin.ok("POST", "/session-tags", json={"name": "排队超时"})
    gone = t.admin.ok("POST", "/session-tags", json={"name": "旧标签"})
    other = api.provision("Other Co")
    foreign = other.admin.ok("POST", "/session-tags", json={"name": "别家的"})
    configure(
        t,
        waiting_end={
            "enabled": True,
            "mode": "remind_end",
            "timeout": 300,
            "end_text": "排队超时，会话结束",
            "tag_ids": [tag["id"], gone["id"]],
            "remark": "排队太久",
        },
    )
    # Another tenant's tag is dropped like an unknown one when saving.
    saved = configure(t, waiting_end={"tag_ids": [tag["id"], gone["id"], foreign["id"], 999999]})
    assert saved["timers"]["waiting_end"]["tag_ids"] == [tag["id"], gone["id"]]
    # A tag deleted since it was configured is skipped at the end.
    t.admin.ok("DELETE", f"/session-tags/{gone['id']}")
    v = Visitor(api, new_widget(t), profile={"name": "Cy"})
    conv = v.send("hello")["conversation_id"]
    tick(server, fake_clock, 299)
    assert state(t.admin, conv)["state"] == "waiting"
    tick(server, fake_clock, 2)
    eventually(lambda: state(t.admin, conv)["state"] == "ended")
    assert end_reason(server, conv) == "waiting_timeout"
    assert system_texts(t.admin, conv, "waiting_end") == ["排队超时，会话结束"]
    applied = t.admin.ok("GET", f"/conversations/{conv}/session-tags")
    assert [x["id"] for x in applied["tags"]] == [tag["id"]] and applied["remark"] == "排队太久"
    # Nobody held it: the admins are told.
    [notice] = notices(t.admin, "conversation_auto_ended")
    assert notice["data"]["reason"] == "waiting_timeout" and notice["data"]["visitor_name"] == "Cy"
    assert notices(agent, "conversation_auto_ended") == []


def test_waiting_timeout_keep_waiting_extends_on_reply(
    api: Api, server: LiveServer, fake_clock: FakeClock
) -> None:
    t = api.provision()
    configure(
        t,
        waiting_end={
            "enabled": True,
            "mode": "keep_waiting",
            "remind_after": 120,
            "ask_text": "还要继续等待吗？",
            "end_after": 60,
            "end_text": "",
        },
    )
    v = Visitor(api, new_widget(t))
    conv = v.send("hello")["conversation_id"]
    tick(server, fake_clock, 121)
    eventually(lambda: system_texts(t.admin, conv, "waiting_ask") == ["还要继续等待吗？"])
    v.send("yes, I wait")  # extends: asked again after another 120 s
    tick(server, fake_clock, 61)
    assert state(t.admin, conv)["state"] == "waiting"
    tick(server, fake_clock, 60)
    eventually(lambda: len(system_texts(t.admin, conv, "waiting_ask")) == 2)
    tick(server, fake_clock, 61)
    eventually(lambda: state(t.admin, conv)["state"] == "ended")
    assert end_reason(server, conv) == "waiting_timeout"


def test_waiting_end_off_and_accepted_conversations_are_left_alone(
    api: Api, server: LiveServer, fake_clock: FakeClock
) -> None:
    t = api.provision()
    _, agent = api.add_user(t)
    v = Visitor(api, new_widget(t))
    conv = v.send("hello")["conversation_id"]
    tick(server, fake_clock, 4 * 3600)
    assert state(t.admin, conv)["state"] == "waiting"
    t.admin.ok("POST", f"/conversations/{conv}/end")
    configure(t, waiting_end={"enabled": True, "timeout": 60})
    with staff_socket(server.base_url, agent):
        _v, held = _held(api, server, t, agent)
        tick(server, fake_clock, 600)
        assert state(agent, held)["state"] == "ongoing"


# --- agent no-reply (§7) ---------------------------------------------------------------------


def test_agent_no_reply_flags_prompts_and_alerts(
    api: Api, server: LiveServer, fake_clock: FakeClock
) -> None:
    t = api.provision()
    user, agent = api.add_user(t)
    configure(
        t,
        agent_no_reply={
            "enabled": True,
            "timeout": 60,
            "remind_agent": True,
            "remind_visitor": True,
            "visitor_text": "客服马上回复您",
            "alert": True,
            "alert_level": "high",
        },
    )
    with staff_socket(server.base_url, agent) as ws:
        v, conv = _held(api, server, t, agent)
        tick(server, fake_clock, 30)
        v.send("hello??")  # does not restart the count: the first unanswered message counts
        tick(server, fake_clock, 31)
        flagged = recv_until(ws, event_named("conversation.agent_overdue"))
        assert flagged["conversation_id"] == conv and flagged["data"]["agent_overdue_at"]
        [overdue] = agent.ok("GET", "/automations/overdue")
        assert overdue["conversation_id"] == conv
        assert system_texts(agent, conv, "agent_no_reply") == ["客服马上回复您"]
        [alert] = db_rows(server, AlertRecord)
        assert (alert.conversation_id, alert.agent_id, alert.level, alert.kind) == (
            conv,
            user["id"],
            "high",
            "agent_no_reply",
        )
        # Staff only: the visitor never sees the flag event.
        events = v.http.ok("GET", "/visitor/events", params={"conversation_id": conv, "after": 0})
        frames = events["events"] if isinstance(events, dict) else events
        assert all(e["name"] != "conversation.agent_overdue" for e in frames)
        # The reply clears the flag.
        say(agent, conv, "sorry, here")
        cleared = recv_until(ws, event_named("conversation.agent_overdue"))
        assert cleared["data"]["agent_overdue_at"] is None
        assert agent.ok("GET", "/automations/overdue") == []
        assert t.admin.ok("GET", "/automations/overdue") == []  # only the holder's own


def test_agent_no_reply_switches_off(api: Api, server: LiveServer, fake_clock: FakeClock) -> None:
    t = api.provision()
    _, agent = api.add_user(t)
    configure(
        t,
        agent_no_reply={
            "enabled": True,
            "timeout": 60,
            "remind_agent": False,
            "remind_visitor": False,
            "alert": False,
        },
    )
    with staff_socket(server.base_url, agent):
        _v, conv = _held(api, server, t, agent)
        tick(server, fake_clock, 120)
        assert agent.ok("GET", "/automations/overdue") == []
        assert system_texts(agent, conv, "agent_no_reply") == []
        assert db_rows(server, AlertRecord) == []
        configure(t, agent_no_reply={"enabled": False, "remind_agent": True})
        Visitor(api, new_widget(t)).send("x")
        tick(server, fake_clock, 120)
        assert agent.ok("GET", "/automations/overdue") == []


# --- existing timers across a restart -----------------------------------------------------


def test_transfer_confirmation_expiry_survives_a_restart(
    api: Api, server: LiveServer, settings: Settings, fake_clock: FakeClock
) -> None:
    t = api.provision()
    a_user, a = api.add_user(t)
    b_user, b = api.add_user(t)
    switches(t, transfer_confirmation=True)
    with ExitStack() as stack:
        stack.enter_context(staff_socket(server.base_url, a))
        stack.enter_context(staff_socket(server.base_url, b))
        v = Visitor(api, new_widget(t))
        conv = v.send("help")["conversation_id"]
        eventually(lambda: conv in ongoing_ids(a) + ongoing_ids(b))
        holder, other = (a, b_user) if ongoing_ids(a) == [conv] else (b, a_user)
        req = holder.ok("POST", f"/conversations/{conv}/transfer", json={"agent_id": other["id"]})[
            "request"
        ]
    fake_clock.advance(seconds=30)
    live = restart(server, settings)
    try:
        client = Api(live.base_url)
        target = client.login(other["email"], PASSWORD)
        assert [r["id"] for r in target.ok("GET", "/transfer-requests")] == [req["id"]]
        tick(live, fake_clock, 31)
        eventually(lambda: target.ok("GET", "/transfer-requests") == [])
        r = target.post(f"/transfer-requests/{req['id']}/accept")
        assert r.status_code == 409 and r.json()["error"]["code"] == "transfer_request_closed"
        client.close_all()
    finally:
        live.stop()


def test_attachment_expiry_survives_a_restart(
    api: Api, server: LiveServer, settings: Settings, fake_clock: FakeClock
) -> None:
    t = api.provision()
    _, agent = api.add_user(t)
    with staff_socket(server.base_url, agent):
        _v, conv = _held(api, server, t, agent)
    up = agent.post(
        f"/conversations/{conv}/attachments",
        data={"kind": "file"},
        files={"file": ("r.pdf", b"%PDF-1.4 report", "application/pdf")},
    )
    assert up.status_code == 201, up.text
    agent.ok(
        "POST",
        f"/conversations/{conv}/messages",
        json={"client_msg_id": cid(), "kind": "file", "body": {"attachment_id": up.json()["id"]}},
    )
    fake_clock.advance(days=3)
    live = restart(server, settings)
    try:
        client = Api(live.base_url)
        tick(live, fake_clock, 4 * 24 * 3600 + 1)
        admin = client.login(t.admin_email, t.admin_password)

        def expired() -> bool:
            last = admin.ok("GET", f"/conversations/{conv}/messages")[-1]
            return bool(last["body"]["attachment"]["expired"])

        eventually(expired)
        client.close_all()
    finally:
        live.stop()


def test_waiting_reminder_restarts_when_a_transfer_requeues(
    api: Api, server: LiveServer, fake_clock: FakeClock
) -> None:
    """A conversation transferred into a busy group's queue waits again: the reminders start over
    for this wait, and stop once the group's agent takes it."""
    t = api.provision()
    _, a = api.add_user(t)
    g_user, g_agent = api.add_user(t, max_concurrent=0)
    g = group(t, "售后", [g_user["id"]])
    configure(
        t,
        waiting_reminder={
            "enabled": True,
            "text": "正在为您转接，请稍候",
            "first_after": 60,
            "count": 1,
            "interval": 60,
            "leave_message": False,
        },
    )
    with staff_socket(server.base_url, a), staff_socket(server.base_url, g_agent):
        conv = Visitor(api, new_widget(t)).send("hello")["conversation_id"]
        eventually(lambda: ongoing_ids(a) == [conv])
        tick(server, fake_clock, 120)
        assert system_texts(t.admin, conv, "waiting_reminder") == []  # it was never waiting
        out = a.ok("POST", f"/conversations/{conv}/transfer", json={"skill_group_id": g["id"]})
        assert out["outcome"] == "queued"
        tick(server, fake_clock, 61)
        texts = ["正在为您转接，请稍候"]
        eventually(lambda: system_texts(t.admin, conv, "waiting_reminder") == texts)
        t.admin.ok("PATCH", f"/users/{g_user['id']}", json={"max_concurrent": 5})
        eventually(lambda: ongoing_ids(g_agent) == [conv])
