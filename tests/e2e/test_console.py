"""The web console in a real browser against the real server (SPEC §1.1–1.4, §2.2, §24)."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from playwright.sync_api import Page, Route, expect

from tests.e2e.conftest import Server, Tenant
from tests.e2e.helpers import (
    ApiClient,
    login,
    logout,
    nav,
    toggle,
    totp_code,
    user_menu,
    wrong_totp_code,
)

pytestmark = pytest.mark.e2e


def test_admin_signs_in_to_admin_mode(page: Page, tenant: Tenant) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.get_by_role("checkbox", name="7 天内免登录")).not_to_be_checked()
    expect(page.get_by_role("checkbox", name="隐身登录")).not_to_be_checked()
    toggle(page.get_by_role("checkbox", name="7 天内免登录"))
    expect(page.get_by_role("checkbox", name="7 天内免登录")).to_be_checked()

    page.get_by_label("邮箱").fill(tenant.email)
    page.get_by_label("密码", exact=True).fill("wrong-password-1")
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page.get_by_role("form", name="登录客服工作台").get_by_role("alert")).to_contain_text(
        "邮箱或密码错误"
    )

    page.get_by_label("密码", exact=True).fill(tenant.password)
    page.get_by_label("密码", exact=True).press("Enter")
    expect(page).to_have_url(re.compile(r"/admin/"))
    expect(page.get_by_role("radio", name="管理员模式")).to_be_checked()
    expect(page.get_by_role("radio", name="客服模式")).not_to_be_checked()
    expect(page.get_by_text(tenant.name)).to_be_visible()
    menu = page.get_by_role("menubar")
    for title in ("成员管理", "系统设置", "管理员首页", "历史会话", "智能机器人", "工单"):
        expect(menu.get_by_role("menuitem", name=title, exact=True)).to_be_visible()

    # A page that is not built yet shows its title and a muted notice.
    nav(page, "素材库")
    expect(page.get_by_role("heading", name="素材库")).to_be_visible()
    expect(page.get_by_text("该模块尚未开放")).to_be_visible()

    # Agent mode has its own navigation.
    toggle(page.get_by_role("radio", name="客服模式"))
    expect(page).to_have_url(re.compile(r"/agent/"))
    expect(
        page.get_by_role("menubar").get_by_role("menuitem", name="待接入", exact=True)
    ).to_be_visible()


def test_two_factor_enrolment_and_sign_in(page: Page, tenant: Tenant) -> None:
    login(page, tenant.email, tenant.password)
    user_menu(page).click()
    page.get_by_role("menuitem", name="个人信息").click()
    expect(page.get_by_role("heading", name="个人信息")).to_be_visible()
    expect(page.get_by_test_id("my-email")).to_have_text(tenant.email)

    mfa = page.get_by_role("region", name="两步验证")
    expect(mfa.get_by_test_id("mfa-status")).to_have_text("未开启")
    mfa.get_by_role("button", name="开启两步验证").click()
    secret = mfa.get_by_test_id("mfa-secret").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret), secret
    expect(mfa.get_by_test_id("mfa-uri")).to_contain_text("otpauth://totp/")
    expect(mfa.get_by_role("img", name="两步验证二维码")).to_be_visible()

    mfa.get_by_label("验证码").fill(wrong_totp_code(secret))
    mfa.get_by_role("button", name="验证并开启").click()
    expect(mfa.get_by_role("alert")).to_be_visible()
    mfa.get_by_label("验证码").fill(totp_code(secret))
    mfa.get_by_label("验证码").press("Enter")
    expect(mfa.get_by_test_id("mfa-status")).to_have_text("已开启")

    logout(page)
    page.get_by_label("邮箱").fill(tenant.email)
    page.get_by_label("密码", exact=True).fill(tenant.password)
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page.get_by_role("heading", name="两步验证")).to_be_visible()
    code = page.get_by_label("验证码")
    code.fill(wrong_totp_code(secret))
    code.press("Enter")
    expect(page.get_by_role("form", name="两步验证").get_by_role("alert")).to_contain_text("验证码")
    code.fill(totp_code(secret))
    page.get_by_role("button", name="验证并登录").click()
    expect(page).to_have_url(re.compile(r"/admin/"))
    expect(user_menu(page)).to_be_visible()


def test_add_agent_before_the_roles_arrive_gets_the_default_role(new_page, tenant: Tenant) -> None:  # type: ignore[no-untyped-def]
    """The members page loads its roles in parallel; an admin quick enough to open "add agent"
    before they arrive must still be able to save (the dialog takes the default role late)."""
    page: Page = new_page()
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route("**/api/v1/roles", hold)
    login(page, tenant.email, tenant.password)
    with page.expect_request("**/api/v1/roles"):
        nav(page, "成员管理", "客服管理")
    expect(page.get_by_test_id("seat-usage")).to_be_visible()
    page.get_by_role("button", name="添加客服").click()
    dialog = page.get_by_role("dialog", name="添加客服")
    suffix = uuid.uuid4().hex[:6]
    dialog.get_by_label("昵称").fill(f"小李{suffix}")
    dialog.get_by_label("登录邮箱").fill(f"late-roles-{suffix}@example.com")
    dialog.get_by_label("初始密码").fill("Agent1234x")
    assert held, "the roles request should still be held"
    for route in held:
        route.continue_()
    page.unroute("**/api/v1/roles")
    # The roles arrive, and the open dialog takes the default one (what a person sees before
    # pressing Save).
    expect(dialog.locator(".el-select").filter(has_text="客服")).to_be_visible()
    dialog.get_by_role("button", name="保存").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("seat-usage")).to_have_text("已启用 2 / 购买坐席 5")


def test_members_page_and_agent_sign_in(new_page, server: Server, tenant: Tenant) -> None:  # type: ignore[no-untyped-def]
    page: Page = new_page()
    login(page, tenant.email, tenant.password)
    nav(page, "成员管理", "客服管理")
    expect(page.get_by_test_id("seat-usage")).to_have_text("已启用 1 / 购买坐席 5")

    suffix = uuid.uuid4().hex[:6]
    agent_email = f"agent-{suffix}@example.com"
    agent_password = "Agent1234x"
    page.get_by_role("button", name="添加客服").click()
    dialog = page.get_by_role("dialog", name="添加客服")
    dialog.get_by_label("昵称").fill(f"小王{suffix}")
    dialog.get_by_label("真实姓名").fill("王小明")
    dialog.get_by_label("登录邮箱").fill(agent_email)
    dialog.get_by_label("初始密码").fill(agent_password)
    dialog.get_by_label("工号").fill(f"A{suffix}")
    dialog.get_by_label("手机号").fill("13800138000")
    toggle(dialog.get_by_role("radio", name="全渠道客服"))
    dialog.get_by_role("button", name="保存").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("seat-usage")).to_have_text("已启用 2 / 购买坐席 5")

    # Exact search finds the agent by email; a partial value finds nobody; × clears.
    search = page.get_by_label("搜索客服")
    search.fill(agent_email)
    search.press("Enter")
    rows = page.locator(".kf-agents .el-table__body-wrapper tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(f"小王{suffix}")
    expect(rows.first).to_contain_text("全渠道客服")
    search.fill(f"agent-{suffix}")
    search.press("Enter")
    expect(page.get_by_text(f"没有找到与“agent-{suffix}”完全匹配的客服")).to_be_visible()
    search.hover()
    page.locator(".kf-search .el-input__clear").click()
    expect(rows).to_have_count(2)

    # Disable and enable again.
    switch = page.get_by_role("switch", name=f"启用账号 小王{suffix}")
    expect(switch).to_be_checked()
    toggle(switch)
    expect(switch).not_to_be_checked()
    expect(page.get_by_test_id("seat-usage")).to_have_text("已启用 1 / 购买坐席 5")
    toggle(switch)
    expect(switch).to_be_checked()

    # Fill the remaining seats, then enabling one more account is refused with the API's message.
    api = ApiClient(server.base_url, tenant.email, tenant.password)
    try:
        for i in range(3):
            api.create_agent(f"fill-{i}-{suffix}@example.com", f"占位{i}{suffix}")
        api.create_agent(f"spare-{suffix}@example.com", f"备用{suffix}", enabled=False)
    finally:
        api.close()
    page.reload()
    expect(page.get_by_test_id("seat-usage")).to_have_text("已启用 5 / 购买坐席 5")
    spare = page.get_by_role("switch", name=f"启用账号 备用{suffix}")
    expect(spare).not_to_be_checked()
    toggle(spare)
    expect(page.get_by_text("启用的账号数不能超过购买的坐席数")).to_be_visible()
    expect(spare).not_to_be_checked()

    # The agent signs in and has agent mode only.
    agent_page: Page = new_page()
    login(agent_page, agent_email, agent_password)
    expect(agent_page).to_have_url(re.compile(r"/agent/"))
    expect(agent_page.get_by_role("radio", name="管理员模式")).to_have_count(0)
    expect(agent_page.get_by_text("管理员模式")).to_have_count(0)
    expect(
        agent_page.get_by_role("menubar").get_by_role("menuitem", name="会话", exact=True)
    ).to_be_visible()
    expect(
        agent_page.get_by_role("menubar").get_by_role("menuitem", name="成员管理")
    ).to_have_count(0)
    agent_page.goto("/admin/members/agents")
    expect(agent_page).to_have_url(re.compile(r"/agent/"))


def test_language_switch_is_saved_per_user(new_page, tenant: Tenant) -> None:  # type: ignore[no-untyped-def]
    page: Page = new_page()
    login(page, tenant.email, tenant.password)
    expect(page.get_by_role("radio", name="管理员模式")).to_be_checked()

    page.get_by_role("button", name="切换语言").click()
    page.get_by_role("menuitem", name="English").click()
    expect(page.get_by_role("radio", name="Admin mode")).to_be_attached()
    # Saved to the account (the next page load reads it from there): wait for the confirmation.
    expect(page.get_by_text("The interface is now in English")).to_be_visible()
    expect(
        page.get_by_role("menubar").get_by_role("menuitem", name="Members", exact=True)
    ).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")

    page.reload()
    expect(page.get_by_role("radio", name="Admin mode")).to_be_attached()

    logout(page)
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()

    # A fresh browser starts in Chinese; the user's saved language applies after sign-in.
    other: Page = new_page()
    other.goto("/login")
    expect(other.get_by_role("button", name="登录", exact=True)).to_be_visible()
    login(other, tenant.email, tenant.password)
    expect(other.get_by_role("radio", name="Admin mode")).to_be_attached()
    expect(other.get_by_role("button", name="User menu")).to_be_visible()

    # Switching back to Chinese works the same way.
    other.get_by_role("button", name="Change language").click()
    other.get_by_role("menuitem", name="简体中文").click()
    expect(other.get_by_role("radio", name="管理员模式")).to_be_attached()


def test_a_reload_before_the_language_is_saved_keeps_it(
    new_page, server: Server, tenant: Tenant
) -> None:  # type: ignore[no-untyped-def]
    """The switch's PATCH /me is slow (held here) and the user reloads before it answers: the
    console comes back in the language just chosen, not the server's old one, and saves it."""
    page: Page = new_page()
    login(page, tenant.email, tenant.password)
    expect(page.get_by_role("radio", name="管理员模式")).to_be_checked()
    held: list[Route] = []

    def hold_first_save(route: Route) -> None:
        if route.request.method == "PATCH" and not held:
            held.append(route)  # never answered: the reload abandons it
            return
        route.continue_()

    page.route("**/api/v1/me", hold_first_save)
    page.get_by_role("button", name="切换语言").click()
    page.get_by_role("menuitem", name="English").click()
    expect(page.get_by_role("radio", name="Admin mode")).to_be_attached()
    # The route handler runs when Playwright next dispatches events: the UI may switch first
    # (a fresh-clone CI on a slow machine found `held` still empty here).
    deadline = time.monotonic() + 10
    while not held:
        assert time.monotonic() < deadline, "switching the language sent no PATCH /me"
        page.wait_for_timeout(50)
    assert len(held) == 1
    page.reload()
    expect(page.get_by_role("radio", name="Admin mode")).to_be_attached()
    admin = ApiClient(server.base_url, tenant.email, tenant.password)
    deadline = time.monotonic() + 10
    while admin.http.get("/me").json()["language"] != "en":  # saved by the reloaded page
        assert time.monotonic() < deadline, "the pending language was never saved"
        time.sleep(0.1)
    page.unroute("**/api/v1/me", hold_first_save)


