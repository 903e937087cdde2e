"""The routing issue's "Done when", end to end in real browsers (SPEC §5.1–§5.4, §5.9, §3.5, §6).

An admin builds two time plans and two skill groups in the console, routes the web channel to
one group, then splits it by a plan; visitors arriving "in" and "out of" hours get the group
greeting or the off-hours message, are dispatched to the right agent, wait in the queue when
hours-only dispatch is on (and are picked up by hand), and are transferred with their history.

The server is a subprocess (no fake clock), so hours are made with plans: one working every day
00:00–24:00 (always in hours) and one with no working range at all (always off hours).
Screenshots go to /tmp/shots/routing-flow-*-{zh,en}.png.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import Server, Tenant
from tests.e2e.helpers import ApiClient, login, nav, toggle

pytestmark = pytest.mark.e2e
AGENT_PASSWORD = "Agent1234x"
SHOTS = Path("/tmp/shots")  # noqa: S108

TEXT: dict[str, dict[str, Any]] = {
    "zh-CN": {
        # what the admin types
        "planAll": "全天",
        "planNone": "休息",
        "sales": "售前",
        "night": "夜班",
        "greeting": "您好，售前为您服务",
        "offMsg": "夜班已下班，请留言或稍候",
        "agentA": "小王",
        "agentB": "小李",
        "v1": "我想了解一下你们的套餐价格",
        "v2": "晚上还有人吗？我的订单有问题",
        "v3": "请问现在可以退款吗",
        "replyB": "您好，我是小李，马上为您处理",
        "reply1": "您好，已转给同事小李继续为您服务",
        "v1again": "好的，谢谢",
        # console and widget texts
        "tpTitle": "时间计划",
        "tpNew": "新建时间计划",
        "name": "名称",
        "days": ["周一", "周二", "周三", "周四", "周五", "周六", "周日"],
        "allDayBtn": "{}设为全天上班",
        "restBtn": "{}设为休息日",
        "save": "保存",
        "tpCreated": "时间计划“{}”已创建",
        "tpList": "时间计划列表",
        "working": "上班中",
        "off": "下班中",
        "sgTitle": "技能组",
        "sgNew": "新建技能组",
        "sgGreeting": "技能组问候语",
        "sgPlan": "工作时间",
        "sgOff": "下班提示语",
        "create": "创建",
        "sgCreated": "技能组“{}”已创建",
        "addPick": "选择要添加的客服",
        "addBtn": "添加成员",
        "arTitle": "会话分配规则",
        "addChannel": "添加渠道指定",
        "editChannel": "编辑渠道指定",
        "editRow": "编辑: 网页",
        "web": "网页",
        "sendTo": "分配给",
        "group": "技能组",
        "split": "分上下班",
        "plan": "时间计划",
        "on": "上班时间",
        "offHours": "下班时间",
        "channelTitle": "渠道指定",
        "allDayRule": "全天指定",
        "groupLabel": "技能组：{}",
        "assignment": "会话分配",
        "hoursOnly": "仅在上班时间自动分配",
        "sessions": "会话",
        "waiting": "待接入",
        "connected": "已连接",
        "log": "消息记录",
        "acceptRow": "接入 {} 的会话",
        "transfer": "转接此会话",
        "dialog": "转接会话",
        "confirm": "转接",
        "outcomeDone": "已转接给 {}",
        "composer": "输入消息",
        "widgetLog": "对话消息",
        "queue": "正在排队，您当前排在第 1 位",
    },
    "en": {
        "planAll": "AllDay",
        "planNone": "Closed",
        "sales": "Presales",
        "night": "NightShift",
        "greeting": "Hello, Presales is here for you",
        "offMsg": "The night shift is off now; leave a message or wait a moment",
        "agentA": "Wang",
        "agentB": "Li",
        "v1": "How much is your premium plan?",
        "v2": "Anyone there tonight? My order has a problem",
        "v3": "Can I get a refund now?",
        "replyB": "Hi, Li here, looking into it now",
        "reply1": "I have passed you to my colleague Li",
        "v1again": "OK, thanks",
        "tpTitle": "Time plans",
        "tpNew": "New time plan",
        "name": "Name",
        "days": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
        "allDayBtn": "Work all day on {}",
        "restBtn": "Make {} a rest day",
        "save": "Save",
        "tpCreated": 'Time plan "{}" created',
        "tpList": "Time plans",
        "working": "Working",
        "off": "Off",
        "sgTitle": "Skill groups",
        "sgNew": "New group",
        "sgGreeting": "Group greeting",
        "sgPlan": "Working time",
        "sgOff": "Off-hours message",
        "create": "Create",
        "sgCreated": 'Skill group "{}" created',
        "addPick": "Choose agents to add",
        "addBtn": "Add members",
        "arTitle": "Assignment rules",
        "addChannel": "Add channel rule",
        "editChannel": "Edit channel rule",
        "editRow": "Edit: Web",
        "web": "Web",
        "sendTo": "Send to",
        "group": "Skill group",
        "split": "Working / off hours",
        "plan": "Time plan",
        "on": "Working hours",
        "offHours": "Off hours",
        "channelTitle": "Channel rules",
        "allDayRule": "All day",
        "groupLabel": "Group: {}",
        "assignment": "Assignment",
        "hoursOnly": "Auto-assign only in working hours",
        "sessions": "Sessions",
        "waiting": "Waiting",
        "connected": "Connected",
        "log": "Messages",
        "acceptRow": "Accept {}'s conversation",
        "transfer": "Transfer this conversation",
        "dialog": "Transfer conversation",
        "confirm": "Transfer",
        "outcomeDone": "Transferred to {}",
        "composer": "Message",
        "widgetLog": "Chat messages",
        "queue": "You are number 1 in the queue",
    },
}


def _shot(page: Page, name: str, lang: str, *, full: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(5, 5)
    tag = "zh" if lang == "zh-CN" else "en"
    page.screenshot(path=str(SHOTS / f"routing-flow-{name}-{tag}.png"), full_page=full)


def _pick(page: Page, scope: Page | Locator, label: str, *options: str, multiple: bool = False):  # type: ignore[no-untyped-def]
    """Open an Element Plus select by its label and click the options (a multiple select stays
    open, so it is closed with Escape)."""
    combobox = scope.get_by_role("combobox", name=label, exact=True)
    combobox.locator("xpath=ancestor::div[contains(@class, 'el-select__wrapper')]").click()
    listbox = page.locator(f"#{combobox.get_attribute('aria-controls')}")
    expect(listbox).to_be_visible()
    for option in options:
        listbox.get_by_role("option", name=option, exact=True).click()
    if multiple:
        page.keyboard.press("Escape")
    expect(listbox).to_be_hidden()


def _settled(page: Page) -> None:
    expect(page.locator(".el-loading-mask:visible")).to_have_count(0)


def _make_plan(page: Page, x: dict[str, Any], name: str, *, all_day: bool) -> None:
    """Time plans page: a new plan, every day all day (always in hours) or every day a rest day
    (never in hours)."""
    page.get_by_role("button", name=x["tpNew"]).click()
    page.get_by_label(x["name"], exact=True).fill(name)
    for day in x["days"]:
        if all_day:
            page.get_by_role("button", name=x["allDayBtn"].format(day)).click()
        else:
            rest = page.get_by_role("button", name=x["restBtn"].format(day))
            if rest.count():  # new plans work 09:00–18:00 on weekdays; weekends already rest
                rest.click()
    page.get_by_role("button", name=x["save"], exact=True).click()
    expect(page.get_by_text(x["tpCreated"].format(name))).to_be_visible()


def _make_group(
    page: Page,
    x: dict[str, Any],
    name: str,
    plan: str,
    member: str,
    email: str,
    *,
    greeting: str = "",
    off_msg: str = "",
) -> None:
    """Skill groups page: a new group with its plan, greeting / off-hours message, one member."""
    page.get_by_role("button", name=x["sgNew"]).click()
    page.get_by_label(x["name"], exact=True).fill(name)
    page.get_by_label(x["sgGreeting"]).fill(greeting)
    _pick(page, page, x["sgPlan"], plan)
    page.get_by_label(x["sgOff"]).fill(off_msg)
    page.get_by_role("button", name=x["create"], exact=True).click()
    expect(page.get_by_text(x["sgCreated"].format(name)).first).to_be_visible()
    groups = page.get_by_role("listbox", name=re.compile(x["sgTitle"]))
    expect(groups.get_by_role("option", name=re.compile(name))).to_have_attribute(
        "aria-selected", "true"
    )
    _pick(page, page, x["addPick"], f"{member} ({email})", multiple=True)
    page.get_by_role("button", name=x["addBtn"]).click()
    members = page.get_by_role("region", name=re.compile("成员|Members")).first
    expect(members.get_by_role("cell", name=member, exact=True)).to_be_visible()


def _agent(admin: ApiClient, nickname: str, lang: str) -> tuple[str, ApiClient]:
    # API: the Members page exists but adding an agent there is slow and tested elsewhere.
    email = f"agent-{uuid.uuid4().hex[:8]}@example.com"
    admin.create_agent(email, nickname)
    client = ApiClient(str(admin.http.base_url).removesuffix("/api/v1/"), email, AGENT_PASSWORD)
    assert client.http.patch("/me", json={"language": lang}).status_code == 200
    return email, client


def _open_sessions(page: Page, email: str, x: dict[str, Any], lang: str) -> None:
    login(page, email, AGENT_PASSWORD, lang=lang)
    if "/agent/sessions" not in page.url:
        nav(page, x["sessions"])
    expect(page.get_by_text(x["connected"], exact=True)).to_be_visible()


def _visitor_says(page: Page, widget_key: str, x: dict[str, Any], text: str) -> Locator:
    """A visitor opens the widget on the demo page and writes; returns the widget's log."""
    page.goto(f"/demo?widget={widget_key}")
    page.locator("button.launcher").click()
    composer = page.get_by_role("textbox", name=x["composer"], exact=True)
    composer.fill(text)
    composer.press("Enter")
    log = page.get_by_role("log", name=x["widgetLog"])
    expect(log.get_by_text(text)).to_be_visible()
    return log


