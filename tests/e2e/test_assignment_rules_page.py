"""Settings > Session assignment rules in a real browser (SPEC §5.3, §5.6–§5.8, §5.10)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import Server, Tenant
from tests.e2e.helpers import ApiClient, login, toggle

pytestmark = pytest.mark.e2e
SHOTS = Path("/tmp/shots")  # noqa: S108
URL = "/admin/settings/assignment-rules"

TEXT = {
    "zh-CN": {
        "title": "会话分配规则",
        "routing": "路由规则",
        "dispatch": "调度规则",
        "overflow": "溢出规则",
        "menu": "欢迎语菜单",
        "customerTitle": "客户信息指定",
        "agentNote": "规则指定到具体客服时，它优先于所有其他规则",
        "newRule": "新建规则",
        "newRuleTitle": "新建客户信息指定",
        "ruleName": "规则名称",
        "tags": "客户标签",
        "sendTo": "分配给",
        "group": "技能组",
        "save": "保存",
        "saved": "已保存",
        "orderSaved": "顺序已保存",
        "addChannel": "添加渠道指定",
        "app": "App",
        "split": "分上下班",
        "plan": "时间计划",
        "on": "上班时间",
        "off": "下班时间",
        "robot": "机器人",
        "channelTitle": "渠道指定",
        "priority": "渠道、关联与入口指定的优先级",
        "newOverflow": "新建溢出规则",
        "overflowName": "规则名称",
        "overflowTo": "溢出到技能组",
        "notify": "通知管理员（消息中心）",
        "selected": "指定技能组",
        "levels": "客户等级优先分配",
        "level1": "第 1 级（最高）",
        "saveDispatch": "保存调度规则",
        "menuSwitch": "欢迎语菜单指定技能组",
        "addItem": "添加菜单项",
        "menuText": "菜单文字",
        "saveMenu": "保存菜单",
        "entryNotFirst": "“入口指定”当前不是最高优先级",
        "makeEntryFirst": "将入口指定设为最高",
        "dragHandle": "拖动调整顺序",
    },
    "en": {
        "title": "Assignment rules",
        "routing": "Routing rules",
        "dispatch": "Dispatch rules",
        "overflow": "Overflow rules",
        "menu": "Welcome menu",
        "customerTitle": "Customer-info rules",
        "agentNote": "A rule that names a specific agent beats every other rule",
        "newRule": "New rule",
        "newRuleTitle": "New customer-info rule",
        "ruleName": "Rule name",
        "tags": "Customer tags",
        "sendTo": "Send to",
        "group": "Skill group",
        "save": "Save",
        "saved": "Saved",
        "orderSaved": "Order saved",
        "addChannel": "Add channel rule",
        "app": "App",
        "split": "Working / off hours",
        "plan": "Time plan",
        "on": "Working hours",
        "off": "Off hours",
        "robot": "Robot",
        "channelTitle": "Channel rules",
        "priority": "Priority of channel, association and entry rules",
        "newOverflow": "New overflow rule",
        "overflowName": "Rule name",
        "overflowTo": "Overflow to group",
        "notify": "Notify admins (message center)",
        "selected": "Selected groups",
        "levels": "Customer-level priority",
        "level1": "Level 1 (highest)",
        "saveDispatch": "Save dispatch rules",
        "menuSwitch": "Welcome menu to skill groups",
        "addItem": "Add item",
        "menuText": "Menu text",
        "saveMenu": "Save menu",
        "entryNotFirst": "entry rules are not the strongest",
        "makeEntryFirst": "Make entry rules strongest",
        "dragHandle": "Drag to reorder",
    },
}


def _setup(server: Server, tenant: Tenant) -> tuple[ApiClient, dict[str, Any]]:
    api = ApiClient(server.base_url, tenant.email, tenant.password)
    ids: dict[str, Any] = {}
    for name in ("售前", "VIP专席", "夜班"):
        r = api.http.post("/skill-groups", json={"name": name})
        assert r.status_code == 201, r.text
        ids[name] = r.json()["id"]
    for name, color in (("VIP", "#e6a23c"), ("老客户", "#67c23a"), ("投诉", "#f56c6c")):
        r = api.http.post("/visitor-tags", json={"name": name, "color": color})
        assert r.status_code == 201, r.text
        ids[name] = r.json()["id"]
    weekdays = {str(d): [["09:00", "18:00"]] for d in range(1, 6)}
    r = api.http.post("/time-plans", json={"name": "工作日白班", "weekly": weekdays})
    assert r.status_code == 201, r.text
    ids["plan"] = r.json()["id"]
    agent = api.create_agent(f"wang-{tenant.tenant_id}@example.com", "小王")
    ids["agent"] = agent["id"]
    # A rule made earlier, so the new one can be dragged above it.
    r = api.http.post(
        "/routing-rules",
        json={
            "kind": "customer",
            "name": "投诉客户",
            "tag_ids": [ids["投诉"]],
            "on_target": {"type": "agent", "id": agent["id"]},
        },
    )
    assert r.status_code == 201, r.text
    ids["first_rule"] = r.json()["id"]
    return api, ids


def _pick(page: Page, scope: Locator, label: str, *options: str, multiple: bool = False) -> None:
    """Open an Element Plus select by its label and click the options; a multiple select stays
    open, so it is closed with Escape (which the select keeps from the dialog)."""
    combobox = scope.get_by_role("combobox", name=label, exact=True)
    combobox.locator("xpath=ancestor::div[contains(@class, 'el-select__wrapper')]").click()
    listbox = page.locator(f"#{combobox.get_attribute('aria-controls')}")
    expect(listbox).to_be_visible()
    for option in options:
        listbox.get_by_role("option", name=option, exact=True).click()
    if multiple:
        page.keyboard.press("Escape")
    expect(listbox).to_be_hidden()


def _drag(page: Page, handle: Locator, onto: Locator) -> None:
    """Press on a drag handle and move in small steps, as a hand on a mouse does."""
    box = handle.bounding_box()
    dest = onto.bounding_box()
    assert box and dest
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.wait_for_timeout(100)
    target_y = dest["y"] + dest["height"] / 4
    for i in range(1, 21):
        page.mouse.move(x, y + (target_y - y) * i / 20)
        page.wait_for_timeout(20)
    page.wait_for_timeout(200)
    page.mouse.move(x, target_y - 2)
    page.wait_for_timeout(200)
    page.mouse.up()


def _settled(page: Page) -> None:
    """No loading spinner and no switch waiting for the session's switches."""
    expect(page.locator(".el-loading-mask:visible")).to_have_count(0)
    expect(page.locator(".el-switch.is-disabled")).to_have_count(0)


