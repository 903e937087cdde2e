"""Customer center (§12): the admin's customer list, a customer's detail with an edited profile,
a group tab; and the customer-center settings page."""

from __future__ import annotations

import io
import re
import secrets
import tempfile
from pathlib import Path

import pytest
from openpyxl import Workbook
from playwright.sync_api import expect

from tests.e2e.conftest import Server, Tenant
from tests.e2e.helpers import ApiClient, login

pytestmark = pytest.mark.e2e
SHOTS = Path(tempfile.gettempdir()) / "shots" / "customers"


def _import(admin: ApiClient) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["ID"])
    ws.append(
        [
            "crm-1001",
            "小王",
            "王小明",
            "",
            "13800000001",
            "",
            "wang@example.com",
            "星河科技",
            "",
            "重点",
        ]
    )
    ws.append(["crm-1002", "", "李雷", "", "13800000002", "", "", "", "", ""])
    buf = io.BytesIO()
    wb.save(buf)
    files = {"file": ("c.xlsx", buf.getvalue(), "application/octet-stream")}
    out = admin.http.post("/customers/import", files=files).json()
    assert out["imported"] == 2, out


def test_list_detail_edit_and_group_tab(server: Server, tenant: Tenant, new_page) -> None:  # type: ignore[no-untyped-def]
    admin = ApiClient(server.base_url, tenant.email, tenant.password)
    http = admin.http
    tag = http.post("/visitor-tags", json={"name": "重点", "color": "#e6a23c"}).json()
    level = http.post(
        "/customer-fields", json={"name": "客户等级", "type": "select", "options": ["A", "B", "C"]}
    ).json()
    group = http.post(
        "/customer-groups",
        json={"name": "重点客户", "items": [{"kind": "tag", "tag_id": tag["id"]}]},
    ).json()
    http.post(
        "/customer-groups",
        json={"name": "近3天新客户", "items": [{"kind": "created_within_days", "days": 3}]},
    )
    _import(admin)
    # A visitor who wrote through the widget: a customer with a conversation.
    widget = http.post("/widgets", json={"name": "官网"}).json()
    token = secrets.token_urlsafe(24)
    visitor = ApiClient.__new__(ApiClient)
    import httpx

    visitor.http = httpx.Client(
        base_url=server.base_url + "/api/v1", headers={"Authorization": f"Visitor {token}"}
    )
    visitor.http.post(
        "/visitor/session",
        json={"widget_key": widget["key"], "token": token, "profile": {"name": "张三"}},
    ).raise_for_status()
    visitor.http.post(
        "/visitor/messages",
        json={
            "client_msg_id": secrets.token_hex(8),
            "kind": "text",
            "body": {"text": "你好，想咨询价格"},
        },
    ).raise_for_status()

    SHOTS.mkdir(parents=True, exist_ok=True)
    page = new_page("zh-CN")
    login(page, tenant.email, tenant.password)
    page.goto("/admin/customers")
    tabs = page.get_by_role("tablist").first
    expect(tabs.get_by_role("tab", name="客户")).to_be_visible()
    listing = page.get_by_test_id("customer-list")
    expect(listing.get_by_text("王小明")).to_be_visible()
    expect(listing.get_by_text("张三")).to_be_visible()
    page.screenshot(path=str(SHOTS / "list.png"))

    # Detail: edit the profile (nickname and the custom select field).
    listing.get_by_role("button", name="查看客户 王小明 的详情").click()
    detail = page.get_by_test_id("customer-detail")
    profile = detail.get_by_test_id("customer-profile")
    expect(profile.get_by_text("crm-1001")).to_be_visible()
    profile.get_by_role("button", name="编辑").click()
    profile.get_by_label("昵称").fill("王总")
    profile.get_by_label("客户等级").click(force=True)
    page.get_by_role("option", name="A", exact=True).click()
    profile.get_by_role("button", name="保存").click()
    expect(page.get_by_text("客户资料已保存")).to_be_visible()
    expect(profile.get_by_text("王总")).to_be_visible()
    expect(profile.get_by_role("group", name="所属分组").get_by_text("重点客户")).to_be_visible()
    page.screenshot(path=str(SHOTS / "detail.png"))
    got = http.get(f"/customers/{listing_id(http, 'crm-1001')}").json()
    values = {f["key"]: f["value"] for f in got["fields"]}
    assert values["nickname"] == "王总" and values[level["key"]] == "A"
    page.keyboard.press("Escape")

    # Group tab: only the tagged customer.
    tabs_groups = page.get_by_role("tab", name="重点客户")
    tabs_groups.click()
    expect(listing.get_by_text("王小明")).to_be_visible()
    expect(listing.get_by_text("张三")).to_be_hidden()
    expect(listing.get_by_text("李雷")).to_be_hidden()
    page.screenshot(path=str(SHOTS / "group-tab.png"))

    # The chat customer's interaction record, read in the detail.
    page.get_by_role("tab", name="全部").click()
    listing.get_by_role("button", name="查看客户 张三 的详情").click()
    expect(detail.get_by_text("你好，想咨询价格")).to_be_visible()
    expect(detail.get_by_test_id("reader-times")).to_contain_text("至")
    page.screenshot(path=str(SHOTS / "records.png"))
    page.keyboard.press("Escape")

    # Settings page: fields and groups.
    page.goto("/admin/settings/customer-settings")
    expect(page.get_by_test_id("customer-fields").get_by_text("客户等级")).to_be_visible()
    expect(page.get_by_test_id("customer-groups").get_by_text(group["name"])).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("上移字段 客户等级"))).to_be_visible()
    page.screenshot(path=str(SHOTS / "settings.png"), full_page=True)
    visitor.http.close()
    admin.close()


def listing_id(http, external_id: str) -> int:  # type: ignore[no-untyped-def]
    items = http.get("/customers", params={"q": external_id}).json()["items"]
    return int(items[0]["id"])
