"""Knowledge base in the browser (§8.2, §4.2): the admin writes an item with an image, the agent
sends it from the workbench's side tab, the widget shows the card and the visitor reads it."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, Tenant
from tests.e2e.helpers import ApiClient, login

pytestmark = pytest.mark.e2e
SHOTS = Path("/tmp/shots/E")  # noqa: S108
AGENT_PASSWORD = "Agent1234x"


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def test_admin_writes_agent_sends_visitor_reads(  # type: ignore[no-untyped-def]
    server: Server, tenant: Tenant, new_page, tmp_path: Path
) -> None:
    admin_api = ApiClient(server.base_url, tenant.email, tenant.password)
    http = admin_api.http
    faq = http.post("/knowledge/categories", json={"name": "售后服务"}).json()
    http.post("/knowledge/categories", json={"name": "退换货", "parent_id": faq["id"]}).json()
    for title, text in (
        ("发票怎么开", "<p>在订单详情页申请电子发票。</p>"),
        ("配送时间", "<p>工作日 48 小时内发货。</p>"),
    ):
        r = http.post(
            "/knowledge/items",
            json={"category_id": faq["id"], "title": title, "content_html": text},
        )
        assert r.status_code == 201, r.text
    widget = http.post("/widgets", json={"name": "官网"}).json()
    email = f"agent-{uuid.uuid4().hex[:8]}@example.com"
    admin_api.create_agent(email, "小知")

    # The admin writes an item with formatting and an image.
    admin = new_page()
    login(admin, tenant.email, tenant.password)
    admin.goto("/admin/knowledge")
    admin.get_by_test_id("kb-category-退换货").click()
    admin.get_by_role("button", name="新建知识").click()
    drawer = admin.get_by_role("dialog", name="新建知识")
    drawer.get_by_role("textbox", name="标题", exact=True).fill("退货流程")
    editor = drawer.get_by_role("textbox", name="知识内容编辑器")
    editor.click()
    editor.press_sequentially("收到商品 7 天内可申请退货。")
    drawer.get_by_role("button", name="加粗").click()
    editor.press_sequentially(" 请保留包装")
    pic = tmp_path / "steps.png"
    picture = Image.new("RGB", (360, 140), (226, 238, 252))
    ImageDraw.Draw(picture).rectangle((20, 30, 340, 110), outline=(31, 111, 235), width=6)
    picture.save(pic)
    drawer.get_by_test_id("kb-image-input").set_input_files(str(pic))
    expect(editor.locator("img")).to_have_count(1)
    drawer.get_by_test_id("kb-attach-input").set_input_files(
        files=[{"name": "退货单.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 form"}]
    )
    expect(drawer.get_by_text("退货单.pdf")).to_be_visible()
    _shot(admin, "admin-editor")
    drawer.get_by_role("button", name="保存").click()
    expect(drawer).to_be_hidden()
    row = admin.get_by_test_id("kb-item-row").filter(has_text="退货流程")
    expect(row).to_be_visible()
    admin.get_by_test_id("kb-category-售后服务").click()
    expect(admin.get_by_test_id("kb-item-row")).to_have_count(3)
    _shot(admin, "admin-page")
    admin.get_by_role("button", name="发送方式").click()
    expect(admin.get_by_role("dialog", name="按渠道设置发送方式")).to_be_visible()
    _shot(admin, "admin-send-modes")
    admin.keyboard.press("Escape")
    item = next(i for i in http.get("/knowledge/items", params={"q": "退货流程"}).json()["items"])
    assert item["category_path"] == ["售后服务", "退换货"]
    full = http.get(f"/knowledge/items/{item['id']}").json()
    assert "<strong>" in full["content_html"] and "<img" in full["content_html"]

    # The admin steps away, so the visitor's conversation goes to the agent.
    r = http.put("/me/status", json={"status": "busy"})
    assert r.status_code == 200, r.text
    admin.close()

    # The agent: Knowledge page (read only), then the workbench.
    agent = new_page()
    login(agent, email, AGENT_PASSWORD)
    agent.goto("/agent/knowledge")
    agent.get_by_role("button", name="查看知识 退货流程").click()
    expect(agent.get_by_test_id("kb-content").locator("img")).to_be_visible()
    _shot(agent, "agent-page")
    agent.goto("/agent/sessions")
    expect(agent.get_by_text("已连接")).to_be_visible()

    visitor = new_page()
    visitor.goto(f"/demo?widget={widget['key']}")
    visitor.locator("button.launcher").click()
    composer = visitor.get_by_role("textbox", name="输入消息")
    composer.fill("请问怎么退货？")
    composer.press("Enter")
    agent.get_by_test_id("conversation-item").first.click()
    agent.get_by_role("tab", name="知识库").click()
    side = agent.get_by_test_id("kb-side")
    side.get_by_role("textbox", name="搜索知识").fill("退货")
    side.get_by_role("button", name="查看知识 退货流程").click()
    expect(side.get_by_test_id("kb-content").locator("img")).to_be_visible()
    _shot(agent, "workbench-side-tab")
    side.get_by_role("button", name="发送知识 退货流程").click()
    agent_log = agent.get_by_role("log", name="消息记录")
    expect(agent_log.get_by_test_id("kb-card")).to_contain_text("退货流程")
    expect(agent_log.locator("[data-testid=message][data-kind=file]")).to_have_count(1)
    _shot(agent, "workbench-card")

    # The widget shows the card, then the file; "Read more" opens the whole content.
    log = visitor.get_by_role("log", name="对话消息")
    card = log.locator(".kb-card")
    expect(card).to_contain_text("退货流程")
    expect(card).to_contain_text("收到商品 7 天内可申请退货")
    expect(log.get_by_text("退货单.pdf")).to_be_visible()
    _shot(visitor, "widget-card")
    with visitor.context.expect_page() as popup:
        card.get_by_role("link", name="打开知识：退货流程").click()
    article = popup.value
    article.wait_for_load_state()
    expect(article.get_by_role("heading", name="退货流程")).to_be_visible()
    expect(article.locator("strong")).to_have_text("请保留包装")
    img = article.locator(".kb-content img")
    expect(img).to_be_visible()
    assert article.evaluate("() => document.querySelector('.kb-content img').naturalWidth") > 0
    _shot(article, "visitor-article")
