"""Members > Agents: list, exact search, sort, add/edit/delete, seats, roles, max concurrent."""

from __future__ import annotations

from tests.helpers import PASSWORD, Api, unique_email


def test_add_agent_who_signs_in_to_agent_mode_only(api: Api) -> None:
    t = api.provision()
    _user, agent = api.add_user(t, nickname="小王", real_name="王小明", agent_type="online")
    me = agent.ok("GET", "/me")
    assert me["modes"] == ["agent"]
    assert all(p.startswith("agent.") for p in me["pages"])
    assert agent.get("/users").status_code == 403


def test_exact_search_and_sort(api: Api) -> None:
    t = api.provision()
    api.add_user(t, nickname="张三", employee_number="E001", mobile="13800000001", max_concurrent=3)
    api.add_user(t, nickname="张三丰", employee_number="E002", max_concurrent=8)
    page = t.admin.ok("GET", "/users", params={"q": "张三"})
    assert [u["nickname"] for u in page["items"]] == ["张三"]  # exact, not fuzzy
    assert t.admin.ok("GET", "/users", params={"q": "E002"})["items"][0]["nickname"] == "张三丰"
    assert t.admin.ok("GET", "/users", params={"q": "13800000001"})["total"] == 1
    desc = t.admin.ok("GET", "/users", params={"sort": "-max_concurrent"})["items"]
    values = [u["max_concurrent"] for u in desc]
    assert values == sorted(values, reverse=True)
    r = t.admin.get("/users", params={"sort": "password_hash"})
    assert r.status_code == 422


def test_pagination_shape(api: Api) -> None:
    t = api.provision(seats=30)
    for _ in range(4):
        api.add_user(t)
    page = t.admin.ok("GET", "/users", params={"page": 2, "page_size": 2, "sort": "created_at"})
    assert page["total"] == 5 and page["page"] == 2 and page["page_size"] == 2
    assert len(page["items"]) == 2
    assert t.admin.get("/users", params={"page_size": 101}).status_code == 422


