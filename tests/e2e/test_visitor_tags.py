"""Visitor tags in the browser: an admin defines tags, an agent tags a live visitor and marks
them VIP in the visitor panel of the Sessions page (zh-CN and en, with screenshots)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, Tenant
from tests.e2e.helpers import ApiClient, login, nav

pytestmark = pytest.mark.e2e
AGENT_PASSWORD = "Agent1234x"
SHOTS = Path("/tmp/shots")  # noqa: S108

TEXT = {
    "zh-CN": {
        "settings": "系统设置",
        "page": "访客标签",
        "add": "新建标签",
        "addTitle": "新建访客标签",
        "name": "标签名称",
        "save": "保存",
        "tags": ["重要客户", "投诉处理中"],
        "sessions": "会话",
        "connected": "已连接",
        "panel": "标签与 VIP",
        "edit": "编辑标签",
        "editTitle": "编辑访客标签",
        "filter": "筛选标签",
        "setVip": "设为 VIP",
        "unsetVip": "取消 VIP",
        "log": "消息记录",
        "deleteLabel": "删除标签 {}",
        "confirmDelete": "删除",
        "count": "2 / 1000 个",
    },
    "en": {
        "settings": "Settings",
        "page": "Visitor tags",
        "add": "New tag",
        "addTitle": "New visitor tag",
        "name": "Name",
        "save": "Save",
        "tags": ["Key account", "Complaint open"],
        "sessions": "Sessions",
        "connected": "Connected",
        "panel": "Tags and VIP",
        "edit": "Edit tags",
        "editTitle": "Edit visitor tags",
        "filter": "Filter tags",
        "setVip": "Mark as VIP",
        "unsetVip": "Remove VIP",
        "log": "Messages",
        "deleteLabel": "Delete tag {}",
        "confirmDelete": "Delete",
        "count": "2 / 1000",
    },
}


def _use_language(server: Server, email: str, password: str, lang: str) -> None:
    client = ApiClient(server.base_url, email, password)
    assert client.http.patch("/me", json={"language": lang}).status_code == 200
    client.close()


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_admin_defines_tags_and_agent_tags_a_live_visitor(  # type: ignore[no-untyped-def]
    server: Server, tenant: Tenant, new_page, lang: str
) -> None:
    x = TEXT[lang]
    SHOTS.mkdir(parents=True, exist_ok=True)
    suffix = "zh" if lang == "zh-CN" else "en"
    admin_api = ApiClient(server.base_url, tenant.email, tenant.password)
    _use_language(server, tenant.email, tenant.password, lang)

    # --- the admin creates two tags (and deletes a third) on Settings > Visitor tags ---------
    admin: Page = new_page(lang)
    login(admin, tenant.email, tenant.password, lang=lang)
    nav(admin, x["settings"], x["page"])
    expect(admin).to_have_url(re.compile(r"/admin/settings/visitor-tags"))
    colours = ["#f56c6c", "#e6a23c", "#909399"]
    for name, colour in zip([*x["tags"], "tmp"], colours, strict=True):
        admin.get_by_role("button", name=x["add"]).click()
        dialog = admin.get_by_role("dialog", name=x["addTitle"])
        dialog.get_by_label(x["name"]).fill(name)
        dialog.get_by_role("radio", name=colour).click()
        expect(dialog.get_by_role("radio", name=colour)).to_have_attribute("aria-checked", "true")
        if name == x["tags"][1]:
            admin.screenshot(path=str(SHOTS / f"visitor-tags-dialog-{suffix}.png"))
        dialog.get_by_role("button", name=x["save"]).click()
        expect(dialog).to_be_hidden()
        expect(admin.get_by_test_id("visitor-tag-row").filter(has_text=name)).to_be_visible()
    admin.get_by_role("button", name=x["deleteLabel"].format("tmp")).click()
    admin.get_by_role("dialog").get_by_role("button", name=x["confirmDelete"]).click()
    expect(admin.get_by_test_id("visitor-tag-row")).to_have_count(2)
    expect(admin.get_by_test_id("visitor-tag-count")).to_have_text(x["count"])
    expect(admin.locator(".el-message")).to_have_count(0, timeout=10_000)
    admin.screenshot(path=str(SHOTS / f"visitor-tags-page-{suffix}.png"))
    tags = {t["name"]: t for t in admin_api.http.get("/visitor-tags").json()}
    assert set(tags) == set(x["tags"])
    assert tags[x["tags"][0]]["color"] == "#f56c6c"
    # The admin turns busy and leaves, so the visitor's conversation goes to the agent.
    assert admin_api.http.put("/me/status", json={"status": "busy"}).status_code == 200
    admin.close()

    # --- an agent in a live conversation applies a tag and VIP in the visitor panel ----------
    res = admin_api.http.post("/widgets", json={"name": "官网"})
    assert res.status_code == 201, res.text
    widget = res.json()
    agent_email = f"agent-{uuid.uuid4().hex[:8]}@example.com"
    admin_api.create_agent(agent_email, "小王")
    _use_language(server, agent_email, AGENT_PASSWORD, lang)
    agent: Page = new_page(lang)
    login(agent, agent_email, AGENT_PASSWORD, lang=lang)
    if "/agent/sessions" not in agent.url:
        nav(agent, x["sessions"])
    expect(agent.get_by_text(x["connected"], exact=True)).to_be_visible()

    visitor: Page = new_page()
    visitor.goto(f"/demo?widget={widget['key']}")
    visitor.locator("button.launcher").click()
    composer = visitor.get_by_role("textbox", name="输入消息")
    composer.fill("你好，我的订单还没到")
    composer.press("Enter")

    item = agent.get_by_test_id("conversation-item").first
    expect(item).to_be_visible()
    item.click()
    log = agent.get_by_role("log", name=x["log"])
    expect(log.get_by_text("你好，我的订单还没到")).to_be_visible()
    panel = agent.get_by_test_id("visitor-tags")
    expect(panel).to_be_visible()
    expect(panel.get_by_role("listitem")).to_have_count(0)

    panel.get_by_role("button", name=x["edit"]).click()
    pop = agent.get_by_role("dialog", name=x["editTitle"])
    expect(pop.get_by_role("option")).to_have_count(2)
    pop.get_by_label(x["filter"]).fill(x["tags"][0][:2])
    expect(pop.get_by_role("option")).to_have_count(1)
    pop.get_by_role("option", name=x["tags"][0]).click()
    expect(pop.get_by_role("option", name=x["tags"][0])).to_have_attribute("aria-selected", "true")
    agent.screenshot(path=str(SHOTS / f"visitor-panel-tag-popover-{suffix}.png"))
    pop.get_by_role("button", name=x["save"]).click()
    expect(pop).to_be_hidden()
    expect(panel.get_by_role("listitem")).to_have_text([x["tags"][0]])

    vip = panel.get_by_test_id("vip-toggle")
    expect(vip).to_have_attribute("aria-pressed", "false")
    panel.get_by_role("button", name=x["setVip"]).click()
    expect(panel.get_by_role("button", name=x["unsetVip"])).to_have_attribute(
        "aria-pressed", "true"
    )
    agent.mouse.move(10, 10)
    agent.screenshot(path=str(SHOTS / f"visitor-panel-tags-vip-{suffix}.png"))

    # What the agent did is what the server keeps (the visitor's profile as staff read it).
    visitor_id = int(agent.get_by_test_id("visitor-id").inner_text())
    applied = admin_api.http.get(f"/visitors/{visitor_id}/tags")
    assert applied.status_code == 200, applied.text
    assert [t["name"] for t in applied.json()] == [x["tags"][0]]
    # Reloading shows the same tags and VIP state.
    agent.reload()
    agent.get_by_test_id("conversation-item").first.click()
    expect(agent.get_by_test_id("visitor-tags").get_by_role("listitem")).to_have_text(
        [x["tags"][0]]
    )
    expect(agent.get_by_test_id("vip-toggle")).to_have_attribute("aria-pressed", "true")
    admin_api.close()
