"""History in the browser (SPEC §3.10, §13.2): filter the list, choose columns (remembered),
open a conversation, search inside it, and open the print view (printed with media=print).
Screenshots go to /tmp/shots/history/.
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
SHOTS = Path("/tmp/shots/history")  # noqa: S108


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(5, 5)
    expect(page.locator(".el-loading-mask:visible")).to_have_count(0)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def test_history_filter_detail_search_and_print(  # type: ignore[no-untyped-def]
    server: Server, tenant: Tenant, page: Page
) -> None:
    admin = ApiClient(server.base_url, tenant.email, tenant.password)
    widget = admin.http.post("/widgets", json={"name": "官网"}).json()
    # Nobody is online: both wait, and the admin closes them from the queue.
    convs = {}
    for name, lines in (
        ("张三", ["你好，想问一下发货时间"]),
        ("李四", ["我要退款，订单 778", "退款多久到账？", "谢谢"]),
    ):
        visitor = ApiVisitor(server.base_url, widget["key"], name)
        for line in lines:
            conv = visitor.say(line)["conversation_id"]
        convs[name] = conv
        assert admin.http.post(f"/waiting/{conv}/end").status_code == 200

    login(page, tenant.email, tenant.password)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto("/admin/history")
    table = page.locator(".hp-table")
    expect(table.get_by_text("张三")).to_be_visible()
    expect(table.get_by_text("李四")).to_be_visible()
    shot(page, "history-list")

    # Filter: customer name and session type "ended while waiting".
    page.get_by_role("textbox", name="访客名称").fill("李")
    page.get_by_role("button", name="查询").click()
    expect(table.get_by_text("张三")).to_have_count(0)
    expect(table.get_by_text("李四")).to_be_visible()
    # Exact conversation id ignores the other filters (and says so).
    page.get_by_role("textbox", name="会话ID（精确）").fill(str(convs["张三"]))
    expect(page.get_by_role("status").filter(has_text="精确查找")).to_be_visible()
    page.get_by_role("button", name="查询").click()
    expect(table.get_by_text("张三")).to_be_visible()
    expect(table.get_by_text("李四")).to_have_count(0)
    page.get_by_role("button", name="重置").click()
    expect(table.get_by_text("张三")).to_be_visible()

    # Column chooser: hide "消息数"; the choice survives a reload.
    header = page.locator(".hp-table .el-table__header")
    expect(header.get_by_text("消息数")).to_be_visible()
    page.get_by_role("button", name="显示列").click()
    page.locator(".hp-cols").get_by_text("消息数").click()
    expect(header.get_by_text("消息数")).to_have_count(0)
    shot(page, "history-columns")
    page.reload()
    expect(page.locator(".hp-table").get_by_text("李四")).to_be_visible()
    expect(page.locator(".hp-table .el-table__header").get_by_text("消息数")).to_have_count(0)

    # Detail: search inside the conversation.
    page.get_by_role("button", name=f"查看会话 {convs['李四']}").click()
    drawer = page.get_by_test_id("history-detail")
    expect(drawer.get_by_text("退款多久到账？").first).to_be_visible()
    drawer.get_by_role("textbox", name="在会话中搜索").fill("退款")
    drawer.get_by_role("button", name="查询").click()
    expect(drawer.get_by_test_id("history-search-count")).to_contain_text("共 2 处")
    expect(drawer.locator(".hd-hit-current")).to_have_count(1)
    expect(drawer.locator(".hd-hits mark").first).to_have_text("退款")
    shot(page, "history-detail-search")

    # Print view: the loaded dialogue with a header; the print stylesheet shows only the sheet.
    drawer.get_by_role("button", name="打印").click()
    sheet = page.get_by_test_id("history-print")
    expect(sheet).to_be_visible()
    heading = re.compile(f"会话记录 · {convs['李四']}")
    expect(sheet.get_by_role("heading", name=heading)).to_be_visible()
    expect(sheet.get_by_text("我要退款，订单 778")).to_be_visible()
    shot(page, "history-print-dialog")
    page.emulate_media(media="print")
    expect(page.locator(".kf-table-card")).to_be_hidden()
    expect(sheet).to_be_visible()
    expect(page.get_by_role("button", name="打印", exact=True).last).to_be_hidden()
    shot(page, "history-print-media")
    page.emulate_media(media="screen")
