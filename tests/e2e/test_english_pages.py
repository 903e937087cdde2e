"""English is complete on the customer, leave-message and export screens: signed in with
English, none of their text (headings, filters, table headers, empty states, drawers) is
Chinese; only the data shown may be. Screenshots go to /tmp/shots/english/."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, Tenant
from tests.e2e.helpers import ApiClient, login

pytestmark = pytest.mark.e2e
SHOTS = Path("/tmp/shots/english")  # noqa: S108
HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _chinese_lines(page: Page, data: list[str]) -> list[str]:
    """Lines of the page's visible text with Chinese in them, once the data is taken out."""
    expect(page.locator(".el-loading-mask:visible")).to_have_count(0)
    text = page.locator("body").inner_text()
    for value in data:
        text = text.replace(value, "")
    return sorted({line.strip() for line in text.splitlines() if HAN.search(line)})


def _visitor_writes(server: Server, widget_key: str, name: str, text: str) -> None:
    token = secrets.token_urlsafe(24)
    with httpx.Client(
        base_url=server.base_url + "/api/v1", headers={"Authorization": f"Visitor {token}"}
    ) as v:
        v.post(
            "/visitor/session",
            json={"widget_key": widget_key, "token": token, "profile": {"name": name}},
        ).raise_for_status()
        v.post(
            "/visitor/messages",
            json={"client_msg_id": secrets.token_hex(8), "kind": "text", "body": {"text": text}},
        ).raise_for_status()
        v.post(
            "/visitor/leave-message",
            json={"origin": "waiting", "content": "Please call me back", "name": name},
        ).raise_for_status()


def test_customer_leave_message_and_export_pages_in_english(  # type: ignore[no-untyped-def]
    server: Server, tenant: Tenant, new_page
) -> None:
    admin = ApiClient(server.base_url, tenant.email, tenant.password)
    widget = admin.http.post("/widgets", json={"name": "Website"}).json()
    _visitor_writes(server, widget["key"], "Alice Green", "Hello, what does it cost?")
    admin.http.patch("/me", json={"language": "en"}).raise_for_status()
    me = admin.http.get("/me").json()
    data = [tenant.name, me["nickname"], me.get("real_name") or ""]
    data = [d for d in data if d]

    SHOTS.mkdir(parents=True, exist_ok=True)
    page = new_page("en")
    login(page, tenant.email, tenant.password, lang="en")
    found: dict[str, list[str]] = {}
    for path, ready in (
        ("/admin/customers", "Alice Green"),
        ("/admin/settings/customer-settings", "Nickname"),
        ("/admin/leave-messages", "Please call me back"),
        ("/agent/leave-messages", "No leave messages"),
        ("/admin/exports", "No export files yet"),
    ):
        page.goto(path)
        expect(page.get_by_text(ready).first).to_be_visible()
        lines = _chinese_lines(page, data)
        page.screenshot(path=str(SHOTS / (path.strip("/").replace("/", "-") + ".png")))
        if lines:
            found[path] = lines
    # The customer's profile drawer, and the blacklist tab.
    page.goto("/admin/customers")
    page.get_by_role("button", name="Details of customer Alice Green").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    lines = _chinese_lines(page, data)
    page.screenshot(path=str(SHOTS / "admin-customers-detail.png"))
    if lines:
        found["customer detail"] = lines
    page.keyboard.press("Escape")
    page.get_by_role("tab", name="Blacklist").click()
    expect(page.get_by_role("tab", name="Blacklist")).to_have_attribute("aria-selected", "true")
    lines = _chinese_lines(page, data)
    page.screenshot(path=str(SHOTS / "admin-customers-blacklist.png"))
    if lines:
        found["blacklist tab"] = lines
    assert not found, found