def test_role_change_and_disable_reach_an_open_console(
    page: Page, server: Server, tenant: Tenant
) -> None:
    """Over the WebSocket: a promoted agent is told to sign in again; disabled, signed out."""
    admin = ApiClient(server.base_url, tenant.email, tenant.password)
    email = f"ws-{uuid.uuid4().hex[:8]}@example.com"
    agent = admin.create_agent(email, "实时客服")
    login(page, email, "Agent1234x")
    expect(page).to_have_url(re.compile(r"/agent/"))
    admin_role = next(r["id"] for r in admin.http.get("/roles").json() if r["builtin"] == "admin")
    promoted = admin.http.patch(f"/users/{agent['id']}", json={"role_id": admin_role})
    assert promoted.status_code == 200
    expect(page.get_by_text("重新登录后生效").first).to_be_visible(timeout=10_000)
    assert admin.http.patch(f"/users/{agent['id']}", json={"enabled": False}).status_code == 200
    expect(page).to_have_url(re.compile(r"/login"), timeout=10_000)


def test_logo_and_avatar_uploads(page: Page, server: Server, tenant: Tenant, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Enterprise logo and personal avatar through the real file inputs, checked by the server."""
    import io

    from PIL import Image

    png = tmp_path / "logo.png"
    buf = io.BytesIO()
    Image.new("RGB", (40, 40), (10, 120, 200)).save(buf, "PNG")
    png.write_bytes(buf.getvalue())
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"not really a png")
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + b"0" * (2 * 1024 * 1024 + 10))

    login(page, tenant.email, tenant.password)
    page.goto("/admin/settings/enterprise")
    upload = page.locator('input[type="file"]')
    upload.set_input_files(str(big))
    expect(page.get_by_text("图片不能超过 2 MB")).to_be_visible()
    upload.set_input_files(str(fake))  # right type and size: only the server can tell
    expect(page.get_by_text("仅支持 PNG/GIF/JPG 格式的文件")).to_be_visible()
    upload.set_input_files(str(png))
    expect(page.get_by_text("Logo 已更新")).to_be_visible()
    api = ApiClient(server.base_url, tenant.email, tenant.password)
    logo_url = api.http.get("/tenant").json()["logo_url"]
    logo = api.http.get(logo_url.replace("/api/v1", ""))
    assert logo.headers["content-type"] == "image/png" and logo.content == buf.getvalue()

    page.goto("/admin/personal")
    page.locator('input[type="file"]').set_input_files(str(png))
    expect(page.get_by_text("已保存").first).to_be_visible()
    me = api.http.get("/me").json()
    avatar = api.http.get(me["avatar_url"].replace("/api/v1", ""))
    assert avatar.headers["content-type"] == "image/png"


def test_status_switcher_and_forced_status(page: Page, server: Server, tenant: Tenant) -> None:
    """An agent comes online as Idle, switches to Busy; an admin forces Away; all seen live."""
    admin = ApiClient(server.base_url, tenant.email, tenant.password)
    email = f"st-{uuid.uuid4().hex[:8]}@example.com"
    agent = admin.create_agent(email, "状态客服")
    login(page, email, "Agent1234x")
    status = page.get_by_role("button", name=re.compile(r"^在线状态"))
    expect(status).to_contain_text("空闲")
    status.click()
    page.get_by_role("menuitem", name="忙碌").click()
    expect(status).to_contain_text("忙碌")
    presence = {p["user_id"]: p["status"] for p in admin.http.get("/presence").json()}
    assert presence[agent["id"]] == "busy"
    forced = admin.http.put(f"/users/{agent['id']}/status", json={"status": "away"})
    assert forced.status_code == 200, forced.text
    expect(status).to_contain_text("离开")


def test_agent_list_shows_presence_live(new_page, server: Server, tenant: Tenant) -> None:  # type: ignore[no-untyped-def]
    """The admin's agent list turns an agent's dot green when they open the console."""
    admin = ApiClient(server.base_url, tenant.email, tenant.password)
    email = f"live-{uuid.uuid4().hex[:8]}@example.com"
    admin.create_agent(email, "上线客服")
    admin_page = new_page()
    login(admin_page, tenant.email, tenant.password)
    admin_page.goto("/admin/members/agents")
    row = admin_page.get_by_role("row").filter(has_text="上线客服")
    expect(row.get_by_role("img", name="离线")).to_be_visible()
    agent_page = new_page()
    login(agent_page, email, "Agent1234x")
    expect(row.get_by_role("img", name="空闲")).to_be_visible(timeout=10_000)
