"""Announcements in the browser (§15.2): an admin picks an agent by typing "@", attaches a file
and publishes; the agent's bell counts it and the message center opens it with its file."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, Tenant
from tests.e2e.helpers import ApiClient, login

pytestmark = pytest.mark.e2e
SHOTS = Path("/tmp/shots")  # noqa: S108

TEXT = {
    "zh-CN": {
        "publish": "发布通知",
        "dialog": "发布通知",
        "mention": "输入 @ 选择接收人",
        "subject": "主题",
        "body": "正文",
        "send": "发布",
        "sent": "通知已发布给 1 位成员",
        "title": "新通知",
        "from": "发布人",
    },
    "en": {
        "publish": "Publish announcement",
        "dialog": "Publish an announcement",
        "mention": "Type @ to add recipients",
        "subject": "Subject",
        "body": "Message",
        "send": "Publish",
        "sent": "Announcement sent to 1 members",
        "title": "New announcement",
        "from": "From",
    },
}


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_admin_publishes_and_agent_reads(  # type: ignore[no-untyped-def]
    server: Server, tenant: Tenant, new_page, lang: str, tmp_path: Path
) -> None:
    x = TEXT[lang]
    suffix = "zh" if lang == "zh-CN" else "en"
    SHOTS.mkdir(parents=True, exist_ok=True)
    admin_api = ApiClient(server.base_url, tenant.email, tenant.password)
    assert admin_api.http.patch("/me", json={"language": lang}).status_code == 200
    nickname = f"Ann{uuid.uuid4().hex[:4]}"
    email = f"agent-{uuid.uuid4().hex[:8]}@example.com"
    admin_api.create_agent(email, nickname)
    agent_api = ApiClient(server.base_url, email, "Agent1234x")
    assert agent_api.http.patch("/me", json={"language": lang}).status_code == 200

    admin: Page = new_page(lang)
    login(admin, tenant.email, tenant.password, lang=lang)
    admin.goto("/admin/message-center")
    admin.get_by_role("button", name=x["publish"]).click()
    dialog = admin.get_by_role("dialog", name=x["dialog"])
    mention = dialog.get_by_placeholder(x["mention"])
    mention.click()
    mention.press_sequentially("@" + nickname[:3])
    admin.get_by_role("option", name=nickname).click()
    expect(dialog.locator(".el-tag").filter(has_text="@" + nickname)).to_be_visible()
    dialog.get_by_label(x["subject"], exact=True).fill("Holiday rota")
    dialog.get_by_label(x["body"], exact=True).fill("Line one\nLine two <b>not bold</b>")
    attachment = tmp_path / "rota.txt"
    attachment.write_text("monday: Ann")
    dialog.locator("input[type=file]").set_input_files(str(attachment))
    expect(dialog.locator(".el-tag").filter(has_text="rota.txt")).to_be_visible()
    admin.screenshot(path=str(SHOTS / f"announcement-publish-{suffix}.png"))
    dialog.get_by_role("button", name=x["send"], exact=True).click()
    expect(admin.get_by_text(x["sent"])).to_be_visible()
    expect(dialog).to_be_hidden()

    agent: Page = new_page(lang)
    login(agent, email, "Agent1234x", lang=lang)
    expect(agent.get_by_role("button", name=re.compile("1"))).not_to_have_count(0)
    agent.goto("/agent/message-center")
    notice = agent.locator(".kf-notice").filter(has_text=x["title"]).first
    expect(notice).to_contain_text("Holiday rota")
    notice.click()
    view = agent.get_by_role("dialog", name="Holiday rota")
    expect(view).to_contain_text(x["from"])
    expect(view).to_contain_text("<b>not bold</b>")  # shown as text, never as markup
    expect(view.get_by_role("link", name=re.compile("rota.txt"))).to_be_visible()
    expect(view.locator(".el-loading-mask")).to_have_count(0)
    agent.screenshot(path=str(SHOTS / f"announcement-read-{suffix}.png"))
    admin_api.close()
    agent_api.close()
