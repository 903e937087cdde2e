"""Blacklisting from the workbench (SPEC §3.9): an agent adds the visitor of the open
conversation with a reason; the conversation ends, and the visitor's next message is accepted
yet opens no conversation. Screenshots go to /tmp/shots/F/.
"""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, Tenant
from tests.e2e.helpers import ApiClient, login, nav
from tests.e2e.test_history_page import ApiVisitor, shot

pytestmark = pytest.mark.e2e
AGENT_PASSWORD = "Agent1234x"


def test_agent_blacklists_the_visitor_of_the_open_conversation(  # type: ignore[no-untyped-def]
    server: Server, tenant: Tenant, page: Page
) -> None:
    admin = ApiClient(server.base_url, tenant.email, tenant.password)
    widget = admin.http.post("/widgets", json={"name": "官网"}).json()
    email = f"agent-{uuid.uuid4().hex[:8]}@example.com"
    admin.create_agent(email, "小王")
    agent = ApiClient(server.base_url, email, AGENT_PASSWORD)

    login(page, email, AGENT_PASSWORD)
    if "/agent/sessions" not in page.url:
        nav(page, "会话")
    expect(page.get_by_text("已连接", exact=True)).to_be_visible()
    assert agent.http.put("/me/status", json={"status": "idle"}).status_code == 200
    visitor = ApiVisitor(server.base_url, widget["key"], "骚扰者")
    conv = visitor.say("你们客服都是骗子")["conversation_id"]

    item = page.get_by_test_id("conversation-item").first
    expect(item).to_be_visible()
    item.click()
    page.get_by_test_id("blacklist-add").click()
    dialog = page.get_by_role("dialog", name="将「骚扰者」加入黑名单")
    expect(dialog).to_be_visible()
    dialog.get_by_role("textbox", name="原因").fill("辱骂客服")
    shot(page, "blacklist-dialog")
    dialog.get_by_role("button", name="确定").click()
    expect(page.get_by_text("已将该访客加入黑名单")).to_be_visible()

    ended = admin.http.get(f"/history/{conv}").json()
    assert ended["end_reason"] == "blacklist", ended
    # The visitor writes again: accepted, yet nothing is created.
    again = visitor.say("为什么不回我")
    assert again["conversation_id"] == 0 and again["body"]["text"] == "为什么不回我"
    assert admin.http.get("/conversations", params={"state": "waiting"}).json() == []
    assert agent.http.get("/conversations").json() == []
    assert admin.http.get("/history", params={"visitor_id": visitor.id}).json()["total"] == 1
    entries = admin.http.get("/blacklist").json()["items"]
    assert [(e["visitor_id"], e["reason"]) for e in entries] == [(visitor.id, "辱骂客服")]
