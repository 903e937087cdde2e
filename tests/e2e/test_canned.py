"""Canned replies in the browser (§8.1): suggestions while typing in the composer (arrow keys,
Enter, Esc), inserting and sending one; the workbench panel; the agent and admin pages."""

from __future__ import annotations

import re
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, Tenant
from tests.e2e.helpers import ApiClient, login, nav

pytestmark = pytest.mark.e2e
SHOTS = Path(tempfile.gettempdir()) / "shots" / "D"
AGENT_PASSWORD = "Agent1234x"
REFUND = "您好，退款将在 3 个工作日内原路返回，请留意银行卡到账通知。"
GREETING = "感谢您的耐心等待，还有什么可以帮您？"
MINE = "退款进度我这边帮您加急处理。"


def _setup(server: Server, tenant: Tenant) -> tuple[ApiClient, dict[str, Any], str]:
    admin = ApiClient(server.base_url, tenant.email, tenant.password)
    http = admin.http
    top = http.post("/canned/public/categories", json={"name": "售后服务"}).json()
    sub = http.post(
        "/canned/public/categories", json={"name": "退款", "parent_id": top["id"]}
    ).json()
    for cat, text in ((sub, REFUND), (top, GREETING), (top, "订单一般 48 小时内发货。")):
        r = http.post("/canned/public/replies", json={"category_id": cat["id"], "text": text})
        assert r.status_code == 201, r.text
    widget = http.post("/widgets", json={"name": "官网"}).json()
    email = f"agent-{uuid.uuid4().hex[:8]}@example.com"
    admin.create_agent(email, "小王")
    # The admin is away, so the visitor's conversation goes to the agent.
    assert http.put("/me/status", json={"status": "busy"}).status_code == 200
    return admin, widget, email


def _chat(agent: Page, visitor: Page, widget_key: str) -> None:
    visitor.goto(f"/demo?widget={widget_key}")
    visitor.locator("button.launcher").click()
    box = visitor.get_by_role("textbox", name="输入消息")
    box.fill("请问退款多久到账？")
    box.press("Enter")
    item = agent.get_by_test_id("conversation-item").first
    expect(item).to_be_visible()
    item.click()
    expect(
        agent.get_by_role("log", name="消息记录").get_by_text("请问退款多久到账？")
    ).to_be_visible()


def test_suggestions_insert_and_send_then_panel(server: Server, tenant: Tenant, new_page) -> None:  # type: ignore[no-untyped-def]
    admin, widget, email = _setup(server, tenant)
    SHOTS.mkdir(parents=True, exist_ok=True)
    agent: Page = new_page()
    login(agent, email, AGENT_PASSWORD)
    if "/agent/sessions" not in agent.url:
        nav(agent, "会话")
    expect(agent.get_by_text("已连接", exact=True)).to_be_visible()
    agent_api = ApiClient(server.base_url, email, AGENT_PASSWORD)
    assert agent_api.http.post("/canned/personal/replies", json={"text": MINE}).status_code == 201
    visitor: Page = new_page()
    _chat(agent, visitor, widget["key"])
    widget_log = visitor.get_by_role("log", name="对话消息")

    # Typing shows matching replies of both sets above the input box.
    box = agent.get_by_role("textbox", name="输入消息")
    box.press_sequentially("退款", delay=40)
    suggestions = agent.get_by_role("listbox", name="常用语推荐")
    expect(suggestions).to_be_visible()
    options = suggestions.get_by_role("option")
    expect(options).to_have_count(2)
    expect(options.filter(has_text=REFUND[:10])).to_be_visible()
    expect(options.filter(has_text=MINE[:6])).to_be_visible()
    agent.screenshot(path=str(SHOTS / "composer-suggestions.png"))

    # Esc closes the list; Enter then sends what was typed, as usual.
    box.press("Escape")
    expect(suggestions).to_be_hidden()
    box.press("Enter")
    expect(widget_log.get_by_text("退款", exact=True)).to_be_visible()

    # Typing again: ↓ chooses a suggestion, Enter puts it in the box (nothing is sent yet).
    box.press_sequentially("退款将", delay=40)
    expect(suggestions).to_be_visible()
    expect(options).to_have_count(1)
    box.press("ArrowDown")
    expect(options.first).to_have_attribute("aria-selected", "true")
    box.press("Enter")
    expect(box).to_have_value(REFUND)
    expect(suggestions).to_be_hidden()
    expect(widget_log.get_by_text(REFUND)).to_have_count(0)
    # A second Enter sends it.
    box.press("Enter")
    expect(widget_log.get_by_text(REFUND)).to_be_visible()
    expect(box).to_have_value("")
    # Tab inserts the first suggestion too; the insertion counted as a use.
    box.press_sequentially("耐心", delay=40)
    expect(options).to_have_count(1)
    box.press("Tab")
    expect(box).to_have_value(GREETING)
    box.fill("")
    # The use is recorded by a request the page sends after the insertion: wait for it.
    deadline = time.monotonic() + 10
    while True:
        replies = agent_api.http.get("/canned/public").json()["replies"]
        used = {r["text"]: r["use_count"] for r in replies}
        if (used[REFUND], used[GREETING]) == (1, 1) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert used[REFUND] == 1 and used[GREETING] == 1

    # The side panel: a click puts a reply into the box, the Send button sends one at once.
    agent.get_by_role("button", name="打开常用语面板").click()
    panel = agent.get_by_role("complementary", name="常用语")
    expect(panel).to_be_visible()
    panel.get_by_role("textbox", name="搜索常用语").fill("发货")
    expect(panel.get_by_test_id("canned-panel-reply")).to_have_count(1)
    panel.get_by_test_id("canned-panel-reply").first.click()
    expect(box).to_have_value("订单一般 48 小时内发货。")
    box.fill("")
    panel.get_by_role("textbox", name="搜索常用语").fill("")
    reply = panel.get_by_test_id("canned-panel-reply").filter(has_text=GREETING[:8])
    reply.hover()
    reply.get_by_role("button", name=re.compile("^直接发送")).click()
    expect(widget_log.get_by_text(GREETING)).to_be_visible()
    agent.screenshot(path=str(SHOTS / "workbench-panel.png"))
    admin.close()
    agent_api.close()


