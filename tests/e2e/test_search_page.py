"""Search in the browser (SPEC §13.1): the admin searches a keyword, sees highlighted snippets,
narrows by visitor name, opens the detail and exports. Screenshots go to /tmp/shots/search/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, Tenant
from tests.e2e.helpers import ApiClient, login
from tests.e2e.test_history_page import ApiVisitor

pytestmark = pytest.mark.e2e
SHOTS = Path("/tmp/shots/search")  # noqa: S108


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(5, 5)
    expect(page.locator(".el-loading-mask:visible")).to_have_count(0)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def test_admin_searches_messages(server: Server, tenant: Tenant, page: Page) -> None:
    admin = ApiClient(server.base_url, tenant.email, tenant.password)
    widget = admin.http.post("/widgets", json={"name": "官网"}).json()
    convs = []
    for name, lines in (
        ("张三", ["你好，我想申请退款", "订单号 A1234，退款原因：尺码不合适"]),
        ("李四", ["Can I get a refund? 退款多久到账"]),
        ("王五", ["发票怎么开"]),
    ):
        visitor = ApiVisitor(server.base_url, widget["key"], name)
        conv = 0
        for line in lines:
            conv = visitor.say(line)["conversation_id"]
        assert admin.http.post(f"/waiting/{conv}/end").status_code == 200
        convs.append(conv)

    login(page, tenant.email, tenant.password)
    page.goto("/admin/search")
    box = page.get_by_role("textbox", name="搜索关键词")
    expect(box).to_be_focused()
    shot(page, "search-empty")
    box.fill("退款")
    box.press("Enter")
    results = page.get_by_role("region", name="搜索结果")
    expect(results.get_by_text("找到 2 个会话，共 3 条消息匹配")).to_be_visible()
    first = results.get_by_role("button", name=f"打开会话 {convs[1]} 的详情")
    expect(first).to_contain_text("李四")
    expect(first.locator("mark")).to_have_text(["退款"])
    second = results.get_by_role("button", name=f"打开会话 {convs[0]} 的详情")
    expect(second.locator("mark")).to_have_text(["退款", "退款"])
    expect(second).to_contain_text("2 条匹配")
    expect(results).not_to_contain_text("王五")
    shot(page, "search-results")

    page.get_by_role("textbox", name="访客名称").fill("张")
    page.get_by_role("textbox", name="访客名称").press("Enter")
    expect(results.get_by_text("找到 1 个会话，共 2 条消息匹配")).to_be_visible()

    second.click()
    drawer = page.get_by_test_id("history-detail")
    # The drawer opens with the keyword: the transcript and the in-drawer hit list both show it.
    transcript = drawer.get_by_role("region", name="聊天记录")
    expect(transcript.get_by_text("你好，我想申请退款")).to_be_visible()
    expect(drawer.locator(".hd-hit-text", has_text="你好，我想申请退款")).to_be_visible()
    shot(page, "search-detail")
    page.keyboard.press("Escape")

    page.get_by_role("button", name="导出", exact=True).click()
    expect(page.get_by_text(re.compile("导出任务已创建"))).to_be_visible()
    jobs = admin.http.get("/exports").json()
    items = jobs["items"] if isinstance(jobs, dict) else jobs
    assert any(j["kind"] == "search" for j in items)
