"""Colleague chat in the agent workbench (SPEC §4.9), two agents in two browsers.

A writes to B: B sees the red dot on the Colleagues tab live, opens the chat and replies, and A
sees the reply live. A send that fails is resent with the same client message id (stored once).
Then B signs out; A writes to the offline colleague and B finds the dot and the message on
signing in again.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect

from tests.e2e.conftest import Server, Tenant
from tests.e2e.helpers import ApiClient, login, logout, nav

pytestmark = pytest.mark.e2e
PASSWORD = "Agent1234x"


def _shot(page: Page, name: str) -> None:
    """Screenshots for a person to look at, only when KEFU_COLLEAGUE_SHOTS names a directory."""
    out = os.environ.get("KEFU_COLLEAGUE_SHOTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(out) / f"{name}.png"))


def _open_sessions(page: Page, email: str) -> None:
    login(page, email, PASSWORD)
    if "/agent/sessions" not in page.url:
        nav(page, "会话")
    expect(page.get_by_text("已连接")).to_be_visible()


def _colleagues_tab(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_role("tab", name=re.compile(r"^同事"))


def _dot(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_test_id("colleague-unread-dot")


def _open_chat(page: Page, nickname: str):  # type: ignore[no-untyped-def]
    """Colleagues tab, then the colleague: returns their chat's message log."""
    _colleagues_tab(page).click()
    page.get_by_role("button", name=re.compile(rf"^{nickname}，")).click()
    chat = page.get_by_role("region", name=f"与同事 {nickname} 的聊天")
    expect(chat.get_by_role("heading", name=nickname)).to_be_visible()
    return chat.get_by_role("log", name=f"与 {nickname} 的消息记录")


def _bubble(log, text: str):  # type: ignore[no-untyped-def]
    return log.locator("[data-testid=message]", has_text=text)


def test_colleague_chat_live_and_offline(server: Server, tenant: Tenant, new_page) -> None:  # type: ignore[no-untyped-def]
    admin = ApiClient(server.base_url, tenant.email, tenant.password)
    suffix = uuid.uuid4().hex[:8]
    email_a, email_b = f"li-{suffix}@example.com", f"zhang-{suffix}@example.com"
    admin.create_agent(email_a, "小李")
    admin.create_agent(email_b, "小张")

    a = new_page()
    _open_sessions(a, email_a)
    b = new_page()
    _open_sessions(b, email_b)
    expect(_dot(b)).to_have_count(0)

    # A opens B's chat (B is online) and sends two lines.
    log_a = _open_chat(a, "小张")
    expect(a.get_by_test_id("colleague-chat-status")).to_have_text("空闲")
    expect(a.get_by_test_id("colleague-offline-hint")).to_have_count(0)
    box_a = a.get_by_role("textbox", name="给 小张 发消息")
    box_a.fill("你好小张，\n帮我看下 A1024 订单")
    box_a.press("Enter")
    expect(_bubble(log_a, "A1024")).to_have_attribute("data-status", "sent")
    expect(box_a).to_have_value("")
    _shot(a, "1-a-sent")

    # B: the red dot on the Colleagues tab, live; A's row has a badge.
    expect(_dot(b)).to_be_visible()
    expect(_colleagues_tab(b)).to_have_accessible_name(re.compile("同事消息 1 条未读"))
    _colleagues_tab(b).click()
    row = b.get_by_role("button", name=re.compile(r"^小李，"))
    expect(row).to_have_accessible_name(re.compile("1 条未读"))
    expect(row.get_by_test_id("colleague-unread")).to_have_text("1")
    _shot(b, "2-b-dot")

    # B opens it: the message with its line break, inert text, and the dot is gone.
    row.click()
    log_b = b.get_by_role("log", name="与 小李 的消息记录")
    text = _bubble(log_b, "A1024").locator(".mb-text")
    expect(text).to_have_text("你好小张，\n帮我看下 A1024 订单")
    assert text.evaluate("el => el.innerText") == "你好小张，\n帮我看下 A1024 订单"
    expect(_dot(b)).to_have_count(0)
    expect(row.get_by_test_id("colleague-unread")).to_have_count(0)

    # B replies; A sees it live, and no dot for A since the chat is open.
    box_b = b.get_by_role("textbox", name="给 小李 发消息")
    box_b.fill("好的，马上看")
    box_b.press("Enter")
    expect(_bubble(log_b, "好的，马上看")).to_have_attribute("data-status", "sent")
    expect(_bubble(log_a, "好的，马上看")).to_be_visible()
    expect(_dot(a)).to_have_count(0)
    _shot(a, "3-a-reply")
    _shot(b, "3-b-chat")

    # A send that fails is marked, then resent with the same client message id: stored once.
    aborted: list[str] = []

    def fail_once(route: Route) -> None:
        if route.request.method == "POST" and not aborted:
            aborted.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    a.route("**/api/v1/colleagues/*/messages", fail_once)
    box_a.fill("这条先失败")
    box_a.press("Enter")
    failed = _bubble(log_a, "这条先失败")
    expect(failed).to_have_attribute("data-status", "failed")
    a.unroute("**/api/v1/colleagues/*/messages", fail_once)
    cmid = failed.get_attribute("data-client-msg-id")
    _shot(a, "4-a-failed")
    failed.get_by_role("button", name="重新发送").click()
    expect(_bubble(log_a, "这条先失败")).to_have_attribute("data-status", "sent")
    expect(_bubble(log_b, "这条先失败")).to_have_count(1)
    b_id = next(u["user_id"] for u in admin.http.get("/presence").json() if u["nickname"] == "小张")
    a_api = ApiClient(server.base_url, email_a, PASSWORD)
    stored = a_api.http.get(f"/colleagues/{b_id}/messages").json()
    assert [m["client_msg_id"] for m in stored if m["text"] == "这条先失败"] == [cmid]

    # B signs out: A sees B offline, with the hint, and leaves a message.
    logout(b)
    expect(a.get_by_test_id("colleague-chat-status")).to_have_text("离线")
    expect(a.get_by_test_id("colleague-offline-hint")).to_have_text("对方离线，上线后可以看到")
    box_a.fill("offline note")
    box_a.press("Enter")
    expect(_bubble(log_a, "offline note")).to_have_attribute("data-status", "sent")
    _shot(a, "5-a-offline")

    # B signs in again: the dot, the badge, and the message kept in the chat.
    _open_sessions(b, email_b)
    expect(_dot(b)).to_be_visible()
    _colleagues_tab(b).click()
    row = b.get_by_role("button", name=re.compile(r"^小李，"))
    expect(row.get_by_test_id("colleague-unread")).to_have_text("1")
    row.click()
    log_b = b.get_by_role("log", name="与 小李 的消息记录")
    expect(_bubble(log_b, "offline note")).to_be_visible()
    expect(_bubble(log_b, "好的，马上看")).to_be_visible()
    expect(_dot(b)).to_have_count(0)
    _shot(b, "6-b-back")

    # Read on the server too: a reload shows no dot.
    with b.expect_response(re.compile(r"/api/v1/colleagues/unread$")) as unread:
        b.reload()
    assert unread.value.json() == []
    expect(b.get_by_text("已连接")).to_be_visible()
    expect(_dot(b)).to_have_count(0)
    a_api.close()
    admin.close()