def test_agent_and_admin_pages(server: Server, tenant: Tenant, new_page) -> None:  # type: ignore[no-untyped-def]
    admin_api, _, email = _setup(server, tenant)
    SHOTS.mkdir(parents=True, exist_ok=True)
    agent: Page = new_page()
    login(agent, email, AGENT_PASSWORD)
    nav(agent, "常用语")
    expect(agent).to_have_url(re.compile(r"/agent/canned"))
    # The agent adds a sub-category and a reply of their own, then submits it to the public set.
    agent.get_by_role("button", name="添加子分类").click()
    agent.get_by_role("dialog").get_by_role("textbox").fill("常用问候")
    agent.get_by_role("dialog").get_by_role("button", name="保存").click()
    # The new sub-category becomes the selected one; a new reply then goes into it.
    expect(agent.get_by_role("button", name=re.compile("^常用问候"))).to_have_attribute(
        "aria-pressed", "true"
    )
    agent.get_by_role("button", name="新建常用语").click()
    dialog = agent.get_by_role("dialog", name="新建常用语")
    dialog.get_by_role("textbox", name="常用语内容").fill(MINE)
    dialog.get_by_role("button", name="保存").click()
    row = agent.get_by_test_id("canned-reply").filter(has_text=MINE)
    expect(row).to_be_visible()
    row.get_by_role("button", name=re.compile("^提交到公共常用语")).click()
    dialog = agent.get_by_role("dialog", name="提交到公共常用语")
    combobox = dialog.get_by_role("combobox", name="公共分类")
    combobox.locator("xpath=ancestor::div[contains(@class, 'el-select__wrapper')]").click()
    listbox = agent.locator(f"#{combobox.get_attribute('aria-controls')}")
    listbox.get_by_role("option", name="售后服务 / 退款", exact=True).click()
    dialog.get_by_role("textbox", name="提交原因").fill("客户经常问")
    agent.screenshot(path=str(SHOTS / "agent-submit-dialog.png"))
    dialog.get_by_role("button", name="提交到公共").click()
    expect(agent.get_by_text("已提交，等待管理员审核")).to_be_visible()
    expect(dialog).to_be_hidden()
    expect(agent.locator(".el-message")).to_have_count(0, timeout=10_000)
    agent.screenshot(path=str(SHOTS / "agent-personal.png"))
    # Public replies: read-only, with pins and the sort toggle.
    agent.get_by_role("tab", name="公共常用语").click()
    public = agent.get_by_role("tabpanel", name="公共常用语")
    public_row = public.get_by_test_id("canned-reply").filter(has_text="订单一般")
    public_row.get_by_role("button", name=re.compile("^置顶")).click()
    expect(public.get_by_test_id("canned-reply").first).to_contain_text("订单一般")
    expect(public.get_by_role("button", name=re.compile("^编辑常用语"))).to_have_count(0)
    agent.screenshot(path=str(SHOTS / "agent-public.png"))

    # The admin sees the tree and the pending submission, and accepts it.
    admin: Page = new_page()
    login(admin, tenant.email, tenant.password)
    nav(admin, "系统设置", "公共常用语")
    expect(admin).to_have_url(re.compile(r"/admin/settings/canned"))
    expect(admin.get_by_test_id("canned-category")).to_have_count(2)
    admin.screenshot(path=str(SHOTS / "admin-public.png"))
    admin.get_by_role("tab", name=re.compile("待审核提交")).click()
    expect(admin.get_by_test_id("canned-submission-text")).to_have_text(MINE)
    admin.screenshot(path=str(SHOTS / "admin-submissions.png"))
    admin.get_by_role("button", name="通过 小王 的提交").click()
    admin.get_by_role("dialog").get_by_role("button", name="通过").click()
    expect(admin.get_by_text("已通过，已加入公共常用语")).to_be_visible()
    texts = [r["text"] for r in admin_api.http.get("/canned/public").json()["replies"]]
    assert MINE in texts
    admin_api.close()