def _rows(page: Page, table_label: str) -> Locator:
    # Element Plus puts the label on the table's wrapper; the body rows are plain <tr>s.
    return page.locator(f'.el-table[aria-label="{table_label}"] .el-table__body tr.el-table__row')


def test_assignment_rules_flow(page: Page, server: Server, tenant: Tenant) -> None:
    x = TEXT["zh-CN"]
    api, ids = _setup(server, tenant)
    SHOTS.mkdir(parents=True, exist_ok=True)
    login(page, tenant.email, tenant.password)
    page.goto(URL)
    expect(page.get_by_role("heading", name=x["title"])).to_be_visible()
    expect(page.get_by_text(x["agentNote"])).to_be_visible()

    # A customer-info rule: VIP and returning customers go to the VIP desk.
    page.get_by_role("button", name=x["newRule"]).click()
    dialog = page.get_by_role("dialog", name=x["newRuleTitle"])
    dialog.get_by_label(x["ruleName"]).fill("VIP客户")
    _pick(page, dialog, x["tags"], "VIP", "老客户", multiple=True)
    _pick(page, dialog, f"{x['sendTo']} · {x['group']}", "VIP专席")
    dialog.get_by_role("button", name=x["save"]).click()
    expect(page.get_by_text(x["saved"]).first).to_be_visible()
    expect(dialog).to_be_hidden()
    rows = _rows(page, x["customerTitle"])
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("投诉客户")
    expect(rows.nth(1)).to_contain_text("VIP客户")
    expect(rows.nth(1)).to_contain_text("技能组：VIP专席")

    # Drag the new rule above the older one; the order is saved.
    expect(page.locator(".kf-routing .el-loading-mask")).to_have_count(0)
    page.wait_for_timeout(400)  # the dialog's closing animation
    _drag(
        page,
        rows.nth(1).get_by_role("button", name=f"{x['dragHandle']}: VIP客户"),
        rows.nth(0),
    )
    expect(page.get_by_text(x["orderSaved"]).first).to_be_visible()
    expect(rows.nth(0)).to_contain_text("VIP客户")
    expect(rows.nth(1)).to_contain_text("投诉客户")
    order = api.http.get("/routing-rules", params={"kind": "customer"}).json()
    assert [r["name"] for r in order] == ["VIP客户", "投诉客户"]

    # A channel rule split by a time plan: App goes to pre-sales in hours, to the robot after.
    page.get_by_role("button", name=x["addChannel"]).click()
    dialog = page.get_by_role("dialog", name=x["addChannel"])
    toggle(dialog.get_by_role("radio", name=x["app"], exact=True))
    toggle(dialog.get_by_role("radio", name=x["split"]))
    _pick(page, dialog, x["plan"], "工作日白班")
    _pick(page, dialog, f"{x['on']} · {x['group']}", "售前")
    toggle(dialog.get_by_role("radio", name=x["robot"]).last)
    dialog.get_by_role("button", name=x["save"]).click()
    expect(dialog).to_be_hidden()
    channel_rows = _rows(page, x["channelTitle"])
    expect(channel_rows).to_have_count(1)
    expect(channel_rows.first).to_contain_text("分上下班 · 工作日白班")
    expect(channel_rows.first).to_contain_text("技能组：售前")
    expect(channel_rows.first).to_contain_text("机器人")
    rule = api.http.get("/routing-rules", params={"kind": "channel"}).json()[0]
    assert (rule["channel"], rule["split"], rule["time_plan_id"]) == ("app", True, ids["plan"])
    assert rule["off_target"] == {"type": "robot", "id": None}
    _settled(page)
    page.screenshot(path=str(SHOTS / "assignment-routing-zh.png"), full_page=True)

    # An overflow rule: pre-sales queue longer than 5 overflows to the night shift and notifies.
    page.get_by_role("tab", name=x["overflow"]).click()
    page.get_by_role("button", name=x["newOverflow"]).click()
    dialog = page.get_by_role("dialog", name=x["newOverflow"])
    dialog.get_by_label(x["overflowName"], exact=True).fill("售前排队过多")
    _pick(page, dialog, x["overflowTo"], "夜班")
    toggle(dialog.get_by_role("checkbox", name=x["notify"]))
    toggle(dialog.get_by_role("radio", name=x["selected"]))
    _pick(page, dialog, x["selected"], "售前", multiple=True)
    dialog.get_by_role("button", name=x["save"]).click()
    expect(dialog).to_be_hidden()
    overflow_rows = _rows(page, x["overflow"])
    expect(overflow_rows).to_have_count(1)
    expect(overflow_rows.first).to_contain_text("排队人数 > 5")
    expect(overflow_rows.first).to_contain_text("溢出到“夜班”、通知管理员")
    saved = api.http.get("/overflow-rules").json()[0]
    assert saved["scope_group_ids"] == [ids["售前"]] and saved["notify"] is True
    _settled(page)
    page.screenshot(path=str(SHOTS / "assignment-overflow-zh.png"), full_page=True)

    # The welcome menu: turn it on, add two items, put entry rules first.
    page.get_by_role("tab", name=x["menu"]).click()
    toggle(page.get_by_role("switch", name=x["menuSwitch"]))
    expect(page.get_by_role("switch", name=x["menuSwitch"])).to_be_checked()
    page.get_by_role("button", name=x["addItem"]).click()
    page.get_by_role("button", name=x["addItem"]).click()
    page.get_by_label(f"{x['menuText']} 1").fill("售前咨询")
    _pick(page, page.locator(".kf-menu"), f"{x['group']} 1", "售前")
    page.get_by_label(f"{x['menuText']} 2").fill("VIP服务")
    _pick(page, page.locator(".kf-menu"), f"{x['group']} 2", "VIP专席")
    with page.expect_response(
        lambda r: r.url.endswith("/welcome-menu") and r.request.method == "PUT"
    ) as menu_resp:
        page.get_by_role("button", name=x["saveMenu"]).click()
    assert menu_resp.value.status == 200
    expect(page.get_by_text(x["saved"]).first).to_be_visible()
    menu = api.http.get("/welcome-menu").json()["items"]
    assert [(i["label"], i["skill_group_id"]) for i in menu] == [
        ("售前咨询", ids["售前"]),
        ("VIP服务", ids["VIP专席"]),
    ]
    assert api.http.get("/tenant/switches").json()["welcome_menu"] is True
    # Entry rules are strongest by default; move them down and the page warns.
    settings = api.http.get("/dispatch-settings").json()
    body = {k: v for k, v in settings.items() if k != "updated_at"}
    api.http.put(
        "/dispatch-settings", json={**body, "rule_order": ["channel", "entry", "association"]}
    )
    page.reload()
    expect(page.get_by_text(x["entryNotFirst"])).to_be_visible()
    _settled(page)
    page.screenshot(path=str(SHOTS / "assignment-menu-zh.png"), full_page=True)
    page.get_by_role("button", name=x["makeEntryFirst"]).click()
    expect(page.get_by_text(x["entryNotFirst"])).to_be_hidden()
    assert api.http.get("/dispatch-settings").json()["rule_order"][0] == "entry"

    # Dispatch rules: level 1 = VIP tag, saved.
    page.get_by_role("tab", name=x["dispatch"]).click()
    _pick(page, page.locator(".kf-dispatch"), x["level1"], "VIP", multiple=True)
    with page.expect_response(
        lambda r: r.url.endswith("/dispatch-settings") and r.request.method == "PUT"
    ) as saved_resp:
        page.get_by_role("button", name=x["saveDispatch"]).click()
    assert saved_resp.value.status == 200
    expect(page.get_by_text(x["saved"]).first).to_be_visible()
    assert api.http.get("/dispatch-settings").json()["priority_levels"][0] == [ids["VIP"]]
    _settled(page)
    page.screenshot(path=str(SHOTS / "assignment-dispatch-zh.png"), full_page=True)
    api.close()