def _items(page: Page) -> Locator:
    """The live (not ended) rows of the workbench's Sessions list."""
    return page.locator("[data-testid=conversation-item]:not(.cl-item--ended)")


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_two_groups_hours_routing_queue_and_transfer(  # type: ignore[no-untyped-def]
    server: Server, tenant: Tenant, new_page, lang: str
) -> None:
    x = TEXT[lang]
    admin_api = ApiClient(server.base_url, tenant.email, tenant.password)
    assert admin_api.http.patch("/me", json={"language": lang}).status_code == 200
    # API: the widget (Channels page has its own test) and the two agents.
    # The demo page is in Chinese, so the widget's language is set rather than left to "auto".
    res = admin_api.http.post("/widgets", json={"name": "官网", "language": lang})
    assert res.status_code == 201, res.text
    widget = res.json()
    a_email, a_api = _agent(admin_api, x["agentA"], lang)
    b_email, b_api = _agent(admin_api, x["agentB"], lang)
    b_id = b_api.http.get("/me").json()["id"]

    admin: Page = new_page(lang)
    login(admin, tenant.email, tenant.password, lang=lang)

    # --- 1. two plans and two groups, through the console -----------------------------------
    admin.goto("/admin/settings/time-plans")
    expect(admin.get_by_role("heading", name=x["tpTitle"])).to_be_visible()
    _make_plan(admin, x, x["planAll"], all_day=True)
    _make_plan(admin, x, x["planNone"], all_day=False)
    plans = admin.get_by_role("navigation", name=x["tpList"])
    all_day_state = plans.get_by_role("button", name=re.compile(x["planAll"])).locator(
        ".kf-tp-state"
    )
    expect(all_day_state).to_have_text(x["working"])
    expect(
        plans.get_by_role("button", name=re.compile(x["planNone"])).locator(".kf-tp-state")
    ).to_have_text(x["off"])
    _shot(admin, "plans", lang)

    admin.goto("/admin/members/skill-groups")
    expect(admin.get_by_role("heading", name=x["sgTitle"], exact=True)).to_be_visible()
    _make_group(admin, x, x["sales"], x["planAll"], x["agentA"], a_email, greeting=x["greeting"])
    _make_group(admin, x, x["night"], x["planNone"], x["agentB"], b_email, off_msg=x["offMsg"])
    _settled(admin)
    _shot(admin, "groups", lang)
    groups = {g["name"]: g for g in admin_api.http.get("/skill-groups").json()}
    assert groups[x["night"]]["off_hours_message"] == x["offMsg"]

    a: Page = new_page(lang)
    _open_sessions(a, a_email, x, lang)
    b: Page = new_page(lang)
    _open_sessions(b, b_email, x, lang)

    # --- 2. web → 售前 all day: visitor 1 is greeted by the group and reaches A ----------------
    admin.goto("/admin/settings/assignment-rules")
    expect(admin.get_by_role("heading", name=x["arTitle"])).to_be_visible()
    admin.get_by_role("button", name=x["addChannel"]).click()
    dialog = admin.get_by_role("dialog", name=x["addChannel"])
    toggle(dialog.get_by_role("radio", name=x["web"], exact=True))
    _pick(admin, dialog, f"{x['sendTo']} · {x['group']}", x["sales"])
    dialog.get_by_role("button", name=x["save"], exact=True).click()
    expect(dialog).to_be_hidden()
    channel_rows = admin.locator(
        f'.el-table[aria-label="{x["channelTitle"]}"] .el-table__body tr.el-table__row'
    )
    expect(channel_rows).to_have_count(1)
    expect(channel_rows.first).to_contain_text(x["web"])
    expect(channel_rows.first).to_contain_text(x["allDayRule"])
    expect(channel_rows.first).to_contain_text(x["groupLabel"].format(x["sales"]))
    _settled(admin)
    _shot(admin, "rule-all-day", lang, full=True)

    v1: Page = new_page(lang)
    v1_log = _visitor_says(v1, widget["key"], x, x["v1"])
    expect(v1_log.get_by_text(x["greeting"])).to_be_visible()
    expect(v1_log.get_by_text(x["offMsg"])).to_have_count(0)
    expect(_items(a)).to_have_count(1)
    v1_name = _items(a).first.locator(".cl-name").inner_text()
    _items(a).first.click()
    a_log = a.get_by_role("log", name=x["log"])
    expect(a_log.get_by_text(x["v1"])).to_be_visible()
    expect(a_log.get_by_text(x["greeting"])).to_be_visible()
    expect(_items(b)).to_have_count(0)
    _shot(v1, "visitor1-greeted", lang)
    _shot(a, "agent-a-sessions", lang)

    # --- 3. split by plan 休息 (never working): off hours → 夜班; B gets visitor 2 -----------
    admin.get_by_role("button", name=x["editRow"]).click()
    dialog = admin.get_by_role("dialog", name=x["editChannel"])
    toggle(dialog.get_by_role("radio", name=x["split"]))
    _pick(admin, dialog, x["plan"], x["planNone"])
    on_group = dialog.get_by_role("combobox", name=f"{x['on']} · {x['group']}", exact=True)
    expect(
        on_group.locator("xpath=ancestor::div[contains(@class, 'el-select__wrapper')]")
    ).to_contain_text(x["sales"])
    off_type = dialog.get_by_role("radiogroup", name=f"{x['offHours']} · {x['sendTo']}")
    toggle(off_type.get_by_role("radio", name=x["group"], exact=True))
    _pick(admin, dialog, f"{x['offHours']} · {x['group']}", x["night"])
    _settled(admin)
    _shot(admin, "rule-split-dialog", lang)
    dialog.get_by_role("button", name=x["save"], exact=True).click()
    expect(dialog).to_be_hidden()
    expect(channel_rows.first).to_contain_text(f"{x['split']} · {x['planNone']}")
    expect(channel_rows.first).to_contain_text(x["groupLabel"].format(x["sales"]))
    expect(channel_rows.first).to_contain_text(x["groupLabel"].format(x["night"]))
    _settled(admin)
    _shot(admin, "rule-split", lang, full=True)

    v2: Page = new_page(lang)
    v2_log = _visitor_says(v2, widget["key"], x, x["v2"])
    expect(v2_log.get_by_text(x["offMsg"])).to_be_visible()
    expect(v2_log.get_by_text(x["greeting"])).to_have_count(0)
    expect(_items(b)).to_have_count(1)
    _items(b).first.click()
    b_log = b.get_by_role("log", name=x["log"])
    expect(b_log.get_by_text(x["v2"])).to_be_visible()
    expect(_items(a)).to_have_count(1)  # A still has only visitor 1
    _shot(v2, "visitor2-off-hours", lang)
    _shot(b, "agent-b-sessions", lang)

    # --- 4. hours-only dispatch ON (System switches): visitor 3 waits; B accepts by hand -------
    admin.goto("/admin/settings/switches")
    switch = admin.get_by_role("group", name=x["assignment"]).get_by_role(
        "switch", name=x["hoursOnly"]
    )
    expect(switch).not_to_be_checked()
    toggle(switch)
    expect(switch).to_be_checked()
    admin.wait_for_timeout(400)  # the switch's slide
    _shot(admin, "switch-hours-only", lang)

    v3: Page = new_page(lang)
    v3_log = _visitor_says(v3, widget["key"], x, x["v3"])
    expect(v3_log.get_by_text(x["offMsg"])).to_be_visible()
    expect(v3.get_by_text(x["queue"])).to_be_visible()
    _shot(v3, "visitor3-queued", lang)
    # B is idle with room, yet nothing is dispatched: 夜班 is off hours.
    assert b_api.http.get("/me").json()["status"] == "idle"
    b.wait_for_timeout(1000)
    expect(_items(b)).to_have_count(1)
    nav(b, x["waiting"])
    expect(b).to_have_url(re.compile(r"/agent/waiting"))
    row = b.get_by_test_id("waiting-row")
    expect(row).to_have_count(1)
    tr = row.first.locator("xpath=ancestor::tr")
    expect(tr).to_contain_text(x["night"])
    expect(tr).to_contain_text(x["offMsg"])  # the preview is the newest message
    v3_name = row.first.locator(".wt-vname").inner_text()
    b.wait_for_timeout(300)  # the count tag fades in
    _shot(b, "agent-b-waiting", lang)
    b.get_by_role("button", name=x["acceptRow"].format(v3_name)).click()
    expect(b).to_have_url(re.compile(r"/agent/sessions"))
    expect(b.get_by_role("log", name=x["log"]).get_by_text(x["v3"])).to_be_visible()
    expect(_items(b)).to_have_count(2)
    box = b.get_by_role("textbox", name=re.compile("输入消息|Message"))
    box.fill(x["replyB"])
    box.press("Enter")
    expect(v3_log.get_by_text(x["replyB"])).to_be_visible()
    expect(v3.get_by_text(x["queue"])).to_have_count(0)
    _shot(v3, "visitor3-served", lang)

    # --- 5. A transfers visitor 1 to B (transfer dialog); B has the whole history ------------
    a_box = a.get_by_role("textbox", name=re.compile("输入消息|Message"))
    a_box.fill(x["reply1"])
    a_box.press("Enter")
    expect(v1_log.get_by_text(x["reply1"])).to_be_visible()
    a.get_by_role("button", name=x["transfer"]).click()
    dialog = a.get_by_role("dialog", name=x["dialog"])
    dialog.get_by_role("option", name=re.compile(x["agentB"])).click()
    _shot(a, "transfer-dialog", lang)
    dialog.get_by_role("button", name=x["confirm"], exact=True).click()
    expect(a.get_by_text(x["outcomeDone"].format(x["agentB"]))).to_be_visible()
    expect(_items(a)).to_have_count(0)
    expect(_items(b)).to_have_count(3)
    v1_item = _items(b).filter(has=b.locator(".cl-name", has_text=re.compile(f"^{v1_name}$")))
    expect(v1_item).to_have_count(1)
    v1_item.click()
    b_log = b.get_by_role("log", name=x["log"])
    for text in (x["v1"], x["greeting"], x["reply1"]):
        expect(b_log.get_by_text(text)).to_be_visible()
    # The visitor's widget keeps working both ways with the new agent.
    v1_composer = v1.get_by_role("textbox", name=x["composer"])
    v1_composer.fill(x["v1again"])
    v1_composer.press("Enter")
    expect(b_log.get_by_text(x["v1again"])).to_be_visible()
    box.fill(x["replyB"])
    box.press("Enter")
    expect(v1_log.get_by_text(x["replyB"])).to_be_visible()
    _shot(b, "agent-b-transferred-in", lang)
    _shot(v1, "visitor1-after-transfer", lang)
    # And the server agrees: every ongoing conversation of the tenant is now B's.
    mine = b_api.http.get("/conversations").json()
    assert len(mine) == 3 and all(c["agent"]["id"] == b_id for c in mine), mine
    for c in (a_api, b_api, admin_api):
        c.close()
