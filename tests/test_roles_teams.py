"""Custom roles with page permissions and data scopes (SPEC §1.3); teams (SPEC §1.4)."""

from __future__ import annotations

from tests.helpers import PASSWORD, Api, unique_email


def test_catalogue_lists_every_module_page(api: Api) -> None:
    t = api.provision()
    cat = t.admin.ok("GET", "/permissions/catalogue")
    keys = {p["key"] for p in cat["pages"]}
    for key in (
        "agent.sessions",
        "agent.knowledge",
        "admin.members.agents",
        "admin.settings.permissions",
        "admin.monitor.big_screen",
        "admin.history.transfers",
        "admin.tickets",
    ):
        assert key in keys
    assert all(p["title"]["zh-CN"] and p["title"]["en"] for p in cat["pages"])
    assert cat["scoped_data"] == ["customers", "history", "current_sessions"]


def test_custom_role_gets_exactly_its_pages(api: Api) -> None:
    t = api.provision()
    role = t.admin.ok(
        "POST",
        "/roles",
        json={
            "name": "质检员",
            "pages": ["admin.history.csat", "admin.members.teams", "agent.history"],
            "data_scopes": {
                "history": "team",
                "customers": "tenant",
                "current_sessions": "skill_group",
            },
        },
    )
    assert "admin.history" in role["pages"]  # a tab brings its page along
    _, user = api.add_user(t, role_id=role["id"])
    me = user.ok("GET", "/me")
    assert set(me["modes"]) == {"agent", "admin"}
    assert me["data_scopes"]["history"] == "team"
    assert user.get("/teams").status_code == 200
    assert user.get("/users").status_code == 403
    assert user.get("/roles").status_code == 403


