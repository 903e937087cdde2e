"""Session tags (§9.1, §3.7 forced tag, §15.1 notices): the tree and its limits, applying tags
to conversations, suggestions, import / export."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook, load_workbook

from kefu.conversations import actions as conv_actions
from kefu.conversations.models import Conversation
from kefu.core.db import make_sessionmaker
from tests.chat_helpers import Visitor, event_named, new_widget, recv_until, staff_socket
from tests.conftest import LiveServer
from tests.helpers import Api, Client, Tenant
from tests.routing_helpers import on_server, switches

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _err(r: Any) -> str:
    return str(r.json()["error"]["code"])


def _held(api: Api, server: LiveServer, t: Tenant) -> tuple[dict[str, Any], Client, int, int]:
    """A new agent holding a conversation with a new visitor: (user, client, visitor, conv)."""
    user, agent = api.add_user(t)
    with staff_socket(server.base_url, agent) as ws:
        v = Visitor(api, new_widget(t))
        v.send("你好")
        conv_id = recv_until(ws, event_named("conversation.assigned"))["conversation_id"]
    return user, agent, v.id, conv_id


def _tag(admin: Client, name: str, parent: int | None = None, **kw: Any) -> dict[str, Any]:
    return admin.ok(
        "POST", "/session-tags", status=201, json={"name": name, "parent_id": parent, **kw}
    )


def _xlsx(rows: list[list[Any]], header: list[str] | None = None) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(header or [f"level{i}" for i in range(1, 11)])
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _import(admin: Client, data: bytes, path: str = "/session-tags/import") -> Any:
    return admin.post(path, files={"file": ("tags.xlsx", data, XLSX)})


def _notices(client: Client, kind: str) -> list[dict[str, Any]]:
    items = client.ok("GET", "/notifications", params={"page_size": 50})["items"]
    return [n for n in items if n["kind"] == kind]


# --- the tree ----------------------------------------------------------------------------


def test_tree_crud_names_colours_and_levels(api: Api) -> None:
    t = api.provision()
    admin = t.admin
    a = _tag(admin, "咨询", color="#FF0000")
    assert a["color"] == "#ff0000" and a["level"] == 1 and a["path"] == ["咨询"]
    b = _tag(admin, "售后", parent=a["id"])
    assert b["level"] == 2 and b["path"] == ["咨询", "售后"] and b["color"] is None
    # Sibling names are unique (ignoring case); the same name under another parent is fine.
    r = admin.post("/session-tags", json={"name": "咨询"})
    assert r.status_code == 409 and _err(r) == "session_tag_name_taken"
    _tag(admin, "Refund", parent=a["id"])
    r = admin.post("/session-tags", json={"name": "refund", "parent_id": a["id"]})
    assert r.status_code == 409 and _err(r) == "session_tag_name_taken"
    _tag(admin, "售后", parent=b["id"])
    for bad in ({"name": ""}, {"name": "x" * 31}, {"name": "a\nb"}, {"name": "ok", "color": "red"}):
        r = admin.post("/session-tags", json=bad)
        assert r.status_code == 422 and _err(r) == "validation_error", (bad, r.text)
    r = admin.post("/session-tags", json={"name": "x", "parent_id": 999999})
    assert r.status_code == 404

    # Rename, recolour, clear the colour.
    out = admin.ok("PATCH", f"/session-tags/{b['id']}", json={"name": "退货", "color": "#00aa00"})
    assert out["name"] == "退货" and out["color"] == "#00aa00"
    out = admin.ok("PATCH", f"/session-tags/{b['id']}", json={"color": None})
    assert out["color"] is None
    r = admin.patch(f"/session-tags/{b['id']}", json={"name": "Refund"})
    assert r.status_code == 409

    # 10 levels at most.
    parent = None
    chain = []
    for i in range(10):
        parent = _tag(admin, f"L{i + 1}", parent=parent and parent["id"])
        chain.append(parent)
    assert chain[-1]["level"] == 10
    r = admin.post("/session-tags", json={"name": "L11", "parent_id": chain[-1]["id"]})
    assert r.status_code == 409 and _err(r) == "session_tag_depth_limit"
    # Moving a 2-level subtree under level 9 would make 11 levels.
    r = admin.patch(f"/session-tags/{a['id']}", json={"parent_id": chain[8]["id"]})
    assert r.status_code == 409 and _err(r) == "session_tag_depth_limit"
    # Moving a tag under itself or its descendant is refused.
    r = admin.patch(f"/session-tags/{chain[0]['id']}", json={"parent_id": chain[3]["id"]})
    assert r.status_code == 409 and _err(r) == "session_tag_move_into_self"

    audit = admin.ok("GET", "/audit-logs", params={"page_size": 100})
    acts = {row["action"] for row in audit["items"]}
    assert {"session_tag.created", "session_tag.updated"} <= acts

    # Agents read the tree but cannot change it.
    _, agent = api.add_user(t)
    names = [x["name"] for x in agent.ok("GET", "/session-tags")]
    assert names[:2] == ["咨询", "退货"]
    assert agent.post("/session-tags", json={"name": "x"}).status_code == 403


def test_first_level_limit_and_total_limit(api: Api) -> None:
    t = api.provision()
    admin = t.admin
    for i in range(30):
        _tag(admin, f"T{i}")
    r = admin.post("/session-tags", json={"name": "T30"})
    assert r.status_code == 409 and _err(r) == "session_tag_first_level_limit"
    # Moving a child up to the first level counts too.
    child = _tag(admin, "child", parent=admin.ok("GET", "/session-tags")[0]["id"])
    r = admin.patch(f"/session-tags/{child['id']}", json={"parent_id": None})
    assert r.status_code == 409 and _err(r) == "session_tag_first_level_limit"
    # 1000 in all: fill up through an import (31 existing + 969 new).
    rows = [[f"T{i % 30}", f"c{i}"] for i in range(969)]
    out = _import(admin, _xlsx(rows))
    assert out.status_code == 200, out.text
    assert out.json()["created"] == 969
    assert len(admin.ok("GET", "/session-tags")) == 1000
    r = admin.post("/session-tags", json={"name": "one-more", "parent_id": child["id"]})
    assert r.status_code == 409 and _err(r) == "session_tag_total_limit"
    r = _import(admin, _xlsx([["T1", "c-new"]]))
    assert r.status_code == 409 and _err(r) == "session_tag_total_limit"
    # Deleting frees room.
    admin.ok("DELETE", f"/session-tags/{child['id']}", status=204)
    _tag(admin, "room-again", parent=child["parent_id"])


def test_reorder_and_move(api: Api) -> None:
    admin = api.provision().admin
    a, b, c = (_tag(admin, n) for n in ("A", "B", "C"))
    a1, a2 = _tag(admin, "a1", a["id"]), _tag(admin, "a2", a["id"])
    tree = admin.ok("PUT", "/session-tags/order", json={"tag_ids": [c["id"], a["id"], b["id"]]})
    assert [x["name"] for x in tree] == ["C", "A", "a1", "a2", "B"]
    tree = admin.ok(
        "PUT", "/session-tags/order", json={"parent_id": a["id"], "tag_ids": [a2["id"], a1["id"]]}
    )
    assert [x["name"] for x in tree] == ["C", "A", "a2", "a1", "B"]
    # The order must list exactly the siblings.
    for bad in ([c["id"], a["id"]], [c["id"], a["id"], b["id"], a1["id"]], [a["id"]] * 3):
        r = admin.put("/session-tags/order", json={"tag_ids": bad})
        assert r.status_code == 409 and _err(r) == "session_tag_order_mismatch"
    # Move a1 under B at position 0, then back to the first level at position 1.
    admin.ok("PATCH", f"/session-tags/{a1['id']}", json={"parent_id": b["id"]})
    moved = admin.ok("PATCH", f"/session-tags/{a1['id']}", json={"parent_id": None, "position": 1})
    assert moved["level"] == 1
    assert [x["name"] for x in admin.ok("GET", "/session-tags")] == ["C", "a1", "A", "a2", "B"]
    # Same-parent position change (drag within siblings).
    admin.ok("PATCH", f"/session-tags/{b['id']}", json={"position": 0})
    assert [x["name"] for x in admin.ok("GET", "/session-tags") if x["level"] == 1] == [
        "B",
        "C",
        "a1",
        "A",
    ]


# --- applying ------------------------------------------------------------------------------


def test_apply_tags_remark_validation_and_deleted_tags(api: Api, server: LiveServer) -> None:
    t = api.provision()
    admin = t.admin
    a = _tag(admin, "咨询")
    a1 = _tag(admin, "价格", a["id"])
    b = _tag(admin, "投诉")
    _, agent, _, conv = _held(api, server, t)
    url = f"/conversations/{conv}/session-tags"
    assert agent.ok("GET", url)["tags"] == []
    out = agent.ok("PUT", url, json={"tag_ids": [a1["id"], b["id"], b["id"]], "remark": " 问价 "})
    assert [x["path"] for x in out["tags"]] == [["咨询", "价格"], ["投诉"]]
    assert out["remark"] == "问价" and out["updated_by"] == agent.me["id"]
    assert agent.ok("GET", url) == out
    # Category (non-leaf) tags can be applied too.
    agent.ok("PUT", url, json={"tag_ids": [a["id"]], "remark": ""})
    assert [x["name"] for x in agent.ok("GET", url)["tags"]] == ["咨询"]

    r = agent.put(url, json={"tag_ids": [a["id"]], "remark": "x" * 201})
    assert r.status_code == 422
    r = agent.put(url, json={"tag_ids": [999999]})
    assert r.status_code == 404 and _err(r) == "session_tag_not_found"
    r = agent.put(url, json={"tag_ids": list(range(1, 23))})
    assert r.status_code == 422
    # Nothing half-written after refusals.
    assert [x["name"] for x in agent.ok("GET", url)["tags"]] == ["咨询"]

    # Deleting a tag (and its subtree) keeps it on conversations that carry it, marked deleted;
    # it can no longer be newly applied.
    agent.ok("PUT", url, json={"tag_ids": [a["id"], a1["id"]], "remark": "r"})
    admin.ok("DELETE", f"/session-tags/{a['id']}", status=204)
    assert [x["name"] for x in admin.ok("GET", "/session-tags")] == ["投诉"]
    kept = agent.ok("GET", url)["tags"]
    assert [(x["name"], x["deleted"]) for x in kept] == [("咨询", True), ("价格", True)]
    out = agent.ok("PUT", url, json={"tag_ids": [a["id"], b["id"]], "remark": "r"})
    assert [x["name"] for x in out["tags"]] == ["咨询", "投诉"]
    _, agent2, _, conv2 = _held(api, server, t)
    r = agent2.put(f"/conversations/{conv2}/session-tags", json={"tag_ids": [a["id"]]})
    assert r.status_code == 404 and _err(r) == "session_tag_not_found"
    assert admin.patch(f"/session-tags/{a['id']}", json={"name": "x"}).status_code == 404

    # Another agent cannot see or tag the conversation.
    assert agent2.get(url).status_code == 404
    assert agent2.put(url, json={"tag_ids": []}).status_code == 404


def test_admin_change_notifies_the_agent_and_history_tagging(api: Api, server: LiveServer) -> None:
    t = api.provision()
    admin = t.admin
    a, b = _tag(admin, "A"), _tag(admin, "B")
    _, agent, _, conv = _held(api, server, t)
    url = f"/conversations/{conv}/session-tags"
    agent.ok("PUT", url, json={"tag_ids": [a["id"]], "remark": "mine"})
    assert _notices(agent, "session_tags_changed") == []
    # The agent ends it, then tags it again from history: still theirs, no notice.
    agent.ok("POST", f"/conversations/{conv}/end")
    agent.ok("PUT", url, json={"tag_ids": [a["id"], b["id"]], "remark": "later"})
    assert _notices(agent, "session_tags_changed") == []
    # An admin changes it: the agent is told.
    admin.ok("PUT", url, json={"tag_ids": [b["id"]], "remark": "fixed"})
    [notice] = _notices(agent, "session_tags_changed")
    data = notice["data"]
    assert data["conversation_id"] == conv and data["tags"] == ["B"] and data["remark"] == "fixed"
    assert data["actor_id"] == admin.me["id"]
    # Saving the same again changes nothing and tells nobody.
    admin.ok("PUT", url, json={"tag_ids": [b["id"]], "remark": "fixed"})
    assert len(_notices(agent, "session_tags_changed")) == 1


def test_forced_tag_on_manual_end(api: Api, server: LiveServer) -> None:
    t = api.provision()
    admin = t.admin
    tag = _tag(admin, "Done")
    # Off (default): ending without tags is fine.
    _, agent, _, conv = _held(api, server, t)
    agent.ok("POST", f"/conversations/{conv}/end")

    switches(t, session_tag_required=True)
    _, agent, _, conv = _held(api, server, t)
    r = agent.post(f"/conversations/{conv}/end")
    assert r.status_code == 409 and _err(r) == "session_tag_required"
    assert "标签" in r.json()["error"]["message"]
    assert agent.ok("GET", "/conversations")[0]["state"] == "ongoing"
    # An admin closing it from Current sessions needs a tag too.
    r = admin.post(f"/current-sessions/{conv}/end")
    assert r.status_code == 409 and _err(r) == "session_tag_required"
    agent.ok("PUT", f"/conversations/{conv}/session-tags", json={"tag_ids": [tag["id"]]})
    assert agent.ok("POST", f"/conversations/{conv}/end")["state"] == "ended"

    # Automatic ends are exempt.
    _, agent, _, conv = _held(api, server, t)

    async def auto_end() -> str:
        async with make_sessionmaker(server.app.state.engine)() as db:
            c = await db.get(Conversation, conv)
            assert c is not None
            await conv_actions.end(db, c, by="system", actor_id=None, reason="inactive")
            await db.commit()
            return c.state

    assert on_server(server, auto_end()) == "ended"


def test_suggestions_are_the_callers_most_used(api: Api, server: LiveServer) -> None:
    t = api.provision()
    admin = t.admin
    tags = [_tag(admin, f"S{i}") for i in range(7)]
    _, agent = api.add_user(t)
    assert agent.ok("GET", "/session-tags/suggested") == []
    # Uses: S3 x3, S1 x2, S5 x2 (S5 used more recently), then S0, S2, S6 once (S6 latest).
    plan = [[3, 1], [3, 1, 5], [3, 5], [0], [2], [6]]
    widget = new_widget(t)
    convs = []
    with staff_socket(server.base_url, agent) as ws:
        for ids in plan:
            v = Visitor(api, widget)
            v.send("hi")
            conv = recv_until(ws, event_named("conversation.assigned"))["conversation_id"]
            body = {"tag_ids": [tags[i]["id"] for i in ids]}
            agent.ok("PUT", f"/conversations/{conv}/session-tags", json=body)
            agent.ok("POST", f"/conversations/{conv}/end")
            convs.append(conv)
    # An admin's tagging counts for the admin, not for the agent (the agent's tags stay theirs).
    body = {"tag_ids": [tags[i]["id"] for i in (3, 1, 4)]}
    admin.ok("PUT", f"/conversations/{convs[0]}/session-tags", json=body)
    names = [x["name"] for x in agent.ok("GET", "/session-tags/suggested")]
    assert names == ["S3", "S5", "S1", "S6", "S2"]
    assert [x["name"] for x in admin.ok("GET", "/session-tags/suggested")] == ["S4"]
    # Deleted tags are not suggested.
    admin.ok("DELETE", f"/session-tags/{tags[3]['id']}", status=204)
    names = [x["name"] for x in agent.ok("GET", "/session-tags/suggested")]
    assert names == ["S5", "S1", "S6", "S2", "S0"]


# --- import / export -----------------------------------------------------------------------


def test_import_reports_duplicates_and_export_round_trips(api: Api) -> None:
    t = api.provision()
    admin = t.admin
    a = _tag(admin, "咨询")
    _tag(admin, "价格", a["id"])
    tpl = admin.get("/session-tags/template")
    assert tpl.status_code == 200 and tpl.headers["content-type"] == XLSX
    header = [c.value for c in load_workbook(io.BytesIO(tpl.content)).worksheets[0][1]]
    assert len(header) == 10 and "level1" in header[0] and "level10" in header[9]

    rows = [
        ["咨询", "价格"],  # exists
        ["咨询", "物流", "时效"],  # new: 物流 and 时效
        ["投诉"],  # new
        ["投诉"],  # repeated in the file
        ["咨询", "物流"],  # created by the row above: counted as a repeat in the file
        [None, None],  # empty: ignored
        ["+VIP"],  # formula-looking names stay plain text
        [123],  # numbers become text
    ]
    r = _import(admin, _xlsx(rows))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["rows"] == 7 and out["created"] == 5
    assert out["duplicates_existing"] == 1 and out["duplicates_in_file"] == 2
    assert out["duplicate_rows"] == [2, 5, 6]
    paths = [x["path"] for x in admin.ok("GET", "/session-tags")]
    assert ["咨询", "物流", "时效"] in paths and ["+VIP"] in paths and ["123"] in paths
    # Importing the same again adds nothing.
    again = _import(admin, _xlsx(rows)).json()
    assert again["created"] == 0 and again["duplicates_existing"] == 7

    exported = admin.get("/session-tags/export")
    assert exported.status_code == 200 and exported.headers["content-type"] == XLSX
    ws = load_workbook(io.BytesIO(exported.content)).worksheets[0]
    assert ws.cell(row=2, column=1).value == "咨询"
    # A name starting with "=" is exported as text, not as a formula.
    admin.ok("PATCH", f"/session-tags/{a['id']}", json={"name": "=1+1"})
    ws = load_workbook(io.BytesIO(admin.get("/session-tags/export").content)).worksheets[0]
    assert ws.cell(row=2, column=1).value == "=1+1" and ws.cell(row=2, column=1).data_type == "s"
    exported = admin.get("/session-tags/export")
    # Round trip: the export imported into a new tenant gives the same tree.
    other = api.provision().admin
    r = _import(other, exported.content)
    assert r.status_code == 200, r.text
    assert r.json()["duplicates_in_file"] == 0
    strip = lambda tree: [(x["path"], x["level"]) for x in tree]  # noqa: E731
    assert strip(other.ok("GET", "/session-tags")) == strip(admin.ok("GET", "/session-tags"))


def test_import_refuses_bad_files_with_row_numbers(api: Api) -> None:
    admin = api.provision().admin
    r = _import(admin, b"not a spreadsheet")
    assert r.status_code == 422 and _err(r) == "import_file_invalid"
    rows: list[list[Any]] = [
        ["ok"],
        [None, "gap"],  # row 3: level 1 empty
        ["x" * 31],  # row 4: too long
        ["a", None, "c"],  # row 5: gap in the middle
        [f"L{i}" for i in range(11)],  # row 6: 11 levels
    ]
    r = _import(admin, _xlsx(rows))
    assert r.status_code == 422 and _err(r) == "import_rows_invalid"
    err = r.json()["error"]
    assert "3, 4, 5, 6" in err["message"]
    assert [f["field"] for f in err["fields"]] == ["row 3", "row 4", "row 5", "row 6"]
    assert admin.ok("GET", "/session-tags") == []  # all or nothing
    # The first-level limit holds for imports too (30, see docs/decisions.md).
    r = _import(admin, _xlsx([[f"F{i}"] for i in range(31)]))
    assert r.status_code == 409 and _err(r) == "session_tag_first_level_limit"
    r = _import(admin, _xlsx([[f"F{i}"] for i in range(30)]))
    assert r.status_code == 200 and r.json()["created"] == 30
    r = admin.post(
        "/session-tags/import", files={"file": ("big.xlsx", b"0" * (2 * 1024 * 1024 + 1), XLSX)}
    )
    assert r.status_code == 413 and _err(r) == "import_file_too_large"


# --- isolation ------------------------------------------------------------------------------


def test_cross_tenant(api: Api, server: LiveServer) -> None:
    t1, t2 = api.provision(), api.provision()
    a = _tag(t1.admin, "mine")
    _, agent, _, conv = _held(api, server, t1)
    other = t2.admin
    for method, url, body in (
        ("PATCH", f"/session-tags/{a['id']}", {"name": "x"}),
        ("DELETE", f"/session-tags/{a['id']}", None),
        ("GET", f"/conversations/{conv}/session-tags", None),
        ("PUT", f"/conversations/{conv}/session-tags", {"tag_ids": []}),
    ):
        r = other.request(method, url, json=body)
        assert r.status_code == 404 and _err(r) == "not_found", (method, url, r.text)
    assert other.ok("GET", "/session-tags") == []
    r = other.put("/session-tags/order", json={"parent_id": a["id"], "tag_ids": []})
    assert r.status_code == 404
    r = other.post("/session-tags", json={"name": "x", "parent_id": a["id"]})
    assert r.status_code == 404
    # Another tenant's tag cannot be applied.
    t2_tag = _tag(other, "theirs")
    r = agent.put(f"/conversations/{conv}/session-tags", json={"tag_ids": [t2_tag["id"]]})
    assert r.status_code == 404 and _err(r) == "session_tag_not_found"
