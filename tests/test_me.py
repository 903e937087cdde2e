"""Personal info (SPEC §24) and who sets max concurrent (SPEC §2.2)."""

from __future__ import annotations

import io

from PIL import Image

from tests.helpers import Api


def _png(size: tuple[int, int] = (8, 8), fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, fmt)
    return buf.getvalue()


def test_edit_personal_info(api: Api) -> None:
    t = api.provision()
    _, agent = api.add_user(t)
    me = agent.ok(
        "PATCH",
        "/me",
        json={
            "nickname": "小美",
            "real_name": "李美",
            "employee_number": "007",
            "mobile": "13900000000",
            "greeting_text": "##亲##，你好",
            "greeting_enabled": True,
            "language": "en",
        },
    )
    assert me["nickname"] == "小美" and me["language"] == "en" and me["greeting_enabled"]
    assert agent.ok("GET", "/me")["greeting_text"] == "##亲##，你好"
    r = agent.patch("/me", json={"email": "new@x.test"})
    assert r.status_code == 422  # the login email is read-only here
    r = agent.patch("/me", json={"language": "fr"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["rule"] == "enum"


def test_max_concurrent_switch(api: Api) -> None:
    t = api.provision()
    user, agent = api.add_user(t, max_concurrent=5)
    me = agent.ok("GET", "/me")
    assert me["can_set_max_concurrent"] is False
    r = agent.patch("/me", json={"max_concurrent": 9})
    assert r.status_code == 403 and r.json()["error"]["code"] == "max_concurrent_locked"
    assert agent.patch("/switches", json={}).status_code in (403, 404)
    assert (
        agent.patch("/tenant/switches", json={"agent_custom_max_concurrent": True}).status_code
        == 403
    )
    t.admin.ok("PATCH", "/tenant/switches", json={"agent_custom_max_concurrent": True})
    assert agent.ok("PATCH", "/me", json={"max_concurrent": 9})["max_concurrent"] == 9
    assert agent.patch("/me", json={"max_concurrent": 101}).status_code == 422
    assert t.admin.ok("GET", f"/users/{user['id']}")["max_concurrent"] == 9


def test_avatar_upload_checks_content_and_size(api: Api) -> None:
    t = api.provision()
    _, agent = api.add_user(t)
    default = agent.get(agent.ok("GET", "/me")["avatar_url"].replace("/api/v1", ""))
    assert default.headers["content-type"].startswith("image/svg")
    r = agent.post("/me/avatar", files={"file": ("a.png", b"<svg onload=alert(1)>", "image/png")})
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"
    big = b"\x89PNG" + b"0" * (2 * 1024 * 1024)
    r = agent.post("/me/avatar", files={"file": ("big.png", big, "image/png")})
    assert r.status_code == 413
    for fmt in ("PNG", "GIF", "JPEG"):
        me = agent.ok(
            "POST", "/me/avatar", files={"file": ("x", _png(fmt=fmt), "application/octet-stream")}
        )
        img = agent.get(me["avatar_url"].replace("/api/v1", ""))
        assert img.status_code == 200 and img.headers["content-type"] in (
            "image/png",
            "image/gif",
            "image/jpeg",
        )
        assert img.headers["x-content-type-options"] == "nosniff"
    bmp = io.BytesIO()
    Image.new("RGB", (4, 4)).save(bmp, "BMP")
    assert (
        agent.post("/me/avatar", files={"file": ("x.bmp", bmp.getvalue(), "image/bmp")}).status_code
        == 415
    )
