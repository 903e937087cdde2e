"""Settings > Time plans in a real browser (SPEC §5.1): build a plan, save, reload, delete.

Screenshots go to /tmp/shots/time-plans-*.png.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import Server, Tenant
from tests.e2e.helpers import ApiClient, login

pytestmark = pytest.mark.e2e
SHOTS = Path("/tmp/shots")  # noqa: S108

TEXT = {
    "zh-CN": {
        "title": "时间计划",
        "default": "系统默认",
        "default_tag": "默认",
        "working": "上班中",
        "new": "新建时间计划",
        "name": "名称",
        "mon": "周一",
        "tue": "周二",
        "copy": "将周一复制到周二至周五",
        "overlap": "同一天的时间段不能重叠",
        "holiday": "节假日日期",
        "save": "保存",
        "created": "时间计划“{}”已创建",
        "delete": "删除计划",
        "confirm_delete": "删除",
        "deleted": "时间计划“{}”已删除",
        "zone": "Asia/Shanghai",
        "rest": "休息",
        "sat": "周六",
    },
    "en": {
        "title": "Time plans",
        "default": "System default",
        "default_tag": "Default",
        "working": "Working",
        "new": "New time plan",
        "name": "Name",
        "mon": "Mon",
        "tue": "Tue",
        "copy": "Copy Monday to Tue–Fri",
        "overlap": "Ranges of one day must not overlap",
        "holiday": "Holiday date",
        "save": "Save",
        "created": 'Time plan "{}" created',
        "delete": "Delete plan",
        "confirm_delete": "Delete",
        "deleted": 'Time plan "{}" deleted',
        "zone": "Asia/Shanghai",
        "rest": "Rest day",
        "sat": "Sat",
    },
}


def time_field(page: Page, label: str) -> Locator:
    return page.get_by_role("combobox", name=label, exact=True)


def shown_time(page: Page, label: str) -> Locator:
    """The select around a time field (it shows the chosen time as text)."""
    return page.locator(".el-select", has=time_field(page, label))


def pick_time(page: Page, label: str, value: str) -> None:
    field = time_field(page, label)
    shown_time(page, label).click()
    field.fill(value)
    field.press("Enter")
    expect(shown_time(page, label)).to_contain_text(value)


def range_label(lang: str, day: str, n: int, side: str) -> str:
    if lang == "zh-CN":
        return f"{day}第 {n} 段{'开始' if side == 'start' else '结束'}时间"
    return f"{day} range {n} {side}"


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_build_a_plan_save_reload_and_delete(
    page: Page, server: Server, tenant: Tenant, lang: str
) -> None:
    x = TEXT[lang]
    tag = "zh" if lang == "zh-CN" else "en"
    api = ApiClient(server.base_url, tenant.email, tenant.password)
    api.http.patch("/me", json={"language": lang}).raise_for_status()
    api.close()
    login(page, tenant.email, tenant.password, lang=lang)
    page.goto("/admin/settings/time-plans")
    expect(page.get_by_role("heading", name=x["title"])).to_be_visible(timeout=15_000)

    plans = page.get_by_role("navigation", name=re.compile("时间计划列表|Time plans"))
    default = plans.get_by_role("button", name=re.compile(x["default"]))
    expect(default).to_contain_text(x["default_tag"])
    # The default plan serves around the clock until hours are set.
    expect(default).to_contain_text(x["working"])
    expect(page.get_by_text(x["zone"])).to_be_visible()

    page.get_by_role("button", name=x["new"]).click()
    name = "工作日白班" if lang == "zh-CN" else "Weekday shift"
    page.get_by_label(x["name"], exact=True).fill(name)
    # New plans start with 09:00–18:00 on weekdays; make Monday 09:00–12:00 and 13:30–18:00.
    pick_time(page, range_label(lang, x["mon"], 1, "end"), "12:00")
    add_on_monday = "周一添加时间段" if lang == "zh-CN" else "Add a range on Mon"
    page.get_by_role("button", name=add_on_monday).click()
    expect(shown_time(page, range_label(lang, x["mon"], 2, "start"))).to_contain_text("12:00")
    pick_time(page, range_label(lang, x["mon"], 2, "end"), "18:00")
    # An overlapping range is flagged at once, then fixed.
    pick_time(page, range_label(lang, x["mon"], 2, "start"), "11:00")
    expect(page.get_by_role("alert").filter(has_text=x["overlap"])).to_be_visible()
    pick_time(page, range_label(lang, x["mon"], 2, "start"), "13:30")
    expect(page.get_by_role("alert").filter(has_text=x["overlap"])).to_have_count(0)
    # Saturday stays a rest day.
    week = page.get_by_role("group", name=re.compile("每周上班时间|Weekly working hours"))
    expect(week.locator(".kf-tp-row").nth(5)).to_contain_text(x["rest"])

    # A custom workday on a Sunday, with the default 09:00-18:00.
    page.get_by_role("button", name=re.compile("添加自定义工作日|Add custom workday")).click()
    workday = page.get_by_label(re.compile("第 1 个自定义工作日的日期|Date of custom workday 1"))
    workday.fill("2026-10-11")
    workday.press("Enter")

    holiday = page.get_by_label(x["holiday"])
    holiday.fill("2026-10-01")
    holiday.press("Enter")
    holidays = page.get_by_role("list", name=re.compile("节假日|Holidays"))
    expect(holidays).to_contain_text("2026-10-01")
    shot(page, f"time-plans-editing-{tag}")

    page.get_by_role("button", name=x["save"], exact=True).click()
    expect(page.get_by_text(x["created"].format(name))).to_be_visible()
    expect(plans.get_by_role("button", name=re.compile(name))).to_have_attribute(
        "aria-current", "true"
    )
    expect(page).to_have_url(re.compile(r"plan=\d+"))

    page.reload()
    expect(page.get_by_label(x["name"], exact=True)).to_have_value(name, timeout=15_000)
    expect(shown_time(page, range_label(lang, x["mon"], 1, "start"))).to_contain_text("09:00")
    expect(shown_time(page, range_label(lang, x["mon"], 1, "end"))).to_contain_text("12:00")
    expect(shown_time(page, range_label(lang, x["mon"], 2, "start"))).to_contain_text("13:30")
    expect(shown_time(page, range_label(lang, x["mon"], 2, "end"))).to_contain_text("18:00")
    expect(time_field(page, range_label(lang, x["tue"], 2, "start"))).to_have_count(0)
    expect(page.get_by_role("list", name=re.compile("节假日|Holidays"))).to_contain_text(
        "2026-10-01"
    )
    expect(
        page.get_by_label(re.compile("第 1 个自定义工作日的日期|Date of custom workday 1"))
    ).to_have_value("2026-10-11")
    # The list shows whether the plan is in working time right now.
    expect(plans.get_by_role("button", name=re.compile(name)).locator(".kf-tp-state")).to_have_text(
        re.compile("上班中|下班中|Working|Off")
    )
    shot(page, f"time-plans-saved-{tag}")

    # Copy Monday to the other weekdays, save, and Tuesday has both ranges.
    page.get_by_role("button", name=x["copy"]).click()
    expect(shown_time(page, range_label(lang, x["tue"], 2, "start"))).to_contain_text("13:30")
    page.keyboard.press("Control+s")
    expect(page.get_by_text(re.compile("时间计划已保存|Time plan saved"))).to_be_visible()
    page.reload()
    expect(shown_time(page, range_label(lang, x["tue"], 2, "end"))).to_contain_text(
        "18:00", timeout=15_000
    )

    # The default plan cannot be deleted; this one can, after a confirmation.
    plans.get_by_role("button", name=re.compile(x["default"])).click()
    expect(page.get_by_role("button", name=x["delete"])).to_have_count(0)
    shot(page, f"time-plans-default-{tag}")
    plans.get_by_role("button", name=re.compile(name)).click()
    page.get_by_role("button", name=x["delete"]).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(name)
    dialog.get_by_role("button", name=x["confirm_delete"], exact=True).click()
    expect(page.get_by_text(x["deleted"].format(name))).to_be_visible()
    expect(plans.get_by_role("button", name=re.compile(name))).to_have_count(0)