def test_role_validation_and_builtin_protection(api: Api) -> None:
    t = api.provision()
    r = t.admin.post("/roles", json={"name": "x", "pages": ["admin.nope"]})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "pages"
    r = t.admin.post("/roles", json={"name": "x", "data_scopes": {"history": "everyone"}})
    assert r.status_code == 422
    r = t.admin.post("/roles", json={"name": "管理员"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "role_name_taken"
    r = t.admin.patch(f"/roles/{t.roles['admin']}", json={"pages": []})
    assert r.status_code == 409 and r.json()["error"]["code"] == "builtin_role_readonly"
    assert t.admin.ok("PATCH", f"/roles/{t.roles['agent']}", json={"require_mfa": True})[
        "require_mfa"
    ]
    assert t.admin.delete(f"/roles/{t.roles['agent']}").status_code == 409


def test_role_in_use_cannot_be_deleted(api: Api) -> None:
    t = api.provision()
    role = t.admin.ok("POST", "/roles", json={"name": "临时", "pages": ["agent.sessions"]})
    user, _ = api.add_user(t, role_id=role["id"])
    r = t.admin.delete(f"/roles/{role['id']}")
    assert r.status_code == 409 and r.json()["error"]["code"] == "role_in_use"
    t.admin.ok("PATCH", f"/users/{user['id']}", json={"role_id": t.roles["agent"]})
    assert t.admin.delete(f"/roles/{role['id']}").status_code == 204


def test_editing_a_custom_role_applies_removals_at_once(api: Api) -> None:
    t = api.provision()
    role = t.admin.ok("POST", "/roles", json={"name": "组长", "pages": ["admin.members.teams"]})
    _, user = api.add_user(t, role_id=role["id"])
    assert user.get("/teams").status_code == 200
    t.admin.ok("PATCH", f"/roles/{role['id']}", json={"pages": ["agent.sessions"]})
    assert user.get("/teams").status_code == 403


def test_team_tree(api: Api) -> None:
    t = api.provision()
    tree = t.admin.ok("GET", "/teams")
    root = tree[0]
    assert root["is_root"] and root["name"] == "总部" and len(tree) == 1
    tree = t.admin.ok("POST", "/teams", json={"name": "华东", "parent_id": root["id"]})
    east = tree[0]["children"][0]
    tree = t.admin.ok("POST", "/teams", json={"name": "上海", "parent_id": east["id"]})
    sh = tree[0]["children"][0]["children"][0]
    r = t.admin.post("/teams", json={"name": "华东", "parent_id": root["id"]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "team_name_taken"
    r = t.admin.patch(f"/teams/{east['id']}", json={"parent_id": sh["id"]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "team_cycle"
    assert t.admin.delete(f"/teams/{root['id']}").json()["error"]["code"] == "team_root_protected"
    assert t.admin.delete(f"/teams/{east['id']}").json()["error"]["code"] == "team_not_empty"
    user, _ = api.add_user(t)
    tree = t.admin.ok("PUT", f"/teams/{sh['id']}/members", json={"user_ids": [user["id"]]})
    assert tree[0]["children"][0]["children"][0]["member_ids"] == [user["id"]]
    assert t.admin.ok("GET", f"/users/{user['id']}")["team_id"] == sh["id"]
    t.admin.ok("PATCH", f"/teams/{sh['id']}", json={"name": "上海一部"})
    assert t.admin.delete(f"/teams/{sh['id']}").status_code == 204
    assert t.admin.ok("GET", f"/users/{user['id']}")["team_id"] is None


def test_team_members_from_another_tenant_refused(api: Api) -> None:
    a, b = api.provision(), api.provision()
    b_user = b.admin.ok(
        "POST",
        "/users",
        json={
            "email": unique_email(),
            "password": PASSWORD,
            "nickname": "b",
            "role_id": b.roles["agent"],
        },
    )
    root = a.admin.ok("GET", "/teams")[0]
    r = a.admin.put(f"/teams/{root['id']}/members", json={"user_ids": [b_user["id"]]})
    assert r.status_code == 404
    assert b.admin.ok("GET", f"/users/{b_user['id']}")["team_id"] is None


def test_team_people_needs_only_the_teams_page(api: Api) -> None:
    t = api.provision()
    role = t.admin.ok(
        "POST", "/roles", json={"name": "团队管理员", "pages": ["admin.members.teams"]}
    )
    _, lead = api.add_user(t, role_id=role["id"])
    people = lead.ok("GET", "/teams/people")
    assert {p["nickname"] for p in people} >= {t.admin.me["nickname"]}
    assert all(
        set(p) == {"id", "nickname", "real_name", "email", "role_name", "enabled", "team_id"}
        for p in people
    )
    assert lead.get("/users").status_code == 403


def test_builtin_role_names_follow_the_reader_language(api: Api) -> None:
    t = api.provision()
    assert t.admin.ok("GET", f"/roles/{t.roles['agent']}")["name"] == "客服"
    t.admin.ok("PATCH", "/me", json={"language": "en"})
    assert t.admin.ok("GET", f"/roles/{t.roles['agent']}")["name"] == "Agent"
    assert t.admin.ok("GET", "/me")["role"]["name"] == "Administrator"


def test_blank_and_null_inputs_rejected(api: Api) -> None:
    t = api.provision()
    root = t.admin.ok("GET", "/teams")[0]
    r = t.admin.post("/teams", json={"name": "   ", "parent_id": root["id"]})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["rule"] == "min_length"
    r = t.admin.post("/teams", json={"name": "a\u0000b", "parent_id": root["id"]})
    assert r.status_code == 422
    user, _ = api.add_user(t)
    r = t.admin.patch(f"/users/{user['id']}", json={"enabled": None, "nickname": None})
    assert r.status_code == 422
    assert {f["field"] for f in r.json()["error"]["fields"]} == {"enabled", "nickname"}
    assert t.admin.ok("PATCH", f"/users/{user['id']}", json={"team_id": None})["team_id"] is None
    r = t.admin.get("/users", params={"q": "a\u0000b"})
    assert r.status_code == 422
    r = t.admin.patch("/tenant", json={"name": "  "})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["rule"] == "min_length"
