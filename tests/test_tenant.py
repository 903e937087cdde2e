"""Enterprise info, logo, platform provisioning API and the CLI."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
from PIL import Image

from kefu.core.config import Settings
from tests.conftest import LiveServer
from tests.helpers import PLATFORM_KEY, Api, unique_email


def test_enterprise_info(api: Api) -> None:
    t = api.provision(name="示例科技", seats=7)
    info = t.admin.ok(
        "PATCH",
        "/tenant",
        json={
            "name": "示例科技有限公司",
            "phone": "010-12345678",
            "address": "北京市海淀区",
            "remark": "VIP",
        },
    )
    assert info["id"] == t.id and info["seats"] == 7 and info["expires_at"] is None
    assert info["name"] == "示例科技有限公司" and info["phone"] == "010-12345678"
    # Seats, expiry and the tenant ID are read-only for the tenant.
    r = t.admin.patch("/tenant", json={"seats": 100})
    assert r.status_code == 422
    _, agent = api.add_user(t)
    assert agent.ok("GET", "/tenant")["name"] == "示例科技有限公司"
    assert agent.patch("/tenant", json={"name": "x"}).status_code == 403


def test_logo(api: Api) -> None:
    t = api.provision()
    info = t.admin.ok("GET", "/tenant")
    default = api.anon.get(info["logo_url"].replace("/api/v1", ""))
    assert default.status_code == 200 and default.headers["content-type"].startswith("image/svg")
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (0, 120, 255)).save(buf, "GIF")
    info = t.admin.ok(
        "POST", "/tenant/logo", files={"file": ("logo.gif", buf.getvalue(), "image/gif")}
    )
    logo = api.anon.get(info["logo_url"].replace("/api/v1", ""))
    assert logo.headers["content-type"] == "image/gif" and logo.content == buf.getvalue()
    r = t.admin.post(
        "/tenant/logo", files={"file": ("l.png", b"x" * (2 * 1024 * 1024 + 1), "image/png")}
    )
    assert r.status_code == 413


def test_platform_api_needs_the_key(api: Api) -> None:
    body = {"name": "Market Co", "admin_email": unique_email(), "seats": 3}
    r = api.anon.post("/platform/tenants", json=body)
    assert r.status_code == 401 and r.json()["error"]["code"] == "platform_key_invalid"
    r = api.anon.post("/platform/tenants", json=body, headers={"X-Kefu-Platform-Key": "wrong"})
    assert r.status_code == 401
    out = api.anon.ok(
        "POST", "/platform/tenants", json=body, headers={"X-Kefu-Platform-Key": PLATFORM_KEY}
    )
    assert set(out) == {"login_url", "username", "password", "tenant_id"}
    assert out["login_url"].endswith("/login") and out["username"] == body["admin_email"]
    api.login(out["username"], out["password"])
    r = api.anon.post("/platform/tenants", json=body, headers={"X-Kefu-Platform-Key": PLATFORM_KEY})
    assert r.status_code == 409 and r.json()["error"]["code"] == "email_taken"
    got = api.anon.ok(
        "PATCH",
        f"/platform/tenants/{out['tenant_id']}",
        json={"seats": 9},
        headers={"X-Kefu-Platform-Key": PLATFORM_KEY},
    )
    assert got["seats"] == 9 and got["seats_used"] == 1
    admin = api.login(out["username"], out["password"])
    for _ in range(2):
        admin.ok(
            "POST",
            "/users",
            json={
                "email": unique_email(),
                "password": "Passw0rd-kefu",
                "nickname": "a",
                "role_id": admin.me["role"]["id"],
            },
        )
    r = api.anon.patch(
        f"/platform/tenants/{out['tenant_id']}",
        json={"seats": 2},
        headers={"X-Kefu-Platform-Key": PLATFORM_KEY},
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "seats_below_enabled"


def test_platform_api_disabled_without_key(settings: Settings) -> None:
    settings.platform_key = None
    live = LiveServer(settings)
    live.start()
    try:
        r = httpx.post(
            live.base_url + "/api/v1/platform/tenants",
            json={},
            headers={"X-Kefu-Platform-Key": "anything"},
        )
        assert r.status_code == 404 and r.json()["error"]["code"] == "platform_api_disabled"
    finally:
        live.stop()


def _kefu(
    *args: str, data_dir: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "KEFU_DATA_DIR": "", **(env or {})}
    full_env.pop("KEFU_DATA_DIR")
    return subprocess.run(
        [sys.executable, "-m", "kefu", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        check=False,
    )


def test_cli_tenant_create_seen_by_running_server(settings: Settings, server: LiveServer) -> None:
    env = {"KEFU_DATABASE_URL": settings.database_url} if settings.database_url else {}
    email = unique_email("cli")
    res = _kefu(
        "tenant",
        "create",
        "--name",
        "命令行公司",
        "--admin-email",
        email,
        "--seats",
        "4",
        "--json",
        data_dir=settings.data_dir,
        env=env,
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert set(out) == {"login_url", "username", "password", "tenant_id"}
    # The password is not written to any log: only the command's own output carries it.
    assert out["password"] not in res.stderr
    with httpx.Client(base_url=server.base_url + "/api/v1") as c:
        r = c.post("/auth/login", json={"email": out["username"], "password": out["password"]})
        assert r.status_code == 200 and r.json()["user"]["tenant"]["id"] == out["tenant_id"]
    again = _kefu(
        "tenant",
        "create",
        "--name",
        "x",
        "--admin-email",
        email,
        data_dir=settings.data_dir,
        env=env,
    )
    assert (again.returncode == 1 and "email" in again.stderr.lower()) or "邮箱" in again.stderr
    bad = _kefu(
        "tenant",
        "create",
        "--name",
        "x",
        "--admin-email",
        "nope",
        data_dir=settings.data_dir,
        env=env,
    )
    assert bad.returncode == 2


def test_cli_version_and_migrate(tmp_path: Path) -> None:
    assert _kefu("migrate", data_dir=tmp_path).returncode == 0
    assert (tmp_path / "kefu.db").exists()
    v = subprocess.run(
        [sys.executable, "-m", "kefu", "version"], capture_output=True, text=True, check=True
    )
    assert v.stdout.strip()


def test_production_mode_refuses_default_secret(tmp_path: Path) -> None:
    res = _kefu("serve", "--port", "1", data_dir=tmp_path, env={"KEFU_MODE": "production"})
    assert res.returncode != 0 and "KEFU_SECRET_KEY" in (res.stderr + res.stdout)


def test_config_file_is_read(tmp_path: Path) -> None:
    cfg = tmp_path / "kefu.toml"
    cfg.write_text('public_base_url = "https://kefu.example.com"\n')
    res = _kefu(
        "tenant",
        "create",
        "--name",
        "配置",
        "--admin-email",
        unique_email(),
        "--json",
        data_dir=tmp_path,
        env={"KEFU_CONFIG_FILE": str(cfg)},
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["login_url"] == "https://kefu.example.com/login"
