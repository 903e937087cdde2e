"""Live chat in two browsers: a page embedding the widget (visitor) and the workbench (agent).

Text and images both ways, the typing preview, recall and end; then an XSS corpus sent through
every user-controlled field must execute nothing in the widget, the workbench or the monitor.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, Tenant
from tests.e2e.helpers import ApiClient, login, nav
from tests.route_walk import png_bytes

pytestmark = pytest.mark.e2e
AGENT_PASSWORD = "Agent1234x"


def _setup(server: Server, tenant: Tenant, **widget: Any) -> tuple[ApiClient, dict[str, Any], str]:
    admin = ApiClient(server.base_url, tenant.email, tenant.password)
    res = admin.http.post("/widgets", json={"name": "官网", **widget})
    assert res.status_code == 201, res.text
    email = f"agent-{uuid.uuid4().hex[:8]}@example.com"
    admin.create_agent(email, "小王")
    return admin, res.json(), email


def _open_widget(page: Page, key: str) -> None:
    page.goto(f"/demo?widget={key}")
    page.locator("button.launcher").click()
    expect(page.get_by_role("dialog", name="在线客服对话")).to_be_visible()


def _widget_log(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_role("log", name="对话消息")


def _open_sessions(page: Page, email: str) -> None:
    login(page, email, AGENT_PASSWORD)
    if "/agent/sessions" not in page.url:
        nav(page, "会话")
    expect(
        page.get_by_role("button", name="结束会话").or_(page.get_by_text("已连接"))
    ).to_be_visible()


def test_visitor_and_agent_chat_in_two_browsers(server: Server, tenant: Tenant, new_page) -> None:  # type: ignore[no-untyped-def]
    _, widget, email = _setup(server, tenant, welcome_text="欢迎光临云帆科技！")
    agent = new_page()
    _open_sessions(agent, email)
    visitor = new_page()
    _open_widget(visitor, widget["key"])
    expect(visitor.get_by_text("欢迎光临云帆科技！")).to_be_visible()

    # Visitor -> agent: the conversation is assigned to the idle agent.
    composer = visitor.get_by_role("textbox", name="输入消息")
    composer.fill("你好，我想问一下订单 A1024")
    composer.press("Enter")
    item = agent.get_by_test_id("conversation-item").first
    expect(item).to_be_visible()
    item.click()
    agent_log = agent.get_by_role("log", name="消息记录")
    expect(agent_log.get_by_text("你好，我想问一下订单 A1024")).to_be_visible()

    # Typing preview: the agent sees what the visitor is typing before it is sent.
    composer.press_sequentially("什么时候发货", delay=30)
    expect(agent.get_by_test_id("typing-preview")).to_contain_text("什么时候发货")
    composer.fill("")

    # Agent -> visitor.
    box = agent.get_by_role("textbox", name="输入消息")
    box.fill("您好，订单今天发货。")
    box.press("Enter")
    expect(_widget_log(visitor).get_by_text("您好，订单今天发货。")).to_be_visible()

    # Images both ways.
    with visitor.expect_file_chooser() as chooser:
        visitor.get_by_role("button", name="发送图片").click()
    chooser.value.set_files({"name": "photo.png", "mimeType": "image/png", "buffer": png_bytes()})
    expect(agent_log.locator("[data-testid=message][data-kind=image]")).to_have_count(1)
    agent.locator('input[type=file][accept^="image"]').set_input_files(
        {"name": "reply.png", "mimeType": "image/png", "buffer": png_bytes((20, 120, 220))}
    )
    expect(
        agent_log.locator("[data-testid=message][data-kind=image][data-status=sent]")
    ).to_have_count(2, timeout=15_000)
    expect(_widget_log(visitor).locator(".k-image img")).to_have_count(2)

    # The page sends structured messages for the visitor through the widget's JS API.
    visitor.evaluate(
        """() => {
        KefuWidget.sendCard({title: '订单 A1024', description: '智能手表 ×1',
                             fields: [{label: '金额', value: '¥1,299'}],
                             url: 'https://shop.example.com/orders/A1024'})
        KefuWidget.sendLocation({latitude: 31.2304, longitude: 121.4737, address: '人民广场'})
        KefuWidget.sendLink({url: 'https://shop.example.com/p/1', title: '智能手表'})
    }"""
    )
    for kind in ("card", "location", "link"):
        expect(agent_log.locator(f"[data-testid=message][data-kind={kind}]")).to_have_count(1)
    expect(agent_log).to_contain_text("订单 A1024")
    expect(agent_log).to_contain_text("人民广场")

    # Recall: gone for the visitor, kept (marked) for the agent.
    box.fill("这条消息发错了")
    box.press("Enter")
    expect(_widget_log(visitor).get_by_text("这条消息发错了")).to_be_visible()
    bubble = agent_log.locator("[data-testid=message]", has_text="这条消息发错了")
    expect(bubble).to_have_attribute("data-status", "sent")
    bubble.hover()
    bubble.get_by_role("button", name="撤回消息").click()
    expect(_widget_log(visitor).get_by_text("这条消息发错了")).to_have_count(0)
    expect(bubble.get_by_text("已撤回")).to_be_visible()

    # End: the visitor is told, the conversation leaves the agent's list.
    agent.get_by_role("button", name="结束会话").click()
    agent.get_by_role("dialog").get_by_role("button", name="结束会话").click()
    expect(visitor.get_by_text("本次对话已结束", exact=False)).to_be_visible()
    expect(agent.get_by_test_id("conversation-item")).to_have_count(0)


XSS = [
    '<img src=x onerror="window.__xss=1;alert(1)">',
    "<script>window.__xss=1;alert(1)</script>",
    '<svg onload="window.__xss=1">',
    '"><iframe src="javascript:window.__xss=1"></iframe>',
    "{{constructor.constructor('window.__xss=1')()}}",
    "[x](javascript:window.__xss=1) javascript:window.__xss=1",
]


def _no_script_ran(page: Page, dialogs: list[str]) -> None:
    page.wait_for_timeout(500)
    assert page.evaluate("window.__xss") is None
    assert dialogs == []


def test_xss_corpus_executes_nothing(server: Server, tenant: Tenant, new_page) -> None:  # type: ignore[no-untyped-def]
    payload = XSS[0]
    admin, widget, email = _setup(server, tenant, title=payload[:50], welcome_text="\n".join(XSS))
    pages: list[Page] = []
    dialogs: list[str] = []
    agent = new_page()
    agent.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    _open_sessions(agent, email)
    visitor = new_page()
    visitor.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    visitor.goto(f"/demo?widget={widget['key']}")
    # The visitor's name and custom fields come from the page (here set through the JS API).
    visitor.evaluate("n => window.KefuWidget.setVisitor({name: n})", payload[:50])
    visitor.locator("button.launcher").click()
    composer = visitor.get_by_role("textbox", name="输入消息")
    for text in XSS:
        composer.fill(text)
        composer.press("Enter")
    with visitor.expect_file_chooser() as chooser:
        visitor.get_by_role("button", name="发送文件").click()
    chooser.value.set_files(
        {
            "name": payload[:60] + ".html",
            "mimeType": "text/html",
            "buffer": b"<script>window.__xss=1</script>",
        }
    )
    item = agent.get_by_test_id("conversation-item").first
    expect(item).to_be_visible()
    item.click()
    # The agent sends cards and links whose fields carry the payloads.
    token = ApiClient(server.base_url, email, AGENT_PASSWORD)
    conv_id = int(item.get_attribute("data-conversation-id") or 0)
    bodies = [
        (
            "card",
            {
                "title": payload[:100],
                "description": "\n".join(XSS),
                "fields": [{"label": p[:100], "value": p[:200]} for p in XSS[:5]],
                "url": "https://example.com/?q=" + quote(payload),
            },
        ),
        ("link", {"url": "https://example.com/a?b=<script>", "title": payload}),
        ("text", {"text": "\n".join(XSS)}),
    ]
    for kind, body in bodies:
        r = token.http.post(
            f"/conversations/{conv_id}/messages",
            json={"client_msg_id": uuid.uuid4().hex, "kind": kind, "body": body},
        )
        assert r.status_code == 201, r.text
    bad = token.http.post(
        f"/conversations/{conv_id}/messages",
        json={
            "client_msg_id": uuid.uuid4().hex,
            "kind": "link",
            "body": {"url": "javascript:alert(1)"},
        },
    )
    assert bad.status_code == 422
    agent_log = agent.get_by_role("log", name="消息记录")
    expect(agent_log.locator("[data-testid=message][data-kind=card]")).to_have_count(1)
    expect(agent_log.locator("[data-testid=message][data-kind=file]")).to_have_count(1)
    expect(_widget_log(visitor).locator(".k-card")).to_have_count(1)
    # The payloads are shown as text, exactly as typed.
    expect(_widget_log(visitor)).to_contain_text(XSS[1])
    expect(agent_log).to_contain_text(XSS[1])
    pages += [agent, visitor]
    # The admin's Current sessions drawer renders the same content.
    monitor = new_page()
    monitor.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login(monitor, tenant.email, tenant.password)
    nav(monitor, "当前会话")
    monitor.locator(".kf-sessions .el-table__row").first.click()
    expect(monitor.get_by_role("log", name="会话消息")).to_contain_text(XSS[1])
    pages.append(monitor)
    for p in pages:
        _no_script_ran(p, dialogs)
    # The uploaded HTML is only ever a download, never rendered.
    msgs = token.http.get(f"/conversations/{conv_id}/messages", params={"limit": 100}).json()
    url = next(m for m in msgs if m["kind"] == "file")["body"]["attachment"]["url"]
    got = httpx.get(server.base_url + url)
    assert got.headers["content-disposition"].startswith("attachment")
    assert got.headers["x-content-type-options"] == "nosniff"
    admin.close()


def test_pages_carry_a_content_security_policy(server: Server) -> None:
    for path in ("/", "/login", "/demo?widget=x", "/h5?widget=x"):
        r = httpx.get(server.base_url + path)
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        assert (
            "script-src 'self'" in csp
            and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        )
    js = httpx.get(server.base_url + "/widget.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
