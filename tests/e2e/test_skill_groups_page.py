"""Members > Skill groups and the favourite-groups card in a real browser (SPEC §5.2, §24)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, Tenant
from tests.e2e.helpers import ApiClient, login, toggle

pytestmark = pytest.mark.e2e
SHOTS = Path("/tmp/shots")  # noqa: S108

TEXT = {
    "zh-CN": {
        "title": "技能组",
        "ungrouped": "未分组",
        "builtin": "内置",
        "new": "新建技能组",
        "name": "名称",
        "greeting": "技能组问候语",
        "least": "分配给接待人数最少的客服",
        "prefer": "优先分配给上次接待过该访客的客服",
        "create": "创建",
        "created": "已创建",
        "counts0": "成员 0 · 空闲 0",
        "counts1": "成员 1 · 空闲 0",
        "code": "代码模式",
        "emails": "登录邮箱列表",
        "add": "添加到本组",
        "added": "已添加 (1)",
        "unknown": "未找到的账号 (1)",
        "close": "关闭",
        "members": "成员",
        "search": "搜索昵称或登录邮箱",
        "offline": "离线",
        "nomatch": "没有符合条件的成员",
        "invalid": "名称只能包含中文、英文字母和数字",
        "fav": "常用技能组",
        "edit": "编辑",
        "editTitle": "编辑常用技能组",
        "save": "保存",
        "favEmpty": "还没有设置常用技能组",
        "personal": "个人信息",
        "group": "售后服务",
        "agent": "小王",
        "note": "由系统自动计算",
    },
    "en": {
        "title": "Skill groups",
        "ungrouped": "Ungrouped",
        "builtin": "Built-in",
        "new": "New group",
        "name": "Name",
        "greeting": "Group greeting",
        "least": "Agent serving the fewest sessions",
        "prefer": "Prefer the agent who served this visitor last time",
        "create": "Create",
        "created": "created",
        "counts0": "Members 0 · Idle 0",
        "counts1": "Members 1 · Idle 0",
        "code": "Code mode",
        "emails": "Login emails",
        "add": "Add to group",
        "added": "Added (1)",
        "unknown": "No such account (1)",
        "close": "Close",
        "members": "Members",
        "search": "Search nickname or login email",
        "offline": "Offline",
        "nomatch": "No member matches",
        "invalid": "Use only Chinese characters, letters and digits",
        "fav": "Favourite skill groups",
        "edit": "Edit",
        "editTitle": "Edit favourite skill groups",
        "save": "Save",
        "favEmpty": "No favourite skill groups yet",
        "personal": "Personal info",
        "group": "AfterSales",
        "agent": "Wang",
        "note": "Kefu computes it",
    },
}


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_create_group_code_mode_filter_and_favourites(  # type: ignore[no-untyped-def]
    new_page, server: Server, tenant: Tenant, lang: str
) -> None:
    x = TEXT[lang]
    suffix = uuid.uuid4().hex[:6]
    agent_email = f"wang-{suffix}@example.com"
    admin_api = ApiClient(server.base_url, tenant.email, tenant.password)
    try:
        admin_api.create_agent(agent_email, x["agent"])
        assert admin_api.http.patch("/me", json={"language": lang}).status_code == 200
    finally:
        admin_api.close()

    page: Page = new_page(lang)
    login(page, tenant.email, tenant.password, lang=lang)
    page.goto("/admin/members/skill-groups")
    expect(page.get_by_role("heading", name=x["title"], exact=True)).to_be_visible()
    groups = page.get_by_role("listbox", name=re.compile(x["title"]))
    ungrouped = groups.get_by_role("option").first
    expect(ungrouped).to_contain_text(x["ungrouped"])
    expect(ungrouped).to_contain_text(x["builtin"])
    expect(ungrouped).to_have_attribute("aria-selected", "true")
    # Ungrouped: the name is locked and members are read-only.
    expect(page.get_by_label(x["name"], exact=True)).to_be_disabled()
    expect(page.get_by_text(x["note"])).to_be_visible()
    expect(page.get_by_role("button", name=x["code"])).to_have_count(0)
    expect(page.get_by_role("cell", name=x["agent"], exact=True)).to_be_visible()
    _shot(page, f"skill-groups-ungrouped-{lang}")

    # Create a group; a name with a hyphen is refused before it reaches the server.
    page.get_by_role("button", name=x["new"]).click()
    page.get_by_label(x["name"], exact=True).fill("After-Sales")
    page.get_by_role("button", name=x["create"], exact=True).click()
    expect(page.get_by_text(x["invalid"])).to_be_visible()
    page.get_by_label(x["name"], exact=True).fill(x["group"])
    page.get_by_label(x["greeting"]).fill("您好，这里是售后服务" if lang == "zh-CN" else "Hello!")
    toggle(page.get_by_role("radio", name=x["least"]))
    prefer = page.get_by_role("checkbox", name=x["prefer"])
    expect(prefer.locator("xpath=..")).to_be_visible()
    toggle(prefer)
    page.get_by_role("button", name=x["create"], exact=True).click()
    expect(page.get_by_text(x["created"]).first).to_be_visible()
    made = groups.get_by_role("option", name=re.compile(x["group"]))
    expect(made).to_have_attribute("aria-selected", "true")
    expect(made).to_contain_text(x["counts0"])
    expect(page.get_by_role("radio", name=x["least"])).to_be_checked()
    expect(page.get_by_role("checkbox", name=x["prefer"])).to_be_checked()

    # Code mode: one email per line; the unknown one is reported.
    page.get_by_role("button", name=x["code"]).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label(x["emails"]).fill(f"{agent_email.upper()}\n\nnobody-{suffix}@example.com\n")
    dialog.get_by_role("button", name=x["add"]).click()
    result = dialog.get_by_role("status")
    expect(result.get_by_test_id("code-added")).to_contain_text(x["added"])
    expect(result.get_by_test_id("code-added")).to_contain_text(agent_email)
    expect(result.get_by_test_id("code-unknown")).to_contain_text(x["unknown"])
    _shot(page, f"skill-groups-code-mode-{lang}")
    dialog.get_by_role("button", name=x["close"], exact=True).click()
    expect(page.get_by_role("cell", name=x["agent"], exact=True)).to_be_visible()
    expect(made).to_contain_text(x["counts1"])

    # Filters: the search box and the status checkboxes (all ticked at first).
    search = page.get_by_label(x["search"])
    search.fill("nobody")
    expect(page.get_by_text(x["nomatch"])).to_be_visible()
    search.fill("WANG")
    expect(page.get_by_role("cell", name=x["agent"], exact=True)).to_be_visible()
    offline = page.get_by_role("checkbox", name=x["offline"])
    expect(offline).to_be_checked()
    toggle(offline)
    expect(offline).not_to_be_checked()
    expect(page.get_by_text(x["nomatch"])).to_be_visible()
    page.get_by_role("region", name=x["members"], exact=True).scroll_into_view_if_needed()
    _shot(page, f"skill-groups-filtered-{lang}")
    toggle(offline)
    expect(page.get_by_role("cell", name=x["agent"], exact=True)).to_be_visible()
    _shot(page, f"skill-groups-members-{lang}")

    # Personal page: pick the group as a favourite.
    page.goto("/agent/personal")
    card = page.get_by_role("region", name=x["fav"])
    expect(card.get_by_test_id("favourite-groups")).to_have_text(x["favEmpty"])
    card.get_by_role("button", name=x["edit"]).click()
    dialog = page.get_by_role("dialog", name=x["editTitle"])
    toggle(dialog.get_by_role("checkbox", name=x["group"]))
    _shot(page, f"personal-favourite-groups-dialog-{lang}")
    dialog.get_by_role("button", name=x["save"]).click()
    expect(dialog).to_be_hidden()
    expect(card.get_by_test_id("favourite-groups")).to_contain_text(x["group"])
    _shot(page, f"personal-favourite-groups-{lang}")
    page.reload()
    expect(
        page.get_by_role("region", name=x["fav"]).get_by_test_id("favourite-groups")
    ).to_contain_text(x["group"])
