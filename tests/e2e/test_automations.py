"""Automations in the browser (§6, §7): the admin sets short timers on System switches; a
visitor/agent conversation shows the overdue mark, the visitor prompt and the automatic end at
the configured time; the agent's message center shows the notice. The waiting reminder's
leave-message button ends a waiting conversation."""

from __future__ import annotations

import re
import tempfile
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import Server, Tenant
from tests.e2e.helpers import ApiClient, login, nav, toggle

pytestmark = pytest.mark.e2e
SHOTS = Path(tempfile.gettempdir()) / "shots" / "A"
AGENT_PASSWORD = "Agent1234x"


def _seconds(page: Page, label: str, value: int) -> None:
    """Set a duration field in seconds: pick the unit, then type the number."""
    combobox = page.get_by_role("combobox", name=f"{label}的单位", exact=True)
    combobox.locator("xpath=ancestor::div[contains(@class, 'el-select__wrapper')]").click()
    listbox = page.locator(f"#{combobox.get_attribute('aria-controls')}")
    expect(listbox).to_be_visible()
    listbox.get_by_role("option", name="秒", exact=True).click()
    expect(listbox).to_be_hidden()
    box = page.get_by_role("spinbutton", name=label, exact=True)
    box.fill(str(value))
    box.press("Tab")


def _timer(page: Page, key: str) -> Locator:
    return page.get_by_test_id(f"timer-{key}")


