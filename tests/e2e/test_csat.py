"""Satisfaction in the browser (§10.1): the admin edits the settings page, the agent invites
from the composer toolbar, the visitor rates in the widget (stars, tags, comment, re-rate),
and the automatic invitation at the end shows in the widget."""

from __future__ import annotations

import re
import tempfile
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, Tenant
from tests.e2e.helpers import ApiClient, login, nav, toggle

pytestmark = pytest.mark.e2e
SHOTS = Path(tempfile.gettempdir()) / "shots" / "csat"
AGENT_PASSWORD = "Agent1234x"


def _agent(admin: ApiClient) -> str:
    email = f"agent-{uuid.uuid4().hex[:8]}@example.com"
    admin.create_agent(email, "小满")
    return email


def _open_widget(page: Page, key: str) -> None:
    page.goto(f"/demo?widget={key}")
    page.locator("button.launcher").click()
    expect(page.get_by_role("dialog", name="在线客服对话")).to_be_visible()


def _say(page: Page, text: str) -> None:
    box = page.get_by_role("textbox", name="输入消息")
    box.fill(text)
    box.press("Enter")


def test_admin_edits_the_satisfaction_settings(server: Server, tenant: Tenant, new_page) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    admin_api = ApiClient(server.base_url, tenant.email, tenant.password)
    page: Page = new_page()
    login(page, tenant.email, tenant.password)
    nav(page, "系统设置", "满意度评价")
    expect(page).to_have_url(re.compile(r"/admin/settings/csat"))
    text = page.get_by_role("textbox", name="邀请语")
    expect(text).not_to_have_value("")
    text.fill("亲，请为本次服务打个分吧")
    toggle(page.get_by_role("switch", name="网页 会话结束自动发送评价邀请"))
    page.get_by_role("textbox", name="5 星说明").fill("超级满意")
    new_tag = page.get_by_role("textbox", name="5 星的新标签")
    new_tag.fill("响应很快")
    new_tag.press("Enter")
    preview = page.get_by_test_id("csat-preview")
    expect(preview).to_contain_text("亲，请为本次服务打个分吧")
    expect(preview).to_contain_text("超级满意")
    expect(preview).to_contain_text("响应很快")
    # A duplicate tag is refused on the page.
    new_tag.fill("响应很快")
    new_tag.press("Enter")
    expect(page.get_by_role("alert").filter(has_text="该星级已有同名标签")).to_be_visible()
    new_tag.fill("")
    page.screenshot(path=str(SHOTS / "settings-zh.png"), full_page=True)
    page.get_by_role("button", name="保存", exact=True).click()
    expect(page.get_by_text("满意度评价设置已保存")).to_be_visible()
    saved = admin_api.http.get("/csat/settings").json()
    assert saved["invite_text"] == "亲，请为本次服务打个分吧"
    assert saved["auto_invite"]["web"]["enabled"] is True
    five = next(s for s in saved["stars"] if s["score"] == 5)
    assert five["text"] == "超级满意" and "响应很快" in five["tags"]


