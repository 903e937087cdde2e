"""Leave messages end to end (§11.1): off hours the widget shows the form straight away; an
agent sees the message, takes it (the menu badge counts it), comments and resolves it."""

from __future__ import annotations

import re
import secrets
import tempfile
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Server, Tenant
from tests.e2e.helpers import ApiClient, login, nav

pytestmark = pytest.mark.e2e
SHOTS = Path(tempfile.gettempdir()) / "shots" / "leave"
NEVER = {str(d): [] for d in range(1, 8)}


def test_visitor_leaves_a_message_and_an_agent_resolves_it(  # type: ignore[no-untyped-def]
    server: Server, tenant: Tenant, new_page
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    admin = ApiClient(server.base_url, tenant.email, tenant.password)
    http = admin.http
    default = http.get("/time-plans").json()[0]
    assert http.patch(f"/time-plans/{default['id']}", json={"weekly": NEVER}).status_code == 200
    widget = http.post("/widgets", json={"name": "leave", "language": "zh-CN"}).json()
    email = f"leave-agent-{tenant.tenant_id}@example.test"
    admin.create_agent(email, "小林")

    # --- the visitor: off hours, the form is there at once ----------------------------------
    v = new_page("zh-CN")
    v.goto(f"/demo?widget={widget['key']}")
    v.locator("button.launcher").click()
    form = v.get_by_role("form", name="给我们留言")
    expect(form).to_be_visible()
    expect(v.get_by_text("现在是非工作时间")).to_be_visible()
    v.screenshot(path=str(SHOTS / "widget-off-hours-form.png"))
    form.get_by_label("留言内容").fill("")
    form.get_by_role("button", name="提交留言").click()
    expect(form.get_by_role("alert")).to_have_text("请填写留言内容")
    form.get_by_label("主题（选填）").fill("发票抬头修改")
    form.get_by_label("留言内容").fill("订单 A1024 的发票抬头写错了，请帮忙改成公司全称。")
    form.get_by_label("称呼（选填）").fill("王女士")
    form.get_by_label("电话（选填）").fill("13800138000")
    form.get_by_role("button", name="提交留言").click()
    done = v.get_by_role("status").filter(has_text="留言已提交")
    expect(done).to_contain_text("#1")
    v.screenshot(path=str(SHOTS / "widget-left.png"))
    # No waiting conversation was opened.
    assert http.get("/waiting").json()["items"] == []

    # --- the agent: unassigned -> take it -> badge 1 -> comment -> resolve -> badge gone -----
    a = new_page("zh-CN")
    login(a, email, "Agent1234x")
    nav(a, "留言")
    expect(a).to_have_url(re.compile(r"/agent/leave-messages"))
    menu = a.get_by_role("menubar")
    expect(menu.get_by_test_id("leave-badge")).to_have_count(0)
    views = a.get_by_role("radiogroup", name="留言视图")
    views.get_by_text("未分配").click()
    row = a.get_by_role("link", name="查看留言 #1")
    expect(row).to_be_visible()
    a.wait_for_timeout(300)
    a.screenshot(path=str(SHOTS / "agent-unassigned.png"), full_page=True)
    row.click()
    drawer = a.get_by_role("dialog", name="留言 #1")
    expect(drawer).to_be_visible()
    expect(drawer.get_by_text("订单 A1024 的发票抬头写错了")).to_be_visible()
    drawer.get_by_role("button", name="分配给我").click()
    expect(menu.get_by_test_id("leave-badge")).to_have_text("1")
    box = drawer.get_by_role("textbox", name="评论内容")
    box.fill("已致电王女士，确认公司全称，今天内重开发票。")
    box.press("Control+Enter")
    thread = drawer.get_by_role("list", name="评论")
    expect(thread.get_by_text("已致电王女士")).to_be_visible()
    a.wait_for_timeout(300)
    a.screenshot(path=str(SHOTS / "agent-detail.png"))
    drawer.get_by_role("radiogroup", name="处理状态").get_by_text("已解决").click()
    expect(menu.get_by_test_id("leave-badge")).to_have_count(0)
    a.keyboard.press("Escape")
    expect(drawer).to_be_hidden()
    views.get_by_text("已解决").click()
    expect(a.get_by_role("link", name="查看留言 #1")).to_be_visible()

    # --- the admin view: all messages, filters, lookup -------------------------------------
    ad = new_page("zh-CN")
    login(ad, tenant.email, tenant.password)
    ad.goto("/admin/leave-messages")
    expect(ad.get_by_role("link", name="查看留言 #1")).to_be_visible()
    ad.get_by_role("textbox", name="处理人昵称（模糊）").fill("林")
    ad.get_by_role("button", name="查询").click()
    expect(ad.get_by_role("link", name="查看留言 #1")).to_be_visible()
    ad.wait_for_timeout(300)
    ad.screenshot(path=str(SHOTS / "admin-list.png"), full_page=True)

    # --- live: a new message shows on open consoles without reloading (well before the 60 s
    # fallback): the admin's list and badge, and the agent's Unassigned view ------------------
    ad.get_by_role("button", name="重置").click()
    ad_menu = ad.get_by_role("menubar")
    expect(ad_menu.get_by_test_id("leave-badge")).to_have_count(0)
    views.get_by_text("未分配").click()
    token = secrets.token_urlsafe(16)
    visitor = httpx.Client(
        base_url=f"{server.base_url}/api/v1", headers={"Authorization": f"Visitor {token}"}
    )
    visitor.post("/visitor/session", json={"widget_key": widget["key"], "token": token})
    left = visitor.post(
        "/visitor/leave-message",
        json={"origin": "off_hours", "content": "还想问一下退货地址。", "subject": "退货"},
    )
    assert left.status_code == 201, left.text
    visitor.close()
    expect(ad.get_by_role("link", name="查看留言 #2")).to_be_visible(timeout=5000)
    expect(ad_menu.get_by_test_id("leave-badge")).to_have_text("1", timeout=5000)
    expect(a.get_by_role("link", name="查看留言 #2")).to_be_visible(timeout=5000)
    ad.screenshot(path=str(SHOTS / "admin-live.png"), full_page=True)
    admin.close()
