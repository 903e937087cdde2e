"""The welcome menu in the widget (§5.10): items bound to skill groups; a click starts the chat
in that group."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Server, Tenant
from tests.e2e.helpers import ApiClient

pytestmark = pytest.mark.e2e
SHOTS = Path(tempfile.gettempdir()) / "shots"


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_visitor_picks_a_menu_item_and_lands_in_its_group(  # type: ignore[no-untyped-def]
    server: Server, tenant: Tenant, new_page, lang: str
) -> None:
    admin = ApiClient(server.base_url, tenant.email, tenant.password)
    http = admin.http
    # The admin is signed in but offline for dispatch here: conversations wait in their group.
    sales = http.post("/skill-groups", json={"name": f"Sales{lang[:2]}"}).json()
    support = http.post("/skill-groups", json={"name": f"Support{lang[:2]}"}).json()
    items = [
        {
            "label": "我要咨询购买" if lang == "zh-CN" else "I want to buy",
            "skill_group_id": sales["id"],
        },
        {
            "label": "售后服务" if lang == "zh-CN" else "After-sales help",
            "skill_group_id": support["id"],
        },
    ]
    assert http.put("/welcome-menu", json={"items": items}).status_code == 200
    assert http.patch("/tenant/switches", json={"welcome_menu": True}).status_code == 200
    welcome = "欢迎光临，请选择业务" if lang == "zh-CN" else "Welcome! What do you need?"
    widget = http.post(
        "/widgets", json={"name": "menu", "language": lang, "welcome_text": welcome}
    ).json()

    SHOTS.mkdir(parents=True, exist_ok=True)
    page = new_page(lang)
    page.goto(f"/demo?widget={widget['key']}")
    page.locator("button.launcher").click()
    menu = page.get_by_role(
        "group", name="请选择您要咨询的业务" if lang == "zh-CN" else "What can we help you with?"
    )
    expect(menu).to_be_visible()
    expect(page.get_by_text(welcome)).to_be_visible()
    page.screenshot(path=str(SHOTS / f"welcome-menu-{lang}.png"))
    menu.get_by_role("button", name=items[1]["label"]).click()
    # The choice is the visitor's first message, and the menu goes away.
    log = page.get_by_role("log")
    expect(log.get_by_text(items[1]["label"]).last).to_be_visible()
    expect(menu).to_be_hidden()
    page.screenshot(path=str(SHOTS / f"welcome-menu-chosen-{lang}.png"))
    waiting = http.get("/waiting").json()["items"]
    assert [w["skill_group"]["id"] for w in waiting][-1:] == [support["id"]]
    assert waiting[-1]["routed_by"] == "menu"
