"""Current sessions (§3.11): the drawer of a live conversation shows the customer's profile in
admin mode (§12.2) and edits it, in Chinese and in English. Screenshots: /tmp/shots/monitor/."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Server, Tenant
from tests.e2e.helpers import ApiClient, login, nav
from tests.e2e.test_chat import _open_sessions, _setup, _widget_log

pytestmark = pytest.mark.e2e
SHOTS = Path("/tmp/shots/monitor")  # noqa: S108


def test_monitor_shows_and_edits_the_live_customers_profile(  # type: ignore[no-untyped-def]
    server: Server, tenant: Tenant, new_page
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    admin, widget, email = _setup(server, tenant)
    agent = new_page()
    _open_sessions(agent, email)
    visitor = new_page()
    visitor.goto(f"/demo?widget={widget['key']}")
    visitor.evaluate("() => window.KefuWidget.setVisitor({name: '王小明'})")
    visitor.locator("button.launcher").click()
    composer = visitor.get_by_role("textbox", name="输入消息")
    composer.fill("你好，我的订单还没发货")
    composer.press("Enter")
    expect(_widget_log(visitor)).to_contain_text("你好，我的订单还没发货")
    expect(agent.get_by_test_id("conversation-item").first).to_be_visible()

    monitor = new_page()
    login(monitor, tenant.email, tenant.password)
    nav(monitor, "当前会话")
    monitor.locator(".kf-sessions .el-table__row").first.click()
    drawer = monitor.locator(".kf-conv-drawer")
    expect(drawer.get_by_role("log", name="会话消息")).to_contain_text("订单还没发货")
    drawer.get_by_role("tab", name="客户资料").click()
    profile = drawer.get_by_test_id("monitor-profile")
    expect(profile.get_by_test_id("customer-profile")).to_contain_text("王小明")
    monitor.screenshot(path=str(SHOTS / "drawer-profile-zh.png"))
    # Edit a field in place; the customer center shows the same record.
    profile.get_by_role("button", name="编辑").click()
    profile.get_by_label("手机", exact=True).fill("13800001111")
    profile.get_by_role("button", name="保存").click()
    expect(profile.get_by_test_id("customer-profile")).to_contain_text("13800001111")
    convs = admin.http.get("/current-sessions").json()
    visitor_id = convs[0]["visitor"]["id"]
    fields = admin.http.get(f"/customers/{visitor_id}", params={"mode": "admin"}).json()["fields"]
    assert next(f for f in fields if f["key"] == "phone")["value"] == "13800001111"
    # Back to the messages: the whisper box is there again.
    drawer.get_by_role("tab", name="会话消息").click()
    expect(drawer.get_by_role("log", name="会话消息")).to_be_visible()
    expect(drawer.get_by_role("textbox", name="耳语内容")).to_be_visible()

    # English.
    en = ApiClient(server.base_url, tenant.email, tenant.password)
    en.http.patch("/me", json={"language": "en"}).raise_for_status()
    english = new_page()
    login(english, tenant.email, tenant.password)
    nav(english, "Current sessions")
    english.locator(".kf-sessions .el-table__row").first.click()
    drawer = english.locator(".kf-conv-drawer")
    drawer.get_by_role("tab", name="Customer profile").click()
    expect(drawer.get_by_test_id("customer-profile")).to_contain_text("13800001111")
    english.screenshot(path=str(SHOTS / "drawer-profile-en.png"))
    en.http.patch("/me", json={"language": "zh-CN"}).raise_for_status()
    admin.close()
    en.close()
