"""Screenshots of every console screen in zh-CN and en, saved to /tmp/kefu-shots/ (or
$KEFU_SHOTS_DIR) so people can look at them. Run on demand:

    .venv/bin/python -m pytest tests/e2e -m screenshots
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, create_tenant
from tests.e2e.helpers import ApiClient, login, login_language, totp_code

pytestmark = [pytest.mark.e2e, pytest.mark.screenshots]

OUT = Path(os.environ.get("KEFU_SHOTS_DIR", "/tmp/kefu-shots"))  # noqa: S108

AGENTS = [
    ("wangxm", "小王", "王小明", "1001", "13800138001"),
    ("lina", "李娜", "李娜", "1002", "13800138002"),
    ("zhaolei", "赵磊", "赵磊", "1003", "13800138003"),
    ("chenjing", "陈静", "陈静", "1004", "13800138004"),
]


def _seed(server: Server, email: str, password: str) -> dict:
    api = ApiClient(server.base_url, email, password)
    http = api.http
    agent_role = api.agent_role_id()
    users = []
    for i, (login_name, nick, real, number, mobile) in enumerate(AGENTS):
        res = http.post(
            "/users",
            json={
                "email": f"{login_name}@example.com",
                "password": "Agent1234x",
                "nickname": nick,
                "real_name": real,
                "employee_number": number,
                "mobile": mobile,
                "role_id": agent_role,
                "agent_type": ["online", "omni", "ticket", "call_center"][i],
                "max_concurrent": [10, 15, 8, 12][i],
                "enabled": i < 3,
            },
        )
        assert res.status_code == 201, res.text
        users.append(res.json())
    root = http.get("/teams").json()[0]
    east = http.post("/teams", json={"name": "华东大区", "parent_id": root["id"]}).json()
    east_id = next(t["id"] for t in _flat(east) if t["name"] == "华东大区")
    http.post("/teams", json={"name": "售前咨询组", "parent_id": east_id})
    http.post("/teams", json={"name": "售后服务组", "parent_id": east_id})
    http.put(f"/teams/{east_id}/members", json={"user_ids": [users[0]["id"], users[1]["id"]]})
    res = http.post(
        "/roles",
        json={
            "name": "质检主管",
            "pages": [
                "agent.sessions",
                "agent.history",
                "agent.personal",
                "admin.qa",
                "admin.history",
                "admin.history.transfers",
                "admin.stats",
            ],
            "data_scopes": {
                "customers": "skill_group",
                "history": "team",
                "current_sessions": "tenant",
            },
            "require_mfa": False,
        },
    )
    assert res.status_code == 201, res.text
    http.patch(
        "/tenant", json={"phone": "021-5555 0000", "address": "上海市浦东新区世纪大道 100 号"}
    )
    api.close()
    return {"agent_email": "wangxm@example.com", "agent_password": "Agent1234x"}


def _flat(teams: list[dict]) -> list[dict]:
    out = []
    for t in teams:
        out.append(t)
        out.extend(_flat(t.get("children") or []))
    return out


def _shot(page: Page, name: str) -> None:
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(350)  # let transitions settle
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=False)


def test_screenshots(new_page, server: Server) -> None:  # type: ignore[no-untyped-def]
    OUT.mkdir(parents=True, exist_ok=True)
    tenant = create_tenant(server, name="上海示例电子商务有限公司")
    seed = _seed(server, tenant.email, tenant.password)

    for lang in ("zh-CN", "en"):
        zh = lang == "zh-CN"
        tag = "zh" if zh else "en"
        api = ApiClient(server.base_url, tenant.email, tenant.password)
        api.http.patch("/me", json={"language": lang})
        api.close()

        page: Page = new_page()
        page.goto("/login")
        login_language(page, lang)
        _shot(page, f"{tag}-01-login")
        page.get_by_role("link", name=re.compile("忘记密码|Forgot password")).click()
        _shot(page, f"{tag}-02-forgot-password")
        page.goto("/reset-password?token=example-token-1234567890")
        _shot(page, f"{tag}-03-reset-password")

        login(page, tenant.email, tenant.password, lang=lang)
        _shot(page, f"{tag}-04-admin-home")
        page.goto("/admin/members/agents")
        expect(page.locator(".kf-agents tbody tr").first).to_be_visible()
        _shot(page, f"{tag}-05-agents")
        page.get_by_role("button", name="添加客服" if zh else "Add agent").click()
        _shot(page, f"{tag}-06-agent-add")
        page.keyboard.press("Escape")
        page.get_by_role("button", name=("编辑 " if zh else "Edit ") + "小王").click()
        _shot(page, f"{tag}-07-agent-edit")
        page.keyboard.press("Escape")

        page.goto("/admin/members/teams")
        page.get_by_role("tree").get_by_text("华东大区").click()
        _shot(page, f"{tag}-08-teams")
        page.get_by_role("button", name="编辑成员" if zh else "Edit members").click()
        _shot(page, f"{tag}-09-team-members")

        page.goto("/admin/settings/permissions")
        _shot(page, f"{tag}-10-permissions")
        page.get_by_role("button", name=("编辑 " if zh else "Edit ") + "质检主管").click()
        _shot(page, f"{tag}-11-role-edit")
        page.keyboard.press("Escape")
        page.get_by_role("button", name=re.compile(r"^(查看|View) (客服|Agent)$")).first.click()
        _shot(page, f"{tag}-12-role-builtin")
        page.keyboard.press("Escape")

        page.goto("/admin/settings/enterprise")
        _shot(page, f"{tag}-13-enterprise")
        page.goto("/admin/settings/switches")
        _shot(page, f"{tag}-14-switches")
        page.goto("/admin/settings/audit")
        _shot(page, f"{tag}-15-audit")
        page.goto("/admin/settings/time-plans")
        _shot(page, f"{tag}-16-placeholder")
        page.goto("/admin/personal")
        _shot(page, f"{tag}-17-personal-admin")
        page.get_by_role("button", name="开启两步验证" if zh else "Turn on two-factor").click()
        _shot(page, f"{tag}-18-personal-mfa-setup")

        agent: Page = new_page()
        api = ApiClient(server.base_url, seed["agent_email"], seed["agent_password"])
        api.http.patch("/me", json={"language": lang})
        api.close()
        login(agent, seed["agent_email"], seed["agent_password"], lang=lang)
        _shot(agent, f"{tag}-19-agent-mode")
        agent.goto("/agent/personal")
        _shot(agent, f"{tag}-20-agent-personal")

    # Sign-in steps with two-factor: enrolment demanded by the role, then the code step.
    api = ApiClient(server.base_url, tenant.email, tenant.password)
    roles = api.http.get("/roles").json()
    agent_role = next(r for r in roles if r["builtin"] == "agent")
    api.http.patch(f"/roles/{agent_role['id']}", json={"require_mfa": True})
    api.close()
    for lang in ("zh-CN", "en"):
        tag = "zh" if lang == "zh-CN" else "en"
        page = new_page()
        page.goto("/login")
        login_language(page, lang)
        email = "lina@example.com" if lang == "zh-CN" else "zhaolei@example.com"
        page.get_by_label("邮箱" if lang == "zh-CN" else "Email").fill(email)
        page.get_by_label("密码" if lang == "zh-CN" else "Password", exact=True).fill("Agent1234x")
        page.get_by_label("密码" if lang == "zh-CN" else "Password", exact=True).press("Enter")
        expect(page.get_by_test_id("mfa-secret")).to_be_visible()
        _shot(page, f"{tag}-21-login-mfa-setup")
        secret = page.get_by_test_id("mfa-secret").inner_text().strip()
        code = page.get_by_label("验证码" if lang == "zh-CN" else "Verification code")
        code.fill(totp_code(secret))
        code.press("Enter")
        expect(page).to_have_url(re.compile(r"/agent/"))
        page.context.clear_cookies()
        page.goto("/login")
        login_language(page, lang)
        page.get_by_label("邮箱" if lang == "zh-CN" else "Email").fill(email)
        page.get_by_label("密码" if lang == "zh-CN" else "Password", exact=True).fill("Agent1234x")
        page.get_by_label("密码" if lang == "zh-CN" else "Password", exact=True).press("Enter")
        expect(
            page.get_by_label("验证码" if lang == "zh-CN" else "Verification code")
        ).to_be_visible()
        _shot(page, f"{tag}-22-login-mfa-code")