def test_assignment_rules_in_english(page: Page, server: Server, tenant: Tenant) -> None:
    x = TEXT["en"]
    api, ids = _setup(server, tenant)
    api.http.post(
        "/routing-rules",
        json={
            "kind": "channel",
            "channel": "web",
            "split": True,
            "time_plan_id": ids["plan"],
            "on_target": {"type": "group", "id": ids["售前"]},
            "off_target": {"type": "robot"},
        },
    )
    api.http.post(
        "/overflow-rules",
        json={
            "name": "All offline",
            "condition": "all_offline",
            "overflow_group_id": ids["夜班"],
            "notify": True,
        },
    )
    assert api.http.patch("/me", json={"language": "en"}).status_code == 200
    SHOTS.mkdir(parents=True, exist_ok=True)
    login(page, tenant.email, tenant.password, lang="en")
    page.goto(URL)
    expect(page.get_by_role("heading", name=x["title"])).to_be_visible()
    expect(page.get_by_text(x["agentNote"])).to_be_visible()
    expect(_rows(page, x["customerTitle"]).first).to_contain_text("Agent: 小王")
    channel_rows = _rows(page, x["channelTitle"])
    expect(channel_rows.first).to_contain_text("Working / off hours · 工作日白班")
    expect(channel_rows.first).to_contain_text("Group: 售前")
    expect(page.get_by_role("list", name=x["priority"])).to_contain_text("Entry rule")
    _settled(page)
    page.screenshot(path=str(SHOTS / "assignment-routing-en.png"), full_page=True)

    page.get_by_role("button", name=x["newRule"]).click()
    dialog = page.get_by_role("dialog", name=x["newRuleTitle"])
    expect(dialog.get_by_role("radio", name="Specific agent")).to_be_visible()
    page.wait_for_timeout(400)  # the dialog's opening animation
    _settled(page)
    page.screenshot(path=str(SHOTS / "assignment-customer-dialog-en.png"))
    dialog.get_by_role("button", name="Cancel").click()

    page.get_by_role("tab", name=x["overflow"]).click()
    expect(_rows(page, x["overflow"]).first).to_contain_text('Overflow to "夜班", Notify admins')
    expect(_rows(page, x["overflow"]).first).to_contain_text("All groups")
    _settled(page)
    page.screenshot(path=str(SHOTS / "assignment-overflow-en.png"), full_page=True)

    page.get_by_role("tab", name=x["dispatch"]).click()
    expect(page.get_by_text(x["levels"])).to_be_visible()
    expect(page.get_by_role("combobox", name=x["level1"])).to_be_visible()
    _settled(page)
    page.screenshot(path=str(SHOTS / "assignment-dispatch-en.png"), full_page=True)

    page.get_by_role("tab", name=x["menu"]).click()
    expect(page.get_by_role("switch", name=x["menuSwitch"])).not_to_be_checked()
    page.get_by_role("button", name=x["addItem"]).click()
    page.get_by_role("button", name=x["saveMenu"]).click()
    expect(page.get_by_text("Enter the menu text")).to_be_visible()
    _settled(page)
    page.screenshot(path=str(SHOTS / "assignment-menu-en.png"), full_page=True)

    page.goto("/admin/settings/switches")
    expect(page.get_by_role("group", name="Transfers")).to_contain_text(
        "Transfers need the target's confirmation"
    )
    expect(page.get_by_role("group", name="Waiting queue")).to_contain_text(
        "Agents may pick up waiting chats"
    )
    page.screenshot(path=str(SHOTS / "switches-en.png"), full_page=True)
    api.close()


def test_switches_page_groups_routing_switches(page: Page, tenant: Tenant) -> None:
    login(page, tenant.email, tenant.password)
    page.goto("/admin/settings/switches")
    assignment = page.get_by_role("group", name="会话分配")
    expect(assignment).to_contain_text("熟客优先")
    expect(assignment).to_contain_text("欢迎语菜单指定技能组")
    waiting = page.get_by_role("group", name="待接入")
    expect(waiting.get_by_role("switch", name="允许客服手动接入")).to_be_checked()
    transfers = page.get_by_role("group", name="转接")
    switch = transfers.get_by_role("switch", name="转接会话需要对方确认")
    expect(switch).not_to_be_checked()
    toggle(switch)
    expect(switch).to_be_checked()
    page.screenshot(path=str(SHOTS / "switches-zh.png"), full_page=True)
    page.reload()
    expect(page.get_by_role("switch", name="转接会话需要对方确认")).to_be_checked()
    expect(page.get_by_text(re.compile("精确统计技能组数据"))).to_be_visible()