def test_admin_sets_timers_and_the_conversation_ends_by_itself(  # type: ignore[no-untyped-def]
    server: Server, tenant: Tenant, new_page
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    admin_api = ApiClient(server.base_url, tenant.email, tenant.password)
    widget = admin_api.http.post("/widgets", json={"name": "自动化"}).json()
    email = f"agent-{uuid.uuid4().hex[:8]}@example.com"
    admin_api.create_agent(email, "小周")

    # --- the admin sets the texts and short timers ------------------------------------------
    admin: Page = new_page()
    login(admin, tenant.email, tenant.password)
    nav(admin, "系统设置", "系统开关")
    expect(admin).to_have_url(re.compile(r"/admin/settings/switches"))
    section = admin.get_by_role("region", name="自动化：问候语、系统消息与会话计时")
    expect(section).to_be_visible()
    admin.get_by_role("textbox", name="企业欢迎语").fill("欢迎来到自动化测试店")
    admin.get_by_role("textbox", name="会话结束语").fill("本次会话已结束，感谢光临")
    admin.get_by_role("textbox", name="调度员昵称").fill("店小二")

    toggle(admin.get_by_role("switch", name="启用访客超时未回复自动结束会话"))
    visitor_timer = _timer(admin, "visitor_timeout")
    _seconds(admin, "首次提示时间", 12)
    _seconds(admin, "最后提示后结束", 10)
    visitor_timer.get_by_role("textbox", name="访客超时未回复自动结束会话 提示语").fill(
        "您还在吗？没有回复将结束会话"
    )
    toggle(admin.get_by_role("switch", name="启用客服超时未回复"))
    _seconds(admin, "客服超时未回复 超时时间", 10)
    admin.screenshot(path=str(SHOTS / "settings-zh.png"), full_page=True)
    admin.get_by_role("button", name="保存自动化设置").click()
    expect(admin.get_by_text("自动化设置已保存")).to_be_visible()
    saved = admin_api.http.get("/automations/settings").json()
    assert saved["timers"]["visitor_timeout"]["enabled"] is True
    assert saved["timers"]["visitor_timeout"]["first_timeout"] == 12
    assert saved["timers"]["visitor_timeout"]["end_delay"] == 10
    assert saved["timers"]["agent_no_reply"]["timeout"] == 10
    assert saved["dispatcher_nickname"] == "店小二"

    # --- a conversation -----------------------------------------------------------------------
    # The admin is online too: busy, so the visitor's conversation goes to the agent.
    assert admin_api.http.put("/me/status", json={"status": "busy"}).status_code == 200
    agent: Page = new_page()
    login(agent, email, AGENT_PASSWORD)
    if "/agent/sessions" not in agent.url:
        nav(agent, "会话")
    visitor: Page = new_page()
    visitor.goto(f"/demo?widget={widget['key']}")
    visitor.locator("button.launcher").click()
    expect(visitor.get_by_text("欢迎来到自动化测试店")).to_be_visible()
    box = visitor.get_by_role("textbox", name="输入消息")
    box.fill("请问发货了吗")
    box.press("Enter")

    item = agent.get_by_test_id("conversation-item").first
    expect(item).to_be_visible()
    # The agent does not answer within 10 s: the conversation is pinned with a colour mark.
    expect(item.get_by_test_id("overdue-flag")).to_be_visible(timeout=20_000)
    expect(item).to_have_class(re.compile(r"cl-item--overdue"))
    agent.screenshot(path=str(SHOTS / "workbench-overdue-zh.png"))
    item.click()
    reply = agent.get_by_role("textbox", name="输入消息")
    reply.fill("已经发货了")
    reply.press("Enter")
    expect(item.get_by_test_id("overdue-flag")).to_be_hidden()

    # The visitor stays silent: the prompt after 12 s, the end 10 s later.
    log = visitor.get_by_role("log")
    expect(log.get_by_text("您还在吗？没有回复将结束会话")).to_be_visible(timeout=25_000)
    visitor.screenshot(path=str(SHOTS / "widget-prompt-zh.png"))
    expect(log.get_by_text("本次会话已结束，感谢光临")).to_be_visible(timeout=25_000)
    visitor.screenshot(path=str(SHOTS / "widget-ended-zh.png"))
    expect(item).to_contain_text("已结束")

    # The agent's message center tells them why.
    agent.goto("/agent/message-center")
    expect(agent.get_by_text("会话自动结束").first).to_be_visible()
    expect(agent.get_by_text(re.compile("访客超时未回复")).first).to_be_visible()
    agent.screenshot(path=str(SHOTS / "message-center-zh.png"))
    # "View details" opens the conversation in History (§15.1).
    agent.get_by_role("link", name="查看详情").first.click()
    expect(agent).to_have_url(re.compile(r"/agent/history\?conversation=\d+"))
    expect(agent.get_by_role("dialog").get_by_text("您还在吗？没有回复将结束会话")).to_be_visible()


def test_waiting_visitor_leaves_a_message(  # type: ignore[no-untyped-def]
    server: Server, tenant: Tenant, new_page
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    admin = ApiClient(server.base_url, tenant.email, tenant.password)
    current = admin.http.get("/automations/settings").json()
    current.pop("updated_at")
    current["timers"]["waiting_reminder"].update(
        {
            "enabled": True,
            "first_after": 10,
            "count": 1,
            "leave_message": True,
            "text": "客服都在忙，您可以先留言",
        }
    )
    assert admin.http.put("/automations/settings", json=current).status_code == 200
    widget = admin.http.post("/widgets", json={"name": "留言"}).json()
    visitor: Page = new_page()
    visitor.goto(f"/demo?widget={widget['key']}")
    visitor.locator("button.launcher").click()
    box = visitor.get_by_role("textbox", name="输入消息")
    box.fill("有人吗")
    box.press("Enter")
    log = visitor.get_by_role("log")
    expect(log.get_by_text("客服都在忙，您可以先留言")).to_be_visible(timeout=25_000)
    log.get_by_role("button", name="留言", exact=True).click()
    form = visitor.get_by_role("form", name="给我们留言")
    form.get_by_role("textbox", name="称呼（选填）").fill("王先生")
    form.get_by_role("textbox", name="电话（选填）").fill("13800138000")
    form.get_by_role("textbox", name="留言内容").fill("请明天上午回电")
    visitor.screenshot(path=str(SHOTS / "widget-leave-form-zh.png"))
    form.get_by_role("button", name="提交留言").click()
    done = re.compile(r"留言已提交（编号 #\d+），我们会尽快联系您。本次排队已结束。")
    expect(log.get_by_text(done)).to_be_visible()
    visitor.screenshot(path=str(SHOTS / "widget-leave-done-zh.png"))
    notices = admin.http.get("/notifications").json()["items"]
    assert any(
        n["kind"] == "conversation_auto_ended" and n["data"]["reason"] == "leave_message"
        for n in notices
    )


def test_settings_section_in_english(server: Server, tenant: Tenant, new_page) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page: Page = new_page("en")
    login(page, tenant.email, tenant.password)
    page.get_by_role("button", name="切换语言").click()
    page.get_by_role("menuitem", name="English").click()
    expect(page.get_by_role("radio", name="Admin mode")).to_be_attached()
    # Saved to the account (the next page load reads it from there): wait for the confirmation.
    expect(page.get_by_text("The interface is now in English")).to_be_visible()
    page.goto("/admin/settings/switches")
    section = page.get_by_role(
        "region", name="Automations: greetings, system messages and conversation timers"
    )
    expect(section).to_be_visible()
    toggle(page.get_by_role("switch", name="Enable Waiting timeout end"))
    expect(section.get_by_role("radiogroup", name="Mode", exact=True)).to_be_visible()
    toggle(page.get_by_role("switch", name="Enable Agent no-reply"))
    expect(page.get_by_role("spinbutton", name="Agent no-reply Timeout")).to_have_value("2")
    section.screenshot(path=str(SHOTS / "settings-en.png"))
    # Bounds are enforced by the server too: a 5-second timer is refused.
    page.get_by_role("combobox", name="Unit of Agent no-reply Timeout", exact=True).locator(
        "xpath=ancestor::div[contains(@class, 'el-select__wrapper')]"
    ).click()
    page.get_by_role("option", name="s", exact=True).locator("visible=true").click()
    spin = page.get_by_role("spinbutton", name="Agent no-reply Timeout")
    spin.fill("5")
    spin.press("Tab")
    expect(spin).to_have_value("10")  # the field's own minimum
    page.get_by_role("button", name="Save automations").click()
    expect(page.get_by_text("Automations saved")).to_be_visible()
