"""What a person does in the console, written once for every browser test."""

from __future__ import annotations

import re
import time

import httpx
import pyotp
from playwright.sync_api import Locator, Page, expect

# TOTP steps already spent per secret: the server accepts each step once.
_used_steps: dict[str, int] = {}


def totp_code(secret: str) -> str:
    """A code the server accepts now and has not seen: the current 30-second step, else the next
    one (the server allows ±1 step of clock drift), waiting only when both were used."""
    step = int(time.time()) // 30
    used = _used_steps.get(secret, -1)
    if used >= step:
        step = used + 1
    if step > int(time.time()) // 30 + 1:
        time.sleep(30 - time.time() % 30 + 0.5)
        step = int(time.time()) // 30
    _used_steps[secret] = step
    return pyotp.TOTP(secret).at(step * 30)


def wrong_totp_code(secret: str) -> str:
    """A code the server refuses: none of the steps it accepts now."""
    step = int(time.time()) // 30
    valid = {pyotp.TOTP(secret).at((step + d) * 30) for d in (-1, 0, 1, 2)}
    return next(c for c in ("000000", "111111", "222222", "333333", "444444") if c not in valid)


def login(
    page: Page, email: str, password: str, *, totp_secret: str | None = None, lang: str = "zh-CN"
) -> None:
    """Sign in through the form (and the code step when the account has two-factor on)."""
    zh = lang == "zh-CN"
    page.goto("/login")
    login_language(page, lang)
    page.get_by_label("邮箱" if zh else "Email").fill(email)
    page.get_by_label("密码" if zh else "Password", exact=True).fill(password)
    page.get_by_role("button", name="登录" if zh else "Sign in", exact=True).click()
    if totp_secret:
        code = page.get_by_label("验证码" if zh else "Verification code")
        expect(code).to_be_visible()
        code.fill(totp_code(totp_secret))
        code.press("Enter")
    expect(user_menu(page)).to_be_visible()


def toggle(control: Locator) -> None:
    """Click an Element Plus switch, radio button or checkbox: its native input is visually hidden,
    so the click goes to the element that wraps it (what a person clicks)."""
    control.locator("xpath=..").click()


def login_language(page: Page, lang: str) -> None:
    """Pick the sign-in page's language with its own switch."""
    radio = page.get_by_role("radio", name="English" if lang == "en" else "简体中文")
    if not radio.is_checked():
        toggle(radio)
    expect(radio).to_be_checked()


def user_menu(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_role("button", name=re.compile(r"^(用户菜单|User menu)$"))


def logout(page: Page) -> None:
    user_menu(page).click()
    page.get_by_role("menuitem", name=re.compile(r"^(退出登录|Sign out)$")).click()
    expect(page).to_have_url(re.compile(r"/login"))


def nav(page: Page, *titles: str) -> None:
    """Click through the left navigation: sub-menu titles first, then the page."""
    menu = page.get_by_role("menubar")
    for title in titles[:-1]:
        sub = menu.get_by_role("menuitem", name=title, exact=True)
        if sub.get_attribute("aria-expanded") != "true":
            sub.click()
    menu.get_by_role("menuitem", name=titles[-1], exact=True).click()


class ApiClient:
    """The HTTP API as a bearer-token client, for setting up data around a browser test."""

    def __init__(self, base_url: str, email: str, password: str) -> None:
        self.http = httpx.Client(base_url=base_url + "/api/v1", timeout=30)
        res = self.http.post(
            "/auth/login", json={"email": email, "password": password, "client": "token"}
        )
        res.raise_for_status()
        body = res.json()
        assert body["status"] == "ok", body
        self.http.headers["Authorization"] = f"Bearer {body['token']}"

    def agent_role_id(self) -> int:
        roles = self.http.get("/roles").json()
        return next(r["id"] for r in roles if r["builtin"] == "agent")

    def create_agent(
        self,
        email: str,
        nickname: str,
        *,
        enabled: bool = True,
        password: str = "Agent1234x",  # noqa: S107
    ) -> dict:
        res = self.http.post(
            "/users",
            json={
                "email": email,
                "password": password,
                "nickname": nickname,
                "role_id": self.agent_role_id(),
                "enabled": enabled,
            },
        )
        assert res.status_code == 201, res.text
        return res.json()

    def close(self) -> None:
        self.http.close()
