"""Canned replies (§8.1): both sets, limits, import/export, search, suggestions, ordering with
pins, submissions to the public set with their notices, isolation and permissions."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from kefu.core import clock
from tests.helpers import Api, Client, Tenant

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def fake_clock() -> Iterator[clock.FakeClock]:
    fc = clock.FakeClock(datetime.now(UTC))
    clock.set_clock(fc)
    yield fc
    clock.set_clock(clock.Clock())


def _err(r: Any) -> str:
    return str(r.json()["error"]["code"])


def _book(rows: list[tuple[Any, ...]], header: bool = True) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    if header:
        ws.append(("一级分类", "二级分类", "常用语内容"))
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _upload(c: Client, url: str, data: bytes, name: str = "canned.xlsx") -> Any:
    return c.post(url, files={"file": (name, data, XLSX)})


def _public(c: Client, **params: Any) -> dict[str, Any]:
    return c.ok("GET", "/canned/public", params=params)  # type: ignore[no-any-return]


def _personal(c: Client, **params: Any) -> dict[str, Any]:
    return c.ok("GET", "/canned/personal", params=params)  # type: ignore[no-any-return]


def _texts(body: dict[str, Any]) -> list[str]:
    return [r["text"] for r in body["replies"]]


def _tree(t: Tenant) -> tuple[int, int]:
    """A first-level public category and a second-level one under it."""
    top = t.admin.ok("POST", "/canned/public/categories", json={"name": "售后"})
    sub = t.admin.ok(
        "POST", "/canned/public/categories", json={"name": "退货", "parent_id": top["id"]}
    )
    return int(top["id"]), int(sub["id"])


# --- public set ---------------------------------------------------------------------------


def test_public_two_levels_limits_and_agents_read_only(api: Api) -> None:
    t = api.provision()
    admin = t.admin
    top, sub = _tree(t)
    # Replies attach at either level; text keeps its line breaks.
    a = admin.ok(
        "POST",
        "/canned/public/replies",
        status=201,
        json={"category_id": top, "text": "您好\n请稍等"},
    )
    b = admin.ok("POST", "/canned/public/replies", json={"category_id": sub, "text": "y" * 1000})
    assert a["scope"] == "public" and a["text"] == "您好\n请稍等" and b["category_id"] == sub
    # A third level is refused; names and texts over the limits are refused, nothing written.
    r = admin.post("/canned/public/categories", json={"name": "三级", "parent_id": sub})
    assert r.status_code == 422 and _err(r) == "canned_category_depth"
    for bad in ({"name": "x" * 21}, {"name": "  "}, {"name": "a\nb"}):
        r = admin.post("/canned/public/categories", json=bad)
        assert r.status_code == 422 and _err(r) == "validation_error", bad
    r = admin.post("/canned/public/replies", json={"category_id": top, "text": "z" * 1001})
    assert r.status_code == 422 and _err(r) == "validation_error"
    r = admin.post("/canned/public/replies", json={"text": "no category"})
    assert r.status_code == 422 and _err(r) == "canned_category_required"
    r = admin.post("/canned/public/categories", json={"name": "售后"})
    assert r.status_code == 409 and _err(r) == "canned_category_name_taken"
    # The same name is fine under another parent.
    admin.ok("POST", "/canned/public/categories", json={"name": "退货"})

    body = _public(admin)
    assert {c["name"] for c in body["categories"]} == {"售后", "退货"}
    assert len(body["categories"]) == 3 and len(body["replies"]) == 2
    # Every agent reads the public set; none may change it.
    _, agent = api.add_user(t)
    assert sorted(_texts(_public(agent))) == sorted(_texts(body))
    for method, url, json in (
        ("POST", "/canned/public/categories", {"name": "x"}),
        ("PATCH", f"/canned/public/categories/{top}", {"name": "x"}),
        ("DELETE", f"/canned/public/categories/{top}", None),
        ("POST", "/canned/public/replies", {"category_id": top, "text": "x"}),
        ("PATCH", f"/canned/public/replies/{a['id']}", {"text": "x"}),
        ("DELETE", f"/canned/public/replies/{a['id']}", None),
        ("GET", "/canned/public/export", None),
        ("GET", "/canned/submissions", None),
    ):
        r = agent.request(method, url, json=json)
        assert r.status_code == 403 and _err(r) == "forbidden", (method, url)
    assert _public(admin) == body

    # Editing: move a reply and change its text; rename a category; delete cascades.
    moved = admin.ok(
        "PATCH", f"/canned/public/replies/{a['id']}", json={"category_id": sub, "text": "改了"}
    )
    assert moved["category_id"] == sub and moved["text"] == "改了"
    r = admin.patch(f"/canned/public/replies/{a['id']}", json={"category_id": None})
    assert r.status_code == 422 and _err(r) == "canned_category_required"
    assert (
        admin.ok("PATCH", f"/canned/public/categories/{sub}", json={"name": "换货"})["name"]
        == "换货"
    )
    admin.ok("DELETE", f"/canned/public/categories/{top}", status=204)
    after = _public(admin)
    assert [c["name"] for c in after["categories"]] == ["退货"] and after["replies"] == []
    # Public changes are audited.
    actions = {
        x["action"] for x in admin.ok("GET", "/audit-logs", params={"page_size": 100})["items"]
    }
    assert {"canned_category.created", "canned_reply.updated", "canned_category.deleted"} <= actions


# --- personal set and isolation -----------------------------------------------------------


def test_personal_set_is_each_agents_own(api: Api) -> None:
    t = api.provision()
    _, alice = api.add_user(t)
    _, bob = api.add_user(t)
    cat = alice.ok("POST", "/canned/personal/categories", status=201, json={"name": "常用"})
    # Personal sets have one implicit first level: no parent may be given.
    r = alice.post("/canned/personal/categories", json={"name": "x", "parent_id": cat["id"]})
    assert r.status_code == 422
    root = alice.ok("POST", "/canned/personal/replies", status=201, json={"text": "马上为您处理"})
    inner = alice.ok(
        "POST", "/canned/personal/replies", json={"text": "稍等", "category_id": cat["id"]}
    )
    assert root["scope"] == "personal" and root["category_id"] is None
    assert inner["category_id"] == cat["id"]
    mine = _personal(alice)
    assert [c["name"] for c in mine["categories"]] == ["常用"]
    assert sorted(_texts(mine)) == ["稍等", "马上为您处理"]

    # Bob sees none of it and cannot touch it: 404 like an unknown id.
    assert _personal(bob) == {"categories": [], "replies": [], "sort": "smart"}
    for method, url, json in (
        ("PATCH", f"/canned/personal/replies/{root['id']}", {"text": "hijack"}),
        ("DELETE", f"/canned/personal/replies/{root['id']}", None),
        ("PATCH", f"/canned/personal/categories/{cat['id']}", {"name": "hijack"}),
        ("DELETE", f"/canned/personal/categories/{cat['id']}", None),
        ("POST", f"/canned/replies/{root['id']}/used", None),
        ("PUT", f"/canned/replies/{root['id']}/pin", None),
        ("POST", "/canned/personal/replies", {"text": "x", "category_id": cat["id"]}),
    ):
        r = bob.request(method, url, json=json)
        assert r.status_code == 404 and _err(r) == "not_found", (method, url, r.text)
    assert _personal(alice) == mine
    # Nor do personal replies show in the public set or in Bob's suggestions.
    assert "稍等" not in _texts(_public(bob))
    assert bob.ok("GET", "/canned/suggest", params={"q": "稍"}) == []
    # A public category id is not a personal one, and the other way round.
    top, _ = _tree(t)
    r = alice.post("/canned/personal/replies", json={"text": "x", "category_id": top})
    assert r.status_code == 404
    r = t.admin.post("/canned/public/replies", json={"text": "x", "category_id": cat["id"]})
    assert r.status_code == 404
    # Moving back to the first level, renaming, deleting a sub-category with its replies.
    back = alice.ok("PATCH", f"/canned/personal/replies/{inner['id']}", json={"category_id": None})
    assert back["category_id"] is None
    alice.ok("PATCH", f"/canned/personal/replies/{back['id']}", json={"category_id": cat["id"]})
    alice.ok("DELETE", f"/canned/personal/categories/{cat['id']}", status=204)
    assert _texts(_personal(alice)) == ["马上为您处理"]


# --- search and suggestions ---------------------------------------------------------------


def test_search_and_suggestions_cover_both_sets(api: Api) -> None:
    t = api.provision()
    top, sub = _tree(t)
    for text, cat in (
        ("退款将在 3 个工作日内原路返回", sub),
        ("关于退款的说明", top),
        ("欢迎光临", top),
        ("100%_literal", top),
    ):
        t.admin.ok("POST", "/canned/public/replies", json={"category_id": cat, "text": text})
    _, agent = api.add_user(t)
    agent.ok("POST", "/canned/personal/replies", json={"text": "退款进度我帮您查一下"})

    # Instant keyword filter, per set.
    assert sorted(_texts(_public(agent, q="退款"))) == [
        "关于退款的说明",
        "退款将在 3 个工作日内原路返回",
    ]
    assert _texts(_personal(agent, q="退款")) == ["退款进度我帮您查一下"]
    assert _texts(_personal(agent, q="欢迎")) == []
    # LIKE wildcards are literal.
    assert _texts(_public(agent, q="%_")) == ["100%_literal"]
    assert _texts(_public(agent, q="_")) == ["100%_literal"]

    # Suggestions: both sets, replies that start with the words first, with their category path.
    got = agent.ok("GET", "/canned/suggest", params={"q": "退款"})
    assert [g["text"] for g in got][2] == "关于退款的说明"
    assert {g["text"] for g in got[:2]} == {"退款将在 3 个工作日内原路返回", "退款进度我帮您查一下"}
    paths = {g["text"]: (g["scope"], g["category_path"]) for g in got}
    assert paths["退款将在 3 个工作日内原路返回"] == ("public", "售后 / 退货")
    assert paths["关于退款的说明"] == ("public", "售后")
    assert paths["退款进度我帮您查一下"] == ("personal", "")
    # The most used of equal matches comes first; a limit caps the list.
    used = next(g for g in got if g["text"] == "退款进度我帮您查一下")
    agent.ok("POST", f"/canned/replies/{used['id']}/used")
    got = agent.ok("GET", "/canned/suggest", params={"q": "退款", "limit": 1})
    assert [g["text"] for g in got] == ["退款进度我帮您查一下"]
    assert agent.ok("GET", "/canned/suggest", params={"q": "  "}) == []
    assert agent.ok("GET", "/canned/suggest", params={"q": "完全不存在"}) == []
    for url in ("/canned/suggest", "/canned/public", "/canned/personal"):
        r = agent.get(url, params={"q": "a\x00b"})
        assert r.status_code == 422 and _err(r) == "validation_error", url
    r = agent.get("/canned/suggest", params={"q": "x" * 101})
    assert r.status_code == 422
    r = agent.get("/canned/suggest", params={"q": "退", "limit": 11})
    assert r.status_code == 422


# --- ordering -----------------------------------------------------------------------------


def test_smart_sort_update_sort_and_pins(api: Api, fake_clock: clock.FakeClock) -> None:
    t = api.provision()
    top, _ = _tree(t)
    ids = {}
    for text in ("A", "B", "C", "D"):
        fake_clock.advance(seconds=10)
        ids[text] = t.admin.ok(
            "POST", "/canned/public/replies", json={"category_id": top, "text": text}
        )["id"]
    _, agent = api.add_user(t)
    _, other = api.add_user(t)
    # Smart sort (the default): most used first; unused by update time, newest first.
    assert agent.ok("GET", "/canned/prefs") == {"sort": "smart"}
    for _ in range(3):
        agent.ok("POST", f"/canned/replies/{ids['B']}/used")
    reply = agent.ok("POST", f"/canned/replies/{ids['A']}/used")
    assert reply["use_count"] == 1
    assert _texts(_public(agent)) == ["B", "A", "D", "C"]
    # Usage is the agent's own: the other agent's order is still by update time.
    assert _texts(_public(other)) == ["D", "C", "B", "A"]
    # Update time: an edit moves a reply up.
    fake_clock.advance(seconds=10)
    t.admin.ok("PATCH", f"/canned/public/replies/{ids['C']}", json={"text": "C2"})
    assert agent.ok("PUT", "/canned/prefs", json={"sort": "updated"}) == {"sort": "updated"}
    assert _texts(_public(agent)) == ["C2", "D", "B", "A"]
    assert _public(agent)["sort"] == "updated"
    r = agent.put("/canned/prefs", json={"sort": "hot"})
    assert r.status_code == 422
    # Pins come first whatever the sort, newest pin first; unpinning puts it back.
    fake_clock.advance(seconds=1)
    agent.ok("PUT", f"/canned/replies/{ids['A']}/pin")
    fake_clock.advance(seconds=1)
    pinned = agent.ok("PUT", f"/canned/replies/{ids['D']}/pin")
    assert pinned["pinned"] is True and pinned["pinned_at"]
    assert _texts(_public(agent)) == ["D", "A", "C2", "B"]
    agent.ok("PUT", "/canned/prefs", json={"sort": "smart"})
    assert _texts(_public(agent)) == ["D", "A", "B", "C2"]
    # Pinning again moves it to the top of the pins.
    fake_clock.advance(seconds=1)
    agent.ok("PUT", f"/canned/replies/{ids['A']}/pin")
    assert _texts(_public(agent)) == ["A", "D", "B", "C2"]
    unpinned = agent.ok("DELETE", f"/canned/replies/{ids['A']}/pin")
    assert unpinned["pinned"] is False
    assert _texts(_public(agent)) == ["D", "B", "A", "C2"]
    # Pins are per agent; the sort preference too.
    assert other.ok("GET", "/canned/prefs") == {"sort": "smart"}
    assert _texts(_public(other))[0] == "C2"
    # Personal replies follow the same order.
    p1 = agent.ok("POST", "/canned/personal/replies", json={"text": "p1"})["id"]
    fake_clock.advance(seconds=1)
    agent.ok("POST", "/canned/personal/replies", json={"text": "p2"})
    assert _texts(_personal(agent)) == ["p2", "p1"]
    agent.ok("PUT", f"/canned/replies/{p1}/pin")
    assert _texts(_personal(agent)) == ["p1", "p2"]


# --- import / export ----------------------------------------------------------------------


def test_public_import_export_all_or_nothing(api: Api) -> None:
    t = api.provision()
    admin = t.admin
    top, _ = _tree(t)
    admin.ok("POST", "/canned/public/replies", json={"category_id": top, "text": "已有"})
    before = _public(admin)

    # A bad row anywhere fails the whole import with the row named; nothing is written.
    cases = [
        ([("新分类", "", "ok"), ("x" * 21, "", "too long name")], 3, "level1_too_long"),
        ([("新分类", "y" * 21, "ok")], 2, "level2_too_long"),
        ([("新分类", "", "ok"), ("新分类", "", "z" * 1001)], 3, "text_too_long"),
        ([("新分类", "子类", "")], 2, "text_missing"),
        ([("", "子类", "text")], 2, "level1_missing"),
    ]
    for rows, row, rule in cases:
        r = _upload(admin, "/canned/public/import", _book(rows))
        assert r.status_code == 422, r.text
        err = r.json()["error"]
        assert err["code"] == "canned_import_row" and str(row) in err["message"]
        assert err["fields"][0]["row"] == str(row) and err["fields"][0]["rule"] == rule
        assert _public(admin) == before
    for data in (b"not a workbook", b""):
        r = _upload(admin, "/canned/public/import", data)
        assert r.status_code == 422 and _err(r) == "canned_import_file"
    r = _upload(admin, "/canned/public/import", _book([]))
    assert r.status_code == 422 and _err(r) == "canned_import_empty"
    assert _public(admin) == before

    # A good file: categories matched by name or created, blank rows skipped, numbers as text,
    # a reply already in its category skipped.
    rows: list[tuple[Any, ...]] = [
        ("售后", "退货", "七天无理由退货"),
        ("售后", "", "已有"),
        (None, None, None),
        ("物流", "时效", "一般 48 小时内发货"),
        ("物流", "", 12345),
        (" 物流 ", "", "x" * 1000),
    ]
    got = admin.ok("POST", "/canned/public/import", files={"file": ("c.xlsx", _book(rows), XLSX)})
    assert got == {"categories_created": 2, "replies_created": 4, "duplicates_skipped": 1}
    body = _public(admin)
    names = {(c["name"], c["parent_id"]) for c in body["categories"]}
    logistics = next(c["id"] for c in body["categories"] if c["name"] == "物流")
    assert ("物流", None) in names and ("时效", logistics) in names
    assert "12345" in _texts(body)
    # Importing the same file again adds nothing.
    again = _upload(admin, "/canned/public/import", _book(rows)).json()
    assert again == {"categories_created": 0, "replies_created": 0, "duplicates_skipped": 5}

    # Export: the template's shape, one row per reply; it imports back into another tenant.
    r = admin.get("/canned/public/export")
    assert r.status_code == 200 and r.headers["content-type"] == XLSX
    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws is not None
    exported = [tuple(c or "" for c in row) for row in ws.iter_rows(min_row=2, values_only=True)]
    assert ("售后", "退货", "七天无理由退货") in exported and ("物流", "", "12345") in exported
    assert len(exported) == len(body["replies"])
    t2 = api.provision()
    res = _upload(t2.admin, "/canned/public/import", r.content).json()
    assert res["replies_created"] == len(exported)
    assert sorted(_texts(_public(t2.admin))) == sorted(_texts(body))
    # The template downloads for anyone who reads canned replies.
    _, agent = api.add_user(t)
    r = agent.get("/canned/template", params={"scope": "personal"})
    assert r.status_code == 200 and r.headers["content-type"] == XLSX
    assert load_workbook(io.BytesIO(r.content)).active.max_row >= 2  # type: ignore[union-attr]


def test_personal_import_export(api: Api) -> None:
    t = api.provision()
    _, agent = api.add_user(t)
    _, other = api.add_user(t)
    # The first-level column is ignored for a personal set; level 2 is the sub-category.
    rows: list[tuple[Any, ...]] = [("个人常用语", "问候", "您好"), ("whatever", "", "再见")]
    got = _upload(agent, "/canned/personal/import", _book(rows)).json()
    assert got == {"categories_created": 1, "replies_created": 2, "duplicates_skipped": 0}
    body = _personal(agent)
    assert [c["name"] for c in body["categories"]] == ["问候"]
    by_text = {r["text"]: r["category_id"] for r in body["replies"]}
    assert by_text == {"您好": body["categories"][0]["id"], "再见": None}
    assert _personal(other)["replies"] == []
    r = _upload(agent, "/canned/personal/import", _book([("", "", "ok"), ("", "", "t" * 1001)]))
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["row"] == "3"
    assert _personal(agent) == body
    r = agent.get("/canned/personal/export")
    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws is not None
    rows_out = sorted(
        tuple(c or "" for c in row[1:]) for row in ws.iter_rows(min_row=2, values_only=True)
    )
    assert rows_out == [("", "再见"), ("问候", "您好")]


# --- submissions --------------------------------------------------------------------------


def _notices(c: Client, kind: str) -> list[dict[str, Any]]:
    items = c.ok("GET", "/notifications", params={"page_size": 100})["items"]
    return [n for n in items if n["kind"] == kind]


def test_submission_accept_and_reject_with_notices(api: Api) -> None:
    t = api.provision()
    top, sub = _tree(t)
    agent_user, agent = api.add_user(t, nickname="小王")
    mine = agent.ok("POST", "/canned/personal/replies", json={"text": "我的好回复"})
    # An agent cannot submit someone else's reply, nor to a personal category.
    _, other = api.add_user(t)
    r = other.post(
        "/canned/submissions", json={"reply_id": mine["id"], "category_id": sub, "reason": "steal"}
    )
    assert r.status_code == 404
    own_cat = agent.ok("POST", "/canned/personal/categories", json={"name": "私有"})
    r = agent.post(
        "/canned/submissions",
        json={"reply_id": mine["id"], "category_id": own_cat["id"], "reason": "x"},
    )
    assert r.status_code == 404
    r = agent.post("/canned/submissions", json={"reply_id": mine["id"], "category_id": sub})
    assert r.status_code == 422  # a reason is required

    s = agent.ok(
        "POST",
        "/canned/submissions",
        status=201,
        json={
            "reply_id": mine["id"],
            "category_id": sub,
            "text": "编辑后的回复",
            "reason": "大家都能用",
        },
    )
    assert s["state"] == "pending" and s["text"] == "编辑后的回复"
    assert s["category_path"] == "售后 / 退货" and s["requester_name"] == "小王"
    r = agent.post(
        "/canned/submissions", json={"reply_id": mine["id"], "category_id": sub, "reason": "again"}
    )
    assert r.status_code == 409 and _err(r) == "canned_submission_pending"
    # Admins are told; the list shows it as pending.
    (notice,) = _notices(t.admin, "canned_submission_requested")
    assert notice["data"]["submission_id"] == s["id"] and notice["data"]["reason"] == "大家都能用"
    pending = t.admin.ok("GET", "/canned/submissions")
    assert [x["id"] for x in pending["items"]] == [s["id"]] and pending["total"] == 1

    # Accepting makes it a public reply (the admin may still edit it) and tells the agent.
    done = t.admin.ok(
        "POST", f"/canned/submissions/{s['id']}/accept", json={"text": "最终版本", "comment": "好"}
    )
    assert done["state"] == "accepted" and done["public_reply_id"]
    public = {r["id"]: r for r in _public(agent)["replies"]}
    assert public[done["public_reply_id"]]["text"] == "最终版本"
    assert public[done["public_reply_id"]]["category_id"] == sub
    (decided,) = _notices(agent, "canned_submission_decided")
    assert decided["data"]["decision"] == "accepted" and decided["data"]["comment"] == "好"
    r = t.admin.post(f"/canned/submissions/{s['id']}/reject", json={"comment": "late"})
    assert r.status_code == 409 and _err(r) == "canned_submission_decided"
    # The personal reply stays the agent's own.
    assert "我的好回复" in _texts(_personal(agent))

    # Rejecting: with a comment; nothing public is added; the agent is told.
    s2 = agent.ok(
        "POST",
        "/canned/submissions",
        json={"reply_id": mine["id"], "category_id": top, "reason": "再试一次"},
    )
    assert s2["text"] == "我的好回复"
    count = len(_public(agent)["replies"])
    rejected = t.admin.ok(
        "POST", f"/canned/submissions/{s2['id']}/reject", json={"comment": "重复了"}
    )
    assert rejected["state"] == "rejected" and rejected["comment"] == "重复了"
    assert len(_public(agent)["replies"]) == count
    decisions = [n["data"]["decision"] for n in _notices(agent, "canned_submission_decided")]
    assert sorted(decisions) == ["accepted", "rejected"]
    # Lists by state, and the agent's own list.
    assert t.admin.ok("GET", "/canned/submissions")["total"] == 0
    assert t.admin.ok("GET", "/canned/submissions", params={"state": "all"})["total"] == 2
    mine_list = agent.ok("GET", "/canned/submissions/mine")
    assert [x["state"] for x in mine_list["items"]] == ["rejected", "accepted"]
    assert other.ok("GET", "/canned/submissions/mine")["total"] == 0
    # Only enabled users whose role keeps the public set hear of submissions.
    assert _notices(other, "canned_submission_requested") == []
    assert agent_user["id"] != 0


def test_accept_needs_a_public_category(api: Api) -> None:
    t = api.provision()
    top, sub = _tree(t)
    _, agent = api.add_user(t)
    mine = agent.ok("POST", "/canned/personal/replies", json={"text": "x"})
    s = agent.ok(
        "POST",
        "/canned/submissions",
        json={"reply_id": mine["id"], "category_id": sub, "reason": "r"},
    )
    t.admin.ok("DELETE", f"/canned/public/categories/{sub}")
    r = t.admin.post(f"/canned/submissions/{s['id']}/accept")
    assert r.status_code == 422 and _err(r) == "canned_category_required"
    done = t.admin.ok("POST", f"/canned/submissions/{s['id']}/accept", json={"category_id": top})
    assert done["state"] == "accepted" and done["category_path"] == "售后"


# --- tenants and permissions --------------------------------------------------------------


def test_other_tenants_objects_are_unknown(api: Api) -> None:
    a, b = api.provision("A"), api.provision("B")
    b_top, _ = _tree(b)
    b_reply = b.admin.ok("POST", "/canned/public/replies", json={"category_id": b_top, "text": "B"})
    _, b_agent = api.add_user(b)
    b_mine = b_agent.ok("POST", "/canned/personal/replies", json={"text": "mine"})
    b_sub = b_agent.ok(
        "POST",
        "/canned/submissions",
        json={"reply_id": b_mine["id"], "category_id": b_top, "reason": "r"},
    )
    a_top, _ = _tree(a)
    for method, url, json in (
        ("PATCH", f"/canned/public/categories/{b_top}", {"name": "A"}),
        ("PATCH", f"/canned/public/replies/{b_reply['id']}", {"text": "A"}),
        ("POST", "/canned/public/replies", {"category_id": b_top, "text": "A"}),
        ("POST", "/canned/public/categories", {"name": "A", "parent_id": b_top}),
        ("PATCH", f"/canned/public/replies/{b_reply['id']}", {"category_id": a_top}),
        ("POST", f"/canned/replies/{b_reply['id']}/used", None),
        ("PUT", f"/canned/replies/{b_reply['id']}/pin", None),
        ("POST", f"/canned/submissions/{b_sub['id']}/accept", None),
        ("POST", f"/canned/submissions/{b_sub['id']}/reject", None),
        (
            "POST",
            "/canned/submissions",
            {"reply_id": b_mine["id"], "category_id": a_top, "reason": "r"},
        ),
    ):
        r = a.admin.request(method, url, json=json)
        assert r.status_code == 404 and _err(r) == "not_found", (method, url, r.text)
    assert _texts(_public(a.admin)) == []
    assert _texts(_public(b.admin)) == ["B"]
    assert b.admin.ok("GET", "/canned/submissions")["total"] == 1


def test_custom_roles(api: Api) -> None:
    t = api.provision()
    top, _ = _tree(t)

    def role(pages: list[str]) -> Client:
        rid = t.admin.ok(
            "POST", "/roles", json={"name": "-".join(pages) or "none", "pages": pages}
        )["id"]
        return api.add_user(t, role_id=rid)[1]

    keeper = role(["admin.settings.canned"])
    page_only = role(["agent.canned"])
    nobody = role(["agent.history"])
    # Keepers of the public set edit it and see submissions, but have no personal set.
    keeper.ok("POST", "/canned/public/replies", json={"category_id": top, "text": "k"})
    assert keeper.ok("GET", "/canned/submissions")["total"] == 0
    assert keeper.get("/canned/personal").status_code == 403
    # The Canned replies page alone: reads the public set, keeps a personal one.
    assert _texts(_public(page_only)) == ["k"]
    page_only.ok("POST", "/canned/personal/replies", json={"text": "p"})
    assert (
        page_only.post("/canned/public/replies", json={"category_id": top, "text": "x"}).status_code
        == 403
    )
    for url in ("/canned/public", "/canned/personal", "/canned/suggest?q=k", "/canned/prefs"):
        r = nobody.get(url)
        assert r.status_code == 403 and _err(r) == "forbidden", url
