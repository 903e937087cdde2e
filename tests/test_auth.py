"""Sign-in, sessions, throttling, password change/reset and two-factor login."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

import pyotp
import pytest

from kefu.core import clock
from tests.helpers import PASSWORD, Api, unique_email


@pytest.fixture
def fake_clock() -> clock.FakeClock:
    fc = clock.FakeClock(datetime.now(UTC))
    clock.set_clock(fc)
    yield fc
    clock.set_clock(clock.Clock())


def test_cookie_session_is_http_only_and_logout_ends_it(api: Api) -> None:
    t = api.provision()
    c = api.client()
    r = c.post("/auth/login", json={"email": t.admin_email, "password": t.admin_password})
    assert r.status_code == 200 and r.json()["status"] == "ok"
    cookie = r.headers["set-cookie"]
    assert "kefu_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Max-Age" not in cookie  # not remembered: a browser-session cookie
    assert "token" not in r.json() or r.json()["token"] is None
    assert c.get("/me").status_code == 200
    assert c.post("/auth/logout").status_code == 204
    assert c.get("/me").status_code == 401


def test_remember_me_lasts_seven_days(api: Api) -> None:
    t = api.provision()
    r = api.client().post(
        "/auth/login", json={"email": t.admin_email, "password": t.admin_password, "remember": True}
    )
    assert f"Max-Age={7 * 86400}" in r.headers["set-cookie"]


def test_bearer_token_for_api_clients(api: Api) -> None:
    t = api.provision()
    c = api.token_client(t.admin_email, t.admin_password)
    assert c.ok("GET", "/me")["email"] == t.admin_email
    # The bearer token is not a cookie token: presenting it as a cookie does not work.
    token = c.headers["Authorization"].split()[1]
    other = api.client(cookies={"kefu_session": token})
    assert other.get("/me").status_code == 401


def test_wrong_password_and_unknown_email_answer_identically(api: Api) -> None:
    t = api.provision()
    a = api.anon.post("/auth/login", json={"email": t.admin_email, "password": "wrong-pass1"})
    b = api.anon.post(
        "/auth/login", json={"email": unique_email("nobody"), "password": "wrong-pass1"}
    )
    assert a.status_code == b.status_code == 401
    assert a.json() == b.json()
    assert a.json()["error"]["code"] == "invalid_credentials"


def test_account_throttle_locks_known_and_unknown_alike(api: Api) -> None:
    t = api.provision()
    unknown = unique_email("ghost")
    answers = {}
    for email in (t.admin_email, unknown):
        for _ in range(5):
            api.anon.post("/auth/login", json={"email": email, "password": "nope-nope1"})
        r = api.anon.post("/auth/login", json={"email": email, "password": "nope-nope1"})
        answers[email] = (r.status_code, r.json())
    assert answers[t.admin_email] == answers[unknown]
    assert (
        answers[unknown][0] == 429 and answers[unknown][1]["error"]["code"] == "too_many_attempts"
    )
    # Even the right password is refused while the account is locked.
    r = api.anon.post("/auth/login", json={"email": t.admin_email, "password": t.admin_password})
    assert r.status_code == 429


def test_ip_throttle(api: Api) -> None:
    for i in range(30):
        api.anon.post("/auth/login", json={"email": f"spray{i}@x.test", "password": "nope-nope1"})
    r = api.anon.post("/auth/login", json={"email": "fresh@x.test", "password": "nope-nope1"})
    assert r.status_code == 429


def test_lock_expires(api: Api, fake_clock: clock.FakeClock) -> None:
    t = api.provision()
    for _ in range(5):
        api.anon.post("/auth/login", json={"email": t.admin_email, "password": "nope-nope1"})
    assert (
        api.anon.post(
            "/auth/login", json={"email": t.admin_email, "password": t.admin_password}
        ).status_code
        == 429
    )
    fake_clock.advance(minutes=16)
    assert (
        api.anon.post(
            "/auth/login", json={"email": t.admin_email, "password": t.admin_password}
        ).status_code
        == 200
    )


def test_disabled_account_cannot_sign_in_and_loses_sessions(api: Api) -> None:
    t = api.provision()
    user, agent = api.add_user(t)
    assert agent.get("/me").status_code == 200
    t.admin.ok("PATCH", f"/users/{user['id']}", json={"enabled": False})
    assert agent.get("/me").status_code == 401
    r = api.anon.post("/auth/login", json={"email": user["email"], "password": PASSWORD})
    assert r.status_code == 403 and r.json()["error"]["code"] == "account_disabled"


def test_expired_tenant_cannot_sign_in(api: Api) -> None:
    t = api.provision()
    api.anon.ok(
        "PATCH",
        f"/platform/tenants/{t.id}",
        json={"expires_at": "2020-01-01T00:00:00Z"},
        headers={"X-Kefu-Platform-Key": "test-platform-key-0123456789abcdef"},
    )
    r = api.anon.post("/auth/login", json={"email": t.admin_email, "password": t.admin_password})
    assert r.status_code == 403 and r.json()["error"]["code"] == "tenant_expired"
    assert t.admin.get("/me").json()["error"]["code"] == "tenant_expired"


def test_session_expires_after_idle_day(api: Api, fake_clock: clock.FakeClock) -> None:
    t = api.provision()
    c = api.login(t.admin_email, t.admin_password)
    fake_clock.advance(hours=23)
    assert c.get("/me").status_code == 200  # activity slides the idle window
    fake_clock.advance(hours=23)
    assert c.get("/me").status_code == 200
    fake_clock.advance(hours=25)
    assert c.get("/me").status_code == 401


def test_remembered_session_ends_after_seven_days(api: Api, fake_clock: clock.FakeClock) -> None:
    t = api.provision()
    c = api.login(t.admin_email, t.admin_password, remember=True)
    fake_clock.advance(days=6)
    assert c.get("/me").status_code == 200
    fake_clock.advance(days=1, minutes=1)
    assert c.get("/me").status_code == 401


def test_change_password_revokes_other_sessions_only(api: Api) -> None:
    t = api.provision()
    other = api.login(t.admin_email, t.admin_password)
    r = t.admin.post(
        "/me/password", json={"old_password": "wrong-old-1", "new_password": "NewPass123"}
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "wrong_password"
    t.admin.ok(
        "POST",
        "/me/password",
        json={"old_password": t.admin_password, "new_password": "NewPass123"},
    )
    assert t.admin.get("/me").status_code == 200
    assert other.get("/me").status_code == 401
    assert (
        api.anon.post(
            "/auth/login", json={"email": t.admin_email, "password": t.admin_password}
        ).status_code
        == 401
    )
    api.login(t.admin_email, "NewPass123")


def test_weak_password_rejected_with_field_and_rule(api: Api) -> None:
    t = api.provision()
    r = t.admin.post(
        "/me/password", json={"old_password": t.admin_password, "new_password": "short"}
    )
    assert r.status_code == 422
    field = r.json()["error"]["fields"][0]
    assert field["field"] == "new_password" and field["rule"] == "password_rule"


def test_forgot_password_same_answer_for_unknown_email(api: Api) -> None:
    t = api.provision()
    a = api.anon.post("/auth/password/forgot", json={"email": t.admin_email})
    b = api.anon.post("/auth/password/forgot", json={"email": unique_email("nobody")})
    assert a.status_code == b.status_code == 202 and a.json() == b.json()


def test_admin_reset_link_is_logged_without_smtp_and_works_once(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    t = api.provision()
    user, agent = api.add_user(t)
    with caplog.at_level(logging.WARNING, logger="kefu.accounts"):
        body = t.admin.ok("POST", f"/users/{user['id']}/password-reset")
    assert body["status"] == "logged"
    match = re.search(r"reset-password\?token=([A-Za-z0-9_\-]+)", caplog.text)
    assert match, caplog.text
    token = match.group(1)
    api.anon.ok("POST", "/auth/password/reset", json={"token": token, "new_password": "Reset1234"})
    assert agent.get("/me").status_code == 401  # every session ends on reset
    api.login(user["email"], "Reset1234")
    r = api.anon.post("/auth/password/reset", json={"token": token, "new_password": "Again12345"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "reset_token_invalid"


def _enable_totp(client) -> str:  # type: ignore[no-untyped-def]
    setup = client.ok("POST", "/me/mfa/setup")
    assert setup["otpauth_uri"].startswith("otpauth://totp/")
    r = client.post("/me/mfa/enable", json={"code": "000000"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "mfa_code_wrong"
    assert client.get("/me").status_code == 200  # a wrong code never ends the session
    me = client.ok("POST", "/me/mfa/enable", json={"code": pyotp.TOTP(setup["secret"]).now()})
    assert me["mfa_enabled"] is True
    return str(setup["secret"])


def test_totp_second_factor(api: Api, fake_clock: clock.FakeClock) -> None:
    t = api.provision()
    secret = _enable_totp(t.admin)
    fake_clock.advance(seconds=60)
    c = api.client()
    first = c.ok("POST", "/auth/login", json={"email": t.admin_email, "password": t.admin_password})
    assert first["status"] == "mfa_required" and first.get("user") is None
    assert c.get("/me").status_code == 401  # no session before the code
    bad = c.post("/auth/login/mfa", json={"mfa_token": first["mfa_token"], "code": "123456"})
    assert bad.status_code == 401
    code = pyotp.TOTP(secret).at(fake_clock.now())
    ok = c.ok("POST", "/auth/login/mfa", json={"mfa_token": first["mfa_token"], "code": code})
    assert ok["status"] == "ok" and c.get("/me").status_code == 200
    # The same code cannot be used twice (replay), even with a new password step.
    again = api.client().ok(
        "POST", "/auth/login", json={"email": t.admin_email, "password": t.admin_password}
    )
    r = api.client().post("/auth/login/mfa", json={"mfa_token": again["mfa_token"], "code": code})
    assert r.status_code == 401


def test_mfa_token_expires(api: Api, fake_clock: clock.FakeClock) -> None:
    t = api.provision()
    secret = _enable_totp(t.admin)
    first = api.anon.ok(
        "POST", "/auth/login", json={"email": t.admin_email, "password": t.admin_password}
    )
    fake_clock.advance(minutes=6)
    r = api.anon.post(
        "/auth/login/mfa",
        json={"mfa_token": first["mfa_token"], "code": pyotp.TOTP(secret).at(fake_clock.now())},
    )
    assert r.status_code == 401 and r.json()["error"]["code"] == "mfa_token_invalid"


def test_role_requiring_2fa_enrols_at_sign_in(api: Api) -> None:
    t = api.provision()
    role = t.admin.ok(
        "POST", "/roles", json={"name": "主管", "pages": ["admin.home"], "require_mfa": True}
    )
    email = unique_email("sup")
    t.admin.ok(
        "POST",
        "/users",
        json={"email": email, "password": PASSWORD, "nickname": "sup", "role_id": role["id"]},
    )
    c = api.client()
    first = c.ok("POST", "/auth/login", json={"email": email, "password": PASSWORD})
    assert first["status"] == "mfa_setup_required" and first["secret"]
    code = pyotp.TOTP(first["secret"]).now()
    done = c.ok("POST", "/auth/login/mfa", json={"mfa_token": first["mfa_token"], "code": code})
    assert done["user"]["mfa_enabled"] is True
    # The role demands it, so the user cannot turn it off.
    r = c.post("/me/mfa/disable", json={"code": code})
    assert r.status_code == 409 and r.json()["error"]["code"] == "mfa_required_by_role"


def test_mfa_disable(api: Api, fake_clock: clock.FakeClock) -> None:
    t = api.provision()
    secret = _enable_totp(t.admin)
    fake_clock.advance(seconds=60)
    me = t.admin.ok(
        "POST", "/me/mfa/disable", json={"code": pyotp.TOTP(secret).at(fake_clock.now())}
    )
    assert me["mfa_enabled"] is False
    assert (
        api.anon.ok(
            "POST", "/auth/login", json={"email": t.admin_email, "password": t.admin_password}
        )["status"]
        == "ok"
    )


def test_cross_origin_cookie_write_refused(api: Api) -> None:
    t = api.provision()
    r = t.admin.patch("/me", json={"nickname": "x"}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "origin_forbidden"
    r = t.admin.patch("/me", json={"nickname": "同源"}, headers={"Origin": api.base_url})
    assert r.status_code == 200


def test_errors_follow_accept_language_then_user_language(api: Api) -> None:
    r = api.anon.get("/me", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert r.json()["error"]["message"] == "Please sign in first"
    r = api.anon.get("/me", headers={"Accept-Language": "zh-CN"})
    assert r.json()["error"]["message"] == "请先登录"
    t = api.provision()
    t.admin.ok("PATCH", "/me", json={"language": "en"})
    r = t.admin.delete("/users/999999", headers={"Accept-Language": "zh-CN"})
    assert r.json()["error"]["message"] == "Not found"


def test_login_validation_error_names_field(api: Api) -> None:
    r = api.anon.post(
        "/auth/login",
        json={"email": "not-an-email", "password": ""},
        headers={"Accept-Language": "en"},
    )
    assert r.status_code == 422
    fields = {f["field"]: f["rule"] for f in r.json()["error"]["fields"]}
    assert fields == {"email": "format", "password": "min_length"}
