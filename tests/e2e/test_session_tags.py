"""Session tags in the browser (§9.1, §3.7): the admin's tag tree with import, and an agent
who must tag a conversation to end it, then gets that tag suggested on the search box."""

from __future__ import annotations

import io
import re
import uuid
from pathlib import Path

import pytest
from openpyxl import Workbook
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, Tenant
from tests.e2e.helpers import ApiClient, login, nav

pytestmark = pytest.mark.e2e
AGENT_PASSWORD = "Agent1234x"
SHOTS = Path("/tmp/shots/C")  # noqa: S108

TEXT = {
    "zh-CN": {
        "settings": "系统设置",
        "page": "会话标签",
        "addChildOf": "在 {} 下添加子标签",
        "name": "标签名称",
        "save": "保存",
        "import": "导入",
        "importTitle": "导入会话标签",
        "created": "新建 2 个标签",
        "existing": "已存在 1 行（未导入）",
        "close": "关闭",
        "sessions": "会话",
        "connected": "已连接",
        "end": "结束会话",
        "endedOk": "会话已结束",
        "required": "结束会话前请先添加会话标签",
        "dialog": "会话标签",
        "search": "搜索会话标签",
        "suggested": "我的常用标签",
        "noSuggested": "还没有常用标签",
        "tree": "全部标签",
        "remark": "备注",
        "editor": "编辑会话标签",
        "log": "消息记录",
    },
    "en": {
        "settings": "Settings",
        "page": "Session tags",
        "addChildOf": "Add a sub-tag under {}",
        "name": "Name",
        "save": "Save",
        "import": "Import",
        "importTitle": "Import session tags",
        "created": "Tags created: 2",
        "existing": "Already existing (not imported): 1",
        "close": "Close",
        "sessions": "Sessions",
        "connected": "Connected",
        "end": "End chat",
        "endedOk": "Chat ended",
        "required": "Add a session tag before ending the chat",
        "dialog": "Session tags",
        "search": "Search session tags",
        "suggested": "My frequent tags",
        "noSuggested": "No frequent tags yet",
        "tree": "All tags",
        "remark": "Remark",
        "editor": "Edit session tags",
        "log": "Messages",
    },
}
NAMES = {"zh-CN": ("咨询", "价格", "物流"), "en": ("Enquiry", "Price", "Shipping")}


def _use_language(server: Server, email: str, password: str, lang: str) -> None:
    client = ApiClient(server.base_url, email, password)
    assert client.http.patch("/me", json={"language": lang}).status_code == 200
    client.close()