def test_switching_between_visitor_and_colleague_in_english(  # type: ignore[no-untyped-def]
    server: Server, tenant: Tenant, new_page
) -> None:
    admin = ApiClient(server.base_url, tenant.email, tenant.password)
    res = admin.http.post("/widgets", json={"name": "Site"})
    assert res.status_code == 201, res.text
    suffix = uuid.uuid4().hex[:8]
    email_a = f"li-{suffix}@example.com"
    admin.create_agent(email_a, "Lee")
    lee = ApiClient(server.base_url, email_a, PASSWORD)
    assert lee.http.patch("/me", json={"language": "en"}).status_code == 200
    lee.close()
    # Zhang never signs in: offline the whole time.
    admin.create_agent(f"zhang-{suffix}@example.com", "Zhang")

    agent = new_page("en")
    login(agent, email_a, PASSWORD, lang="en")
    if "/agent/sessions" not in agent.url:
        nav(agent, "Sessions")
    expect(agent.get_by_text("Connected", exact=True)).to_be_visible()

    visitor = new_page()
    visitor.goto(f"/demo?widget={res.json()['key']}")
    visitor.locator("button.launcher").click()
    composer = visitor.get_by_role("textbox", name="输入消息")
    composer.fill("Hello, order A1024?")
    composer.press("Enter")

    # The visitor conversation opens as before.
    item = agent.get_by_test_id("conversation-item").first
    item.click()
    visitor_log = agent.get_by_role("log", name="Messages", exact=True)
    expect(visitor_log.get_by_text("Hello, order A1024?")).to_be_visible()

    # An offline colleague's chat replaces it in the centre pane.
    tab = agent.get_by_role("tab", name=re.compile(r"^Colleagues"))
    tab.click()
    agent.get_by_role("button", name=re.compile(r"^Zhang, Offline")).click()
    chat = agent.get_by_role("region", name="Chat with colleague Zhang")
    expect(chat).to_be_visible()
    expect(visitor_log).to_have_count(0)
    expect(item).not_to_have_attribute("aria-current", "true")
    expect(chat.get_by_role("status")).to_have_text(
        "They're offline; they'll see it when they sign in"
    )
    expect(chat.get_by_text("No messages with Zhang yet")).to_be_visible()
    box = chat.get_by_role("textbox", name="Message to Zhang")
    box.fill("Back in 5 minutes")
    chat.get_by_role("button", name="Send", exact=True).click()
    log = chat.get_by_role("log", name="Messages with Zhang")
    expect(_bubble(log, "Back in 5 minutes")).to_have_attribute("data-status", "sent")
    _shot(agent, "7-en-offline")

    # Back to the visitor: their pane again, the colleague chat closed, sending works.
    agent.get_by_role("tab", name=re.compile(r"^Chats")).click()
    item.click()
    expect(chat).to_have_count(0)
    expect(visitor_log.get_by_text("Hello, order A1024?")).to_be_visible()
    reply = agent.get_by_role("textbox", name="Message", exact=True)
    reply.fill("Shipping today.")
    reply.press("Enter")
    expect(
        visitor.get_by_role("log", name="对话消息").get_by_text("Shipping today.")
    ).to_be_visible()

    # And back to the colleague: the message is kept.
    tab.click()
    agent.get_by_role("button", name=re.compile(r"^Zhang, ")).click()
    expect(_bubble(log, "Back in 5 minutes")).to_be_visible()
    admin.close()
