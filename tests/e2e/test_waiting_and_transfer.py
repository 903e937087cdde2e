"""Waiting queue and transfers in the browser (SPEC §3.3, §3.5, §3.6), zh-CN and en.

Two agents and a visitor: with both agents busy the visitor waits; agent B finds the
conversation on the Waiting page (live waiting time, message preview) and accepts it, landing on
Sessions with it open. Then agent A transfers a conversation to B with confirmation on (B's
prompt, accept, B sees the whole history and A's list loses it), straight with confirmation off,
and to a skill group (the group's queue). Screenshots of every screen go to /tmp/shots/.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, Tenant
from tests.e2e.helpers import ApiClient, login, nav

pytestmark = pytest.mark.e2e
AGENT_PASSWORD = "Agent1234x"
SHOTS = Path("/tmp/shots")  # noqa: S108

TEXT: dict[str, dict[str, Any]] = {
    "zh-CN": {
        "sessions": "会话",
        "waiting": "待接入",
        "connected": "已连接",
        "log": "消息记录",
        "accept": "接入",
        "acceptRow": "接入 {} 的会话",
        "count": "排队中 {}",
        "transfer": "转接此会话",
        "dialog": "转接会话",
        "agents": "客服",
        "groups": "技能组",
        "confirm": "转接",
        "promptAccept": "接受 {} 的转接",
        "pending": "等待 {} 接受转接",
        "outcomePending": "已发送转接请求",
        "outcomeDone": "已转接给 {}",
        "outcomeQueued": "已转入「{}」的排队队列",
        "favourites": "只看常用技能组",
        "precise": "已开启精确统计技能组数据",
        "wholeGroup": "按技能组分配",
        "drawer": "{} 的消息",
        "transferLabel": "转接 {} 的会话",
        "busy": "忙碌",
        "offlineWhy": "离线，无法转接",
        "movedTo": "会话已转接给 {}",
    },
    "en": {
        "sessions": "Sessions",
        "waiting": "Waiting",
        "connected": "Connected",
        "log": "Messages",
        "accept": "Accept",
        "acceptRow": "Accept {}'s conversation",
        "count": "{} waiting",
        "transfer": "Transfer this conversation",
        "dialog": "Transfer conversation",
        "agents": "Agents",
        "groups": "Skill groups",
        "confirm": "Transfer",
        "promptAccept": "Accept {}'s transfer",
        "pending": "Waiting for {} to accept",
        "outcomePending": "Transfer request sent",
        "outcomeDone": "Transferred to {}",
        "outcomeQueued": "Queued in {}",
        "favourites": "Favourite groups only",
        "precise": "Precise skill-group statistics is on",
        "wholeGroup": "Any agent of the group",
        "drawer": "Messages from {}",
        "transferLabel": "Transfer {}'s conversation",
        "busy": "Busy",
        "offlineWhy": "Offline: cannot receive transfers",
        "movedTo": "Transferred to {}",
    },
}


def _shot(page: Page, name: str, lang: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(5, 5)
    page.screenshot(path=str(SHOTS / f"{name}-{'zh' if lang == 'zh-CN' else 'en'}.png"))


def _agent(admin: ApiClient, nickname: str, lang: str) -> tuple[str, ApiClient]:
    email = f"agent-{uuid.uuid4().hex[:8]}@example.com"
    user = admin.create_agent(email, nickname)
    res = admin.http.patch(f"/users/{user['id']}", json={"real_name": f"{nickname}真名"})
    assert res.status_code == 200, res.text
    client = ApiClient(str(admin.http.base_url).removesuffix("/api/v1/"), email, AGENT_PASSWORD)
    assert client.http.patch("/me", json={"language": lang}).status_code == 200
    return email, client


def _set_status(client: ApiClient, status: str) -> None:
    res = client.http.put("/me/status", json={"status": status})
    assert res.status_code == 200, res.text


def _open_sessions(page: Page, email: str, lang: str) -> None:
    x = TEXT[lang]
    login(page, email, AGENT_PASSWORD, lang=lang)
    if "/agent/sessions" not in page.url:
        nav(page, x["sessions"])
    expect(page.get_by_text(x["connected"], exact=True)).to_be_visible()


def _visitor_says(page: Page, widget_key: str, text: str) -> None:
    page.goto(f"/demo?widget={widget_key}")
    page.locator("button.launcher").click()
    composer = page.get_by_role("textbox", name="输入消息")
    composer.fill(text)
    composer.press("Enter")


def _conversation_of(client: ApiClient, text: str) -> dict[str, Any]:
    """The newest of my ongoing conversations whose last message is `text`."""
    for conv in client.http.get("/conversations").json():
        if conv["last_message"] and conv["last_message"]["preview"] == text:
            return conv
    raise AssertionError(f"no ongoing conversation with {text!r}")


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_waiting_pickup_and_transfers(  # type: ignore[no-untyped-def]
    server: Server, tenant: Tenant, new_page, lang: str
) -> None:
    x = TEXT[lang]
    admin = ApiClient(server.base_url, tenant.email, tenant.password)
    res = admin.http.patch(
        "/tenant/switches",
        json={"waiting_detail": True, "transfer_confirmation": True, "manual_pickup": True},
    )
    assert res.status_code == 200, res.text
    widget = admin.http.post("/widgets", json={"name": "官网"}).json()
    a_email, a_api = _agent(admin, "小王" if lang == "zh-CN" else "Wang", lang)
    b_email, b_api = _agent(admin, "小李" if lang == "zh-CN" else "Li", lang)
    a_name = a_api.http.get("/me").json()["nickname"]
    b_name = b_api.http.get("/me").json()["nickname"]

    a: Page = new_page(lang)
    _open_sessions(a, a_email, lang)
    b: Page = new_page(lang)
    _open_sessions(b, b_email, lang)

    # --- both agents busy: the visitor waits; B accepts from the Waiting page ----------------
    _set_status(a_api, "busy")
    _set_status(b_api, "busy")
    v1: Page = new_page()
    _visitor_says(v1, widget["key"], "请问退货怎么办理？")
    nav(b, x["waiting"])
    expect(b).to_have_url(re.compile(r"/agent/waiting"))
    row = b.get_by_test_id("waiting-row")
    expect(row).to_have_count(1)
    expect(b.get_by_test_id("waiting-total")).to_have_text(x["count"].format(1))
    expect(b.get_by_role("table").get_by_text("请问退货怎么办理？")).to_be_visible()
    waited = b.get_by_test_id("waited").first
    expect(waited).to_have_text(re.compile(r"^\s*\d\d:\d\d\s*$"))
    first = waited.inner_text()
    expect(waited).not_to_have_text(first, timeout=5000)  # it ticks
    visitor_name = row.first.locator(".wt-vname").inner_text()
    _shot(b, "waiting-page", lang)

    # The message preview (the tenant lets agents read waiting conversations).
    row.first.click()
    drawer = b.get_by_role("dialog", name=x["drawer"].format(visitor_name))
    expect(drawer.get_by_text("请问退货怎么办理？")).to_be_visible()
    _shot(b, "waiting-detail", lang)
    drawer.get_by_role("button", name=x["accept"], exact=True).click()
    expect(b).to_have_url(re.compile(r"/agent/sessions"))
    # The same visitor (the workbench words the default name in the UI language).
    number = re.sub(r"\D", "", visitor_name)
    expect(b.get_by_test_id("pane-visitor-name")).to_have_text(re.compile(rf"\D{number}$"))
    expect(b.get_by_role("log", name=x["log"]).get_by_text("请问退货怎么办理？")).to_be_visible()
    _shot(b, "waiting-accepted-sessions", lang)

    # --- A gets a conversation, transfers it to B with confirmation on ------------------------
    _set_status(a_api, "idle")
    v2: Page = new_page()
    _visitor_says(v2, widget["key"], "我的快递三天没动了")
    item = a.get_by_test_id("conversation-item").first
    expect(item).to_be_visible()
    item.click()
    expect(a.get_by_role("log", name=x["log"]).get_by_text("我的快递三天没动了")).to_be_visible()
    a.get_by_role("button", name=x["transfer"]).click()
    dialog = a.get_by_role("dialog", name=x["dialog"])
    expect(dialog).to_be_visible()
    option = dialog.get_by_role("option", name=re.compile(b_name))
    expect(option).to_be_visible()
    expect(option).to_contain_text(x["busy"])
    option.locator(".tr-name").hover()
    expect(a.get_by_role("tooltip").filter(has_text=f"{b_name}真名")).to_be_visible()
    option.click()
    expect(option).to_have_attribute("aria-selected", "true")
    _shot(a, "transfer-dialog-agents", lang)
    a.keyboard.press("Enter")  # Enter confirms
    expect(dialog).to_be_hidden()
    expect(a.get_by_text(x["outcomePending"])).to_be_visible()
    expect(a.get_by_test_id("transfer-pending")).to_contain_text(x["pending"].format(b_name))

    prompt = b.get_by_test_id("transfer-prompt")
    expect(prompt).to_be_visible()
    expect(prompt).to_contain_text(a_name)
    expect(prompt.get_by_role("timer")).to_have_text(re.compile(r"\d+"))
    _shot(b, "transfer-prompt", lang)
    _shot(a, "transfer-pending", lang)
    accept_label = re.escape(x["promptAccept"]).replace(r"\{\}", ".+")
    prompt.get_by_role("button", name=re.compile(f"^{accept_label}$")).click()
    expect(prompt).to_be_hidden()
    # B has the conversation open with its full history; A's list no longer has it.
    expect(b.get_by_role("log", name=x["log"]).get_by_text("我的快递三天没动了")).to_be_visible()
    expect(b.get_by_test_id("conversation-item")).to_have_count(2)
    # A had it open: it stays on screen, ended, saying where it went.
    expect(a.get_by_role("status").filter(has_text=x["movedTo"].format(b_name))).to_be_visible()
    expect(a.locator("[data-testid=conversation-item]:not(.cl-item--ended)")).to_have_count(0)
    _shot(a, "transfer-accepted-sender", lang)
    _shot(b, "transfer-accepted-target", lang)
    conv2 = _conversation_of(b_api, "我的快递三天没动了")
    assert conv2["agent"]["id"] == b_api.http.get("/me").json()["id"]

    # --- confirmation off: B transfers straight back to A ---------------------------------------
    res = admin.http.patch("/tenant/switches", json={"transfer_confirmation": False})
    assert res.status_code == 200, res.text
    b.get_by_role("button", name=x["transfer"]).click()
    dialog = b.get_by_role("dialog", name=x["dialog"])
    dialog.get_by_role("option", name=re.compile(a_name)).click()
    dialog.get_by_role("button", name=x["confirm"], exact=True).click()
    expect(b.get_by_text(x["outcomeDone"].format(a_name))).to_be_visible()
    # A still had it open (ended, transferred away): it comes back to life there.
    expect(a.locator("[data-testid=conversation-item]:not(.cl-item--ended)")).to_have_count(1)
    expect(a.get_by_role("status").filter(has_text=x["movedTo"].format(b_name))).to_have_count(0)
    expect(a.get_by_test_id("transfer-button")).to_be_enabled()
    expect(a.get_by_role("log", name=x["log"]).get_by_text("我的快递三天没动了")).to_be_visible()
    expect(b.get_by_test_id("conversation-item")).to_have_count(1)

    # --- transfer to a skill group whose only member (B) is busy: it queues there -------------
    b_id = b_api.http.get("/me").json()["id"]
    group_name = "售后组" if lang == "zh-CN" else "Aftersales"
    group = admin.http.post("/skill-groups", json={"name": group_name})
    assert group.status_code == 201, group.text
    gid = group.json()["id"]
    a_id = a_api.http.get("/me").json()["id"]
    res = admin.http.put(f"/skill-groups/{gid}/members", json={"user_ids": [a_id, b_id]})
    assert res.status_code == 200, res.text
    empty = admin.http.post("/skill-groups", json={"name": "空组" if lang == "zh-CN" else "Empty"})
    assert empty.status_code == 201, empty.text
    # A (a member too) goes busy, so nobody in the group can take it now.
    _set_status(a_api, "busy")
    res = a_api.http.put("/me/favourite-groups", json={"skill_group_ids": [gid]})
    assert res.status_code in (200, 204), res.text
    a.get_by_role("button", name=x["transfer"]).click()
    dialog = a.get_by_role("dialog", name=x["dialog"])
    dialog.get_by_role("tab", name=x["groups"]).click()
    empty_option = dialog.get_by_role("option", name=re.compile("空组|Empty"))
    expect(empty_option).to_have_attribute("aria-disabled", "true")
    _shot(a, "transfer-dialog-groups", lang)
    dialog.get_by_text(x["favourites"]).click()
    expect(empty_option).to_have_count(0)
    dialog.get_by_role("option", name=re.compile(group_name)).click()
    dialog.get_by_role("button", name=x["confirm"], exact=True).click()
    expect(a.get_by_text(x["outcomeQueued"].format(group_name))).to_be_visible()
    expect(a.locator("[data-testid=conversation-item]:not(.cl-item--ended)")).to_have_count(0)
    # B sees it waiting in the group's queue.
    nav(b, x["waiting"])
    expect(b.get_by_test_id("waiting-row")).to_have_count(1)
    expect(b.get_by_role("table").get_by_text(group_name)).to_be_visible()

    # --- precise skill-group statistics: the dialog becomes panes by group --------------------
    res = admin.http.patch("/tenant/switches", json={"precise_group_stats": True})
    assert res.status_code == 200, res.text
    v2_name = b.get_by_test_id("waiting-row").first.locator(".wt-vname").inner_text()
    b.get_by_role("button", name=x["acceptRow"].format(v2_name)).click()
    expect(b).to_have_url(re.compile(r"/agent/sessions"))
    b.get_by_role("button", name=x["transfer"]).click()
    dialog = b.get_by_role("dialog", name=x["dialog"])
    expect(dialog.get_by_text(x["precise"])).to_be_visible()
    dialog.get_by_role("option", name=re.compile(group_name)).click()
    expect(dialog.get_by_role("option", name=re.compile(x["wholeGroup"]))).to_have_attribute(
        "aria-selected", "true"
    )
    # The agents of the chosen group (A, who is in it); the transferring agent is left out.
    expect(dialog.get_by_test_id("transfer-agent")).to_have_count(1)
    expect(dialog.get_by_test_id("transfer-agent")).to_contain_text(a_name)
    _shot(b, "transfer-dialog-precise", lang)
    b.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # --- the admin's row actions on the Waiting page --------------------------------------------
    admin_page: Page = new_page(lang)
    admin.http.patch("/me", json={"language": lang})
    login(admin_page, tenant.email, tenant.password, lang=lang)
    _set_status(admin, "busy")
    _set_status(a_api, "busy")
    v3: Page = new_page()
    _visitor_says(v3, widget["key"], "还有人在吗")
    admin_page.goto("/agent/waiting")
    expect(admin_page.get_by_test_id("waiting-row")).to_have_count(1)
    v3_name = admin_page.locator(".wt-vname").first.inner_text()
    transfer_row = admin_page.get_by_role("button", name=x["transferLabel"].format(v3_name))
    expect(transfer_row).to_be_visible()
    _shot(admin_page, "waiting-page-admin", lang)
    for c in (a_api, b_api, admin):
        c.close()