def _xlsx(rows: list[list[str]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append([f"level{i}" for i in range(1, 11)])
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_admin_tree_and_forced_tag_with_suggestions(  # type: ignore[no-untyped-def]
    server: Server, tenant: Tenant, new_page, lang: str
) -> None:
    x = TEXT[lang]
    top, child, other = NAMES[lang]
    SHOTS.mkdir(parents=True, exist_ok=True)
    sfx = "zh" if lang == "zh-CN" else "en"
    admin_api = ApiClient(server.base_url, tenant.email, tenant.password)
    http = admin_api.http
    _use_language(server, tenant.email, tenant.password, lang)
    http.post("/session-tags", json={"name": top, "color": "#409eff"}).json()
    complaint = "投诉" if lang == "zh-CN" else "Complaint"
    http.post("/session-tags", json={"name": complaint, "color": "#f56c6c"})

    # --- the admin adds a sub-tag and imports more on Settings > Session tags ---------------
    admin: Page = new_page(lang)
    login(admin, tenant.email, tenant.password, lang=lang)
    nav(admin, x["settings"], x["page"])
    expect(admin).to_have_url(re.compile(r"/admin/settings/session-tags"))
    admin.get_by_role("button", name=x["addChildOf"].format(top)).click()
    dialog = admin.get_by_role("dialog").filter(has=admin.get_by_label(x["name"]))
    dialog.get_by_label(x["name"]).fill(child)
    dialog.get_by_role("button", name=x["save"]).click()
    expect(dialog).to_be_hidden()
    nodes = admin.get_by_test_id("session-tag-node")
    expect(nodes.filter(has_text=child)).to_be_visible()
    admin.get_by_role("button", name=x["import"], exact=True).click()
    imp = admin.get_by_role("dialog", name=x["importTitle"])
    rows = [[top, child], [top, other], [top, other, "Express"]]
    imp.get_by_test_id("tag-import-file").set_input_files(
        files=[{"name": "tags.xlsx", "mimeType": "application/octet-stream", "buffer": _xlsx(rows)}]
    )
    result = imp.get_by_test_id("tag-import-result")
    expect(result).to_contain_text(x["created"])
    expect(result).to_contain_text(x["existing"])
    admin.screenshot(path=str(SHOTS / f"session-tags-import-{sfx}.png"))
    imp.get_by_role("button", name=x["close"], exact=True).click()
    expect(imp).to_be_hidden()
    expect(nodes).to_have_count(5)
    expect(admin.locator(".el-message")).to_have_count(0, timeout=10_000)
    admin.mouse.move(5, 5)
    admin.screenshot(path=str(SHOTS / f"session-tags-page-{sfx}.png"))
    paths = [t["path"] for t in http.get("/session-tags").json()]
    assert [top, other, "Express"] in paths and [top, child] in paths
    assert http.put("/me/status", json={"status": "busy"}).status_code == 200
    admin.close()

    # --- an agent must tag before ending (switch on) ------------------------------------------
    assert http.patch("/tenant/switches", json={"session_tag_required": True}).status_code == 200
    widget = http.post("/widgets", json={"name": "site"}).json()
    agent_email = f"agent-{uuid.uuid4().hex[:8]}@example.com"
    admin_api.create_agent(agent_email, "小李")
    _use_language(server, agent_email, AGENT_PASSWORD, lang)
    agent: Page = new_page(lang)
    login(agent, agent_email, AGENT_PASSWORD, lang=lang)
    if "/agent/sessions" not in agent.url:
        nav(agent, x["sessions"])
    expect(agent.get_by_text(x["connected"], exact=True)).to_be_visible()

    def chat(text: str) -> None:
        visitor: Page = new_page()
        visitor.goto(f"/demo?widget={widget['key']}")
        visitor.locator("button.launcher").click()
        composer = visitor.get_by_role("textbox", name="输入消息")
        composer.fill(text)
        composer.press("Enter")
        item = agent.get_by_test_id("conversation-item").filter(has_text=text)
        expect(item).to_be_visible()
        item.click()
        expect(agent.get_by_role("log", name=x["log"]).get_by_text(text)).to_be_visible()

    def end() -> None:
        agent.get_by_role("button", name=x["end"], exact=True).click()
        agent.get_by_role("dialog").get_by_role("button", name=x["end"]).click()

    chat("first question")
    end()
    editor = agent.get_by_role("dialog", name=x["dialog"])
    expect(editor).to_be_visible()
    expect(editor.get_by_text(x["required"])).to_be_visible()
    editor.get_by_label(x["search"]).click()
    suggestions = editor.get_by_role("listbox", name=x["suggested"])
    expect(suggestions.get_by_text(x["noSuggested"])).to_be_visible()
    tree = editor.get_by_role("tree", name=x["tree"])
    tree.get_by_role("treeitem", name=child).locator(".el-checkbox").first.click()
    editor.get_by_label(x["remark"]).fill("asked about price")
    agent.screenshot(path=str(SHOTS / f"session-tag-editor-required-{sfx}.png"))
    editor.get_by_role("button", name=x["save"]).click()
    expect(editor).to_be_hidden()
    panel = agent.get_by_test_id("session-tag-editor")
    expect(panel.get_by_role("listitem")).to_have_text([f"{top} / {child}"])
    end()
    expect(
        agent.get_by_text(re.compile("会话已结束|Conversation ended|ended", re.I)).first
    ).to_be_visible()

    # --- next conversation: the search box suggests the tag used before -----------------------
    chat("second question")
    panel = agent.get_by_test_id("session-tag-editor")
    panel.get_by_role("button", name=x["editor"]).click()
    editor = agent.get_by_role("dialog", name=x["dialog"])
    editor.get_by_label(x["search"]).click()
    suggestions = editor.get_by_role("listbox", name=x["suggested"])
    expect(suggestions.get_by_role("option")).to_have_text([f"{top} / {child}"])
    agent.screenshot(path=str(SHOTS / f"session-tag-suggestions-{sfx}.png"))
    suggestions.get_by_role("option").first.click()
    expect(suggestions.get_by_role("option").first).to_have_attribute("aria-selected", "true")
    editor.get_by_role("button", name=x["save"]).click()
    expect(editor).to_be_hidden()
    end()
    # The first end's toast may still be showing (they last 3 s): the newest is this one's.
    ended = agent.locator(".el-message--success").filter(has_text=x["endedOk"])
    expect(ended.last).to_be_visible()
    admin_api.close()
