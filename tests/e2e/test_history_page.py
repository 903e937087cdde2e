"""History in the browser (SPEC §3.10, §3.8, §3.9): the admin finds an ended conversation on
History, opens its detail and reassigns it to a skill group (a new conversation waits there);
the Blacklist tab of the Customer center lists, exports and removes entries.
Screenshots go to /tmp/shots/F/.
"""

from __future__ import annotations

import re
import secrets
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, Tenant
from tests.e2e.helpers import ApiClient, login

pytestmark = pytest.mark.e2e
SHOTS = Path("/tmp/shots/F")  # noqa: S108


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(5, 5)
    # Loading masks fade out after the data arrives: shoot the settled screen.
    expect(page.locator(".el-loading-mask:visible")).to_have_count(0)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


class ApiVisitor:
    """A visitor through the widget's REST API (no browser needed for the visitor side)."""

    def __init__(self, base_url: str, widget_key: str, name: str) -> None:
        self.token = secrets.token_urlsafe(16)
        self.http = httpx.Client(
            base_url=base_url + "/api/v1",
            headers={"Authorization": f"Visitor {self.token}"},
            timeout=30,
        )
        r = self.http.post(
            "/visitor/session",
            json={"widget_key": widget_key, "token": self.token, "profile": {"name": name}},
        )
        assert r.status_code in (200, 201), r.text
        self.id = int(r.json()["visitor"]["id"])

    def say(self, text: str) -> dict:
        r = self.http.post(
            "/visitor/messages",
            json={"client_msg_id": uuid.uuid4().hex, "kind": "text", "body": {"text": text}},
        )
        assert r.status_code in (200, 201), r.text
        return r.json()


def test_admin_reassigns_an_ended_conversation_from_history(  # type: ignore[no-untyped-def]
    server: Server, tenant: Tenant, page: Page
) -> None:
    admin = ApiClient(server.base_url, tenant.email, tenant.password)
    widget = admin.http.post("/widgets", json={"name": "官网"}).json()
    agent = admin.create_agent(f"agent-{uuid.uuid4().hex[:8]}@example.com", "小李")
    group = admin.http.post("/skill-groups", json={"name": "售后组"}).json()
    r = admin.http.put(f"/skill-groups/{group['id']}/members", json={"user_ids": [agent["id"]]})
    assert r.status_code == 200, r.text
    # Nobody is online: the visitor waits; the admin closes it from the queue (it ends).
    visitor = ApiVisitor(server.base_url, widget["key"], "张三")
    conv = visitor.say("我想退货，订单 1234")["conversation_id"]
    assert admin.http.post(f"/waiting/{conv}/end").status_code == 200

    login(page, tenant.email, tenant.password)
    page.goto("/admin/history")
    table = page.get_by_role("table")
    expect(table.get_by_text("张三")).to_be_visible()
    shot(page, "history-admin")
    page.get_by_role("button", name=f"查看会话 {conv}").click()
    drawer = page.get_by_test_id("history-detail")
    expect(drawer.get_by_text("我想退货，订单 1234")).to_be_visible()
    expect(drawer.get_by_test_id("history-visitor-id")).to_have_text(str(visitor.id))
    shot(page, "history-detail")

    drawer.get_by_role("button", name="分配", exact=True).click()
    dialog = page.get_by_role("dialog", name=re.compile("分配历史会话"))
    expect(dialog).to_be_visible()
    dialog.get_by_text("分配给技能组", exact=True).click()
    combobox = dialog.get_by_role("combobox", name="选择技能组")
    combobox.locator("xpath=ancestor::div[contains(@class, 'el-select__wrapper')]").click()
    listbox = page.locator(f"#{combobox.get_attribute('aria-controls')}")
    listbox.get_by_role("option", name=re.compile("售后组")).click()
    shot(page, "history-reassign-dialog")
    dialog.get_by_role("button", name="确定分配").click()
    expect(page.get_by_text(re.compile(r"已分配，新会话 \d+"))).to_be_visible()
    expect(drawer.get_by_text(re.compile(r"该访客当前有进行中的会话"))).to_be_visible()

    # The new conversation waits in the group's queue (its only member is offline).
    waiting = admin.http.get("/conversations", params={"state": "waiting"}).json()
    assert [c["visitor"]["id"] for c in waiting] == [visitor.id]
    assert waiting[0]["id"] != conv


def test_blacklist_tab_lists_and_removes(  # type: ignore[no-untyped-def]
    server: Server, tenant: Tenant, page: Page
) -> None:
    admin = ApiClient(server.base_url, tenant.email, tenant.password)
    widget = admin.http.post("/widgets", json={"name": "官网"}).json()
    visitor = ApiVisitor(server.base_url, widget["key"], "广告号")
    visitor.say("加我微信领红包")
    r = admin.http.post("/blacklist", json={"visitor_id": visitor.id, "reason": "发送广告"})
    assert r.status_code == 200 and r.json()["outcome"] == "applied", r.text
    assert visitor.say("在吗")["conversation_id"] == 0

    login(page, tenant.email, tenant.password)
    page.goto("/admin/customers")
    page.get_by_role("tab", name="黑名单").click()  # the Customer center's second tab
    row = page.get_by_role("row").filter(has_text="发送广告")
    expect(row).to_be_visible()
    expect(row).to_contain_text("广告号")
    shot(page, "blacklist-admin")
    row.get_by_role("button", name="将 广告号 移出黑名单").click()
    page.get_by_role("dialog").get_by_role("button", name="移除").click()
    expect(page.get_by_text("已移出黑名单")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="发送广告")).to_have_count(0)
    # Removal restores normal behaviour.
    assert visitor.say("你好")["conversation_id"] > 0