def test_agent_invites_and_the_visitor_rates_then_auto_invite_at_end(  # type: ignore[no-untyped-def]
    server: Server, tenant: Tenant, new_page
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    admin = ApiClient(server.base_url, tenant.email, tenant.password)
    stars = [
        {"score": 1, "text": "非常不满意", "tags": ["态度差"]},
        {"score": 2, "text": "不满意", "tags": ["没解决"]},
        {"score": 3, "text": "一般", "tags": []},
        {"score": 4, "text": "满意", "tags": ["及时"]},
        {"score": 5, "text": "非常满意", "tags": ["专业", "耐心"]},
    ]
    r = admin.http.put(
        "/csat/settings",
        json={
            "auto_invite": {"web": {"enabled": True}},
            "invite_text": "请您为本次服务评价",
            "stars": stars,
        },
    )
    assert r.status_code == 200, r.text
    widget = admin.http.post("/widgets", json={"name": "满意度"}).json()
    email = _agent(admin)

    agent: Page = new_page()
    login(agent, email, AGENT_PASSWORD)
    if "/agent/sessions" not in agent.url:
        nav(agent, "会话")
    visitor: Page = new_page()
    _open_widget(visitor, widget["key"])
    _say(visitor, "你好，我的订单还没到")
    item = agent.get_by_test_id("conversation-item").first
    expect(item).to_be_visible()
    item.click()
    box = agent.get_by_role("textbox", name="输入消息")
    box.fill("您好，已为您催促物流。")
    box.press("Enter")

    # --- the agent invites from the composer toolbar ---------------------------------------
    invite = agent.get_by_role("button", name="邀请评价")
    expect(invite).to_be_enabled()
    invite.click()
    expect(agent.get_by_text("已向访客发送评价邀请")).to_be_visible()
    expect(invite).to_be_disabled()

    # --- the visitor rates: stars, tags, comment --------------------------------------------
    card = visitor.get_by_role("group", name="满意度评价")
    expect(card).to_be_visible()
    expect(card).to_contain_text("请您为本次服务评价")
    submit = card.get_by_role("button", name="提交评价")
    expect(submit).to_be_disabled()
    visitor.screenshot(path=str(SHOTS / "widget-card-zh.png"))
    # Keyboard: focus the first star, move with the arrow keys.
    card.get_by_role("radio", name="1 星：非常不满意").focus()
    visitor.keyboard.press("ArrowRight")
    expect(card.get_by_role("radio", name="2 星：不满意")).to_have_attribute("aria-checked", "true")
    card.get_by_role("radio", name="5 星：非常满意").click()
    expect(card).to_contain_text("非常满意")
    card.get_by_role("button", name="专业").click()
    expect(card.get_by_role("button", name="专业")).to_have_attribute("aria-pressed", "true")
    card.get_by_role("textbox", name="补充说明（选填）").fill("处理很快，谢谢")
    visitor.screenshot(path=str(SHOTS / "widget-card-filled-zh.png"))
    card.get_by_role("button", name="提交评价").click()
    expect(card).to_contain_text("感谢您的评价！")
    expect(card).to_contain_text("5 星")
    visitor.screenshot(path=str(SHOTS / "widget-card-thanks-zh.png"))

    # The agent is told the visitor rated (never the score).
    agent_log = agent.get_by_role("log", name="消息记录")
    expect(agent_log.get_by_text("访客已提交满意度评价")).to_be_visible()
    agent.screenshot(path=str(SHOTS / "workbench-invited-zh.png"))

    # Re-rate: the last rating counts.
    card.get_by_role("button", name="重新评价").click()
    card.get_by_role("radio", name="4 星：满意").click()
    card.get_by_role("button", name="提交评价").click()
    expect(card).to_contain_text("您的评价：4 星")
    conv_id = admin.http.get("/current-sessions").json()[0]["id"]
    view = admin.http.get(f"/conversations/{conv_id}/csat").json()
    assert view["score"] == 4 and view["rating_count"] == 2

    # The header button opens a card at any time; here it shows the rating already given.
    visitor.get_by_role("button", name="评价本次服务").click()
    expect(visitor.get_by_role("group", name="满意度评价")).to_have_count(2)

    # --- the automatic invitation at the end (a second visitor) -------------------------------
    visitor2: Page = new_page()
    _open_widget(visitor2, widget["key"])
    _say(visitor2, "请问可以开发票吗？")
    item2 = agent.get_by_test_id("conversation-item").filter(has_text="请问可以开发票吗")
    expect(item2).to_be_visible()
    item2.click()
    box.fill("可以的，请提供抬头。")
    box.press("Enter")
    agent.get_by_role("button", name="结束会话").click()
    agent.get_by_role("dialog").get_by_role("button", name="结束会话").click()
    card2 = visitor2.get_by_role("group", name="满意度评价")
    expect(card2).to_be_visible()
    expect(card2).to_contain_text("请您为本次服务评价")
    card2.get_by_role("radio", name="3 星：一般").click()
    card2.get_by_role("button", name="提交评价").click()
    expect(card2).to_contain_text("感谢您的评价！")
    visitor2.screenshot(path=str(SHOTS / "widget-auto-invite-zh.png"))