def test_enabled_accounts_never_exceed_seats(api: Api) -> None:
    t = api.provision(seats=2)
    api.add_user(t)
    r = t.admin.post(
        "/users",
        json={
            "email": unique_email(),
            "password": PASSWORD,
            "nickname": "x",
            "role_id": t.roles["agent"],
        },
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "seats_exceeded"
    assert "2" in r.json()["error"]["message"]
    # A disabled account can be added, but not enabled while seats are full.
    spare = t.admin.ok(
        "POST",
        "/users",
        json={
            "email": unique_email(),
            "password": PASSWORD,
            "nickname": "spare",
            "role_id": t.roles["agent"],
            "enabled": False,
        },
    )
    r = t.admin.patch(f"/users/{spare['id']}", json={"enabled": True})
    assert r.status_code == 409 and r.json()["error"]["code"] == "seats_exceeded"
    # Swapping who holds a seat: disable one, enable the other.
    first = t.admin.ok("GET", "/users", params={"enabled": True, "sort": "created_at"})["items"][1]
    t.admin.ok("PATCH", f"/users/{first['id']}", json={"enabled": False})
    assert t.admin.ok("PATCH", f"/users/{spare['id']}", json={"enabled": True})["enabled"] is True
    assert t.admin.ok("GET", "/tenant")["seats_used"] == 2


def test_duplicate_email_and_employee_number(api: Api) -> None:
    t = api.provision()
    user, _ = api.add_user(t, employee_number="A-1")
    r = t.admin.post(
        "/users",
        json={
            "email": user["email"],
            "password": PASSWORD,
            "nickname": "dup",
            "role_id": t.roles["agent"],
        },
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "email_taken"
    r = t.admin.post(
        "/users",
        json={
            "email": unique_email(),
            "password": PASSWORD,
            "nickname": "dup",
            "role_id": t.roles["agent"],
            "employee_number": "A-1",
        },
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "employee_number_taken"
    # Emails are global: another tenant cannot take it either.
    other = api.provision()
    r = other.admin.post(
        "/users",
        json={
            "email": user["email"],
            "password": PASSWORD,
            "nickname": "dup",
            "role_id": other.roles["agent"],
        },
    )
    assert r.status_code == 409


def test_invalid_fields_named_and_nothing_written(api: Api) -> None:
    t = api.provision()
    before = t.admin.ok("GET", "/users")["total"]
    r = t.admin.post(
        "/users",
        json={
            "email": unique_email(),
            "password": PASSWORD,
            "nickname": "n" * 31,
            "role_id": t.roles["agent"],
            "max_concurrent": 101,
            "agent_type": "robot",
        },
        headers={"Accept-Language": "en"},
    )
    assert r.status_code == 422
    rules = {f["field"]: f["rule"] for f in r.json()["error"]["fields"]}
    assert rules["nickname"] == "max_length" and rules["agent_type"] == "enum"
    assert t.admin.ok("GET", "/users")["total"] == before
    # Max concurrent above the tenant's ceiling (100 unless raised to 200).
    r = t.admin.post(
        "/users",
        json={
            "email": unique_email(),
            "password": PASSWORD,
            "nickname": "n",
            "role_id": t.roles["agent"],
            "max_concurrent": 150,
        },
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "max_concurrent_range"
    assert t.admin.ok("GET", "/users")["total"] == before


def test_ceiling_200_when_tenant_raised_it(api: Api) -> None:
    t = api.provision(max_concurrent_ceiling=200)
    user, _ = api.add_user(t, max_concurrent=150)
    assert user["max_concurrent"] == 150
    r = t.admin.patch(f"/users/{user['id']}", json={"max_concurrent": 201})
    assert r.status_code == 422


def test_edit_fields_and_password(api: Api) -> None:
    t = api.provision()
    user, agent = api.add_user(t)
    edited = t.admin.ok(
        "PATCH",
        f"/users/{user['id']}",
        json={
            "nickname": "新昵称",
            "real_name": "真名",
            "mobile": "+86 138-0000-0000",
            "employee_number": "B7",
            "max_concurrent": 20,
            "agent_type": "omni",
            "password": "Changed123",
        },
    )
    assert edited["nickname"] == "新昵称" and edited["agent_type"] == "omni"
    assert agent.get("/me").status_code == 401  # an admin-set password ends the user's sessions
    api.login(user["email"], "Changed123")


def test_delete_user_and_self_protection(api: Api) -> None:
    t = api.provision()
    user, agent = api.add_user(t)
    admin_id = t.admin.ok("GET", "/me")["id"]
    r = t.admin.delete(f"/users/{admin_id}")
    assert r.status_code == 409 and r.json()["error"]["code"] == "cannot_delete_self"
    r = t.admin.patch(f"/users/{admin_id}", json={"enabled": False})
    assert r.json()["error"]["code"] == "cannot_disable_self"
    assert t.admin.delete(f"/users/{user['id']}").status_code == 204
    assert t.admin.get(f"/users/{user['id']}").status_code == 404
    assert agent.get("/me").status_code == 401


def test_last_admin_cannot_be_demoted(api: Api) -> None:
    t = api.provision()
    second, second_client = api.add_user(t, role="admin")
    admin_id = t.admin.ok("GET", "/me")["id"]
    # Demoting one of two admins is fine; the last one is protected.
    second_client.ok("PATCH", f"/users/{admin_id}", json={"role_id": t.roles["agent"]})
    r = t.admin.get("/users")  # demoted: admin pages are gone at once
    assert r.status_code == 403
    r = second_client.patch(f"/users/{second['id']}", json={"role_id": t.roles["agent"]})
    assert r.status_code == 409


def test_promotion_applies_after_relogin_and_demotion_at_once(api: Api) -> None:
    t = api.provision()
    user, agent = api.add_user(t)
    t.admin.ok("PATCH", f"/users/{user['id']}", json={"role_id": t.roles["admin"]})
    me = agent.ok("GET", "/me")
    assert me["modes"] == ["agent"] and me["relogin_required"] is True
    assert agent.get("/users").status_code == 403
    fresh = api.login(user["email"], PASSWORD)
    assert "admin" in fresh.ok("GET", "/me")["modes"]
    assert fresh.get("/users").status_code == 200
    t.admin.ok("PATCH", f"/users/{user['id']}", json={"role_id": t.roles["agent"]})
    assert fresh.get("/users").status_code == 403
    assert fresh.ok("GET", "/me")["modes"] == ["agent"]


def test_audit_log_records_admin_changes(api: Api) -> None:
    t = api.provision()
    user, _ = api.add_user(t)
    t.admin.ok("PATCH", f"/users/{user['id']}", json={"nickname": "审计", "password": "Secret1234"})
    logs = t.admin.ok("GET", "/audit-logs")["items"]
    update = next(entry for entry in logs if entry["action"] == "user.update")
    assert update["target_id"] == str(user["id"]) and update["ip"] == "127.0.0.1"
    assert update["actor_name"] and update["detail"]["nickname"] == "审计"
    assert "password" not in update["detail"]
    assert "Secret1234" not in str(logs)
    assert any(entry["action"] == "user.create" for entry in logs)
    _, agent = api.add_user(t)
    assert agent.get("/audit-logs").status_code == 403
