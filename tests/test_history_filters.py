"""History filters, columns, detail extras and search inside (SPEC §3.10, §13.2).

One seeded tenant (built once per test, the server being per test) checks every filter:
  c1  Alice, visitor Zhang San, tag T1, rated 5 with a comment
  c2  Alice -> transfer to group Support -> Bob (member) ends; tag T2      (mid: between them)
  c3  Wang Wu waits, the admin closes it from the queue (ended while waiting)
  c4  Alice's callback of Zhang San
  c5  Carol, via a widget of association A
  c6  the admin reassigns c3's visitor to Carol
  c7  Carol -> group Support -> Bob -> agent Carol, who ends it (not ended by a member)
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from kefu.history.exports import message_cell
from tests.chat_helpers import Visitor, new_widget, staff_socket
from tests.conftest import LiveServer
from tests.exports_helpers import run_export, sheet_rows
from tests.helpers import Api, Client
from tests.routing_helpers import group
from tests.world_history import Desk, error


def ids(page: dict[str, Any]) -> set[int]:
    return {int(i["id"]) for i in page["items"]}


def _transfer(desk: Desk, frm: Client, to: Client, conv: int, **target: int) -> None:
    ws = staff_socket(desk.base_url, to)
    try:
        to.ok("PUT", "/me/status", json={"status": "idle"})
        out = frm.ok("POST", f"/conversations/{conv}/transfer", json=target)
        assert out["outcome"] == "transferred", out
        to.ok("PUT", "/me/status", json={"status": "busy"})
    finally:
        ws.close()


class World:
    def __init__(self, api: Api, server: LiveServer) -> None:
        self.api = api
        desk = self.desk = Desk(api, server.base_url)
        t = self.t = desk.t
        self.admin = t.admin
        self.alice_u, self.alice = api.add_user(t, nickname="Alice Wong")
        self.bob_u, self.bob = api.add_user(t, nickname="Bob Li")
        self.carol_u, self.carol = api.add_user(t, nickname="Carol Chen")
        self.support = group(t, "Support", [self.bob_u["id"]])
        self.t1 = self.admin.ok("POST", "/session-tags", json={"name": "Refund"})["id"]
        self.t2 = self.admin.ok("POST", "/session-tags", json={"name": "Invoice"})["id"]

        self.v1 = desk.visitor("Zhang San")
        _, self.c1 = desk.held(self.alice, self.v1)
        self.v1.send("Refund for order 1234 please")
        self.alice.ok(
            "POST",
            f"/conversations/{self.c1}/messages",
            json={"client_msg_id": "a1", "kind": "text", "body": {"text": "Your refund is coming"}},
        )
        self.alice.ok("PUT", f"/conversations/{self.c1}/session-tags", json={"tag_ids": [self.t1]})
        self.alice.ok("POST", f"/conversations/{self.c1}/end")
        self.v1.http.ok(
            "POST",
            "/visitor/csat",
            json={"conversation_id": self.c1, "score": 5, "comment": "very helpful"},
        )

        _, self.c2 = desk.held(self.alice, desk.visitor("Li Si"))
        time.sleep(0.05)
        self.mid = datetime.now(UTC).isoformat()
        time.sleep(0.05)
        _transfer(desk, self.alice, self.bob, self.c2, skill_group_id=self.support["id"])
        self.bob.ok("PUT", f"/conversations/{self.c2}/session-tags", json={"tag_ids": [self.t2]})
        self.bob.ok("POST", f"/conversations/{self.c2}/end")

        self.v3 = desk.visitor("Wang Wu")
        self.c3 = int(self.v3.send("anyone there?")["conversation_id"])
        self.admin.ok("POST", f"/waiting/{self.c3}/end")

        ws = staff_socket(desk.base_url, self.alice)
        try:
            self.c4 = self.alice.ok("POST", f"/conversations/{self.c1}/callback")["conversation"][
                "id"
            ]
            self.alice.ok("POST", f"/conversations/{self.c4}/end")
        finally:
            ws.close()

        self.assoc = self.admin.ok("POST", "/associations", json={"name": "Shop"})["id"]
        shop = new_widget(t, association_id=self.assoc)
        _, self.c5 = desk.held(self.carol, Visitor(api, shop, profile={"name": "Zhao Liu"}))
        self.carol.ok("POST", f"/conversations/{self.c5}/end")

        ws = staff_socket(desk.base_url, self.carol)
        try:
            self.carol.ok("PUT", "/me/status", json={"status": "idle"})
            self.c6 = self.admin.ok(
                "POST", f"/conversations/{self.c3}/reassign", json={"agent_id": self.carol_u["id"]}
            )["id"]
            self.carol.ok("PUT", "/me/status", json={"status": "busy"})
            self.carol.ok("POST", f"/conversations/{self.c6}/end")
        finally:
            ws.close()

        _, self.c7 = desk.held(self.carol, desk.visitor("Qian Qi"))
        _transfer(desk, self.carol, self.bob, self.c7, skill_group_id=self.support["id"])
        _transfer(desk, self.bob, self.carol, self.c7, agent_id=self.carol_u["id"])
        self.carol.ok("POST", f"/conversations/{self.c7}/end")
        # Alice joins a group only now (group members get no ungrouped conversations).
        self.sales = group(t, "Sales", [self.alice_u["id"]])
        self.all = {self.c1, self.c2, self.c3, self.c4, self.c5, self.c6, self.c7}

    def find(self, client: Client | None = None, **params: Any) -> set[int]:
        c = client or self.admin
        return ids(c.ok("GET", "/history", params={"page_size": 100, **params}))


def test_history_filters_columns_and_scopes(api: Api, server: LiveServer) -> None:
    w = World(api, server)
    find = w.find
    assert find() == w.all
    # Agent mode: what I took part in.
    assert find(w.alice) == {w.c1, w.c2, w.c4}
    assert find(w.bob) == {w.c2, w.c7}
    # Transferred, session type.
    assert find(transferred=True) == {w.c2, w.c7}
    assert find(transferred=False) == w.all - {w.c2, w.c7}
    assert find(session_type="unaccepted") == {w.c3}
    assert find(session_type="callback") == {w.c4}
    assert find(session_type="reassigned") == {w.c6}
    assert find(session_type="normal") == {w.c1, w.c2, w.c5, w.c7}
    # Skill group: routed/transferred to it AND ended by a member (c7 was ended by Carol).
    assert find(skill_group_id=w.support["id"]) == {w.c2}
    assert find(skill_group_id=w.sales["id"]) == set()
    ungrouped = next(
        g["id"] for g in w.admin.ok("GET", "/skill-groups") if g.get("builtin") == "ungrouped"
    )
    assert {w.c5, w.c6} <= find(skill_group_id=ungrouped) and w.c1 not in find(
        skill_group_id=ungrouped
    )
    # Session tags (any of), visitor id / name, association, channel.
    assert find(session_tag_ids=[w.t1, w.t2]) == {w.c1, w.c2}
    assert find(session_tag_ids=[w.t1]) == {w.c1}
    assert find(visitor_id=w.v1.id) == {w.c1, w.c4}
    assert find(visitor_name="zhang") == {w.c1, w.c4}
    assert find(association_id=w.assoc) == {w.c5}
    assert find(channel="web") == w.all and find(channel="weibo") == set()
    # Admin-only: rating, agent name (nickname part); refused in agent mode.
    assert find(rating=5) == {w.c1}
    assert find(rating=0) == w.all - {w.c1}
    assert find(agent_name="ALICE") == {w.c1, w.c2, w.c4}
    assert find(agent_name="bob", skill_group_id=w.support["id"]) == {w.c2}
    for bad in ({"rating": 5}, {"agent_name": "x"}):
        r = w.alice.get("/history", params=bad)
        assert r.status_code == 422 and error(r) == "history_admin_filter", r.text
    # Time basis: ended vs first accepted (c3 has no accepted time).
    assert find(time_to=w.mid) == {w.c1}
    assert find(time_from=w.mid) == w.all - {w.c1}
    assert find(time_basis="accepted", time_to=w.mid) == {w.c1, w.c2}
    assert find(time_basis="accepted", time_from=w.mid) == {w.c4, w.c5, w.c6, w.c7}
    # Exact id ignores every other filter (not the caller's visibility).
    assert find(conversation_id=w.c3, channel="weibo", time_to=w.mid) == {w.c3}
    assert find(w.alice, conversation_id=w.c5) == set()
    # Bad values: 422 with the field named; another tenant's ids match nothing.
    for params, field in (
        ({"session_type": "bogus"}, "session_type"),
        ({"rating": 9}, "rating"),
        ({"channel": "fax"}, "channel"),
        ({"session_tag_ids": "abc"}, "session_tag_ids"),
        ({"time_basis": "created"}, "time_basis"),
        ({"time_from": w.mid, "time_to": w.mid}, "time_to"),
    ):
        r = w.admin.get("/history", params=params)
        assert r.status_code == 422, (params, r.text)
        assert field in {f["field"].split(".")[0] for f in r.json()["error"]["fields"]}, r.text
    other = api.provision()
    theirs = group(other, "Theirs", [])
    assert find(skill_group_id=theirs["id"]) == set()

    # Columns: tags, transferred, agents, rating (admin mode only), start time, session type.
    rows = {i["id"]: i for i in w.admin.ok("GET", "/history", params={"page_size": 100})["items"]}
    assert [t["name"] for t in rows[w.c2]["session_tags"]] == ["Invoice"]
    assert rows[w.c2]["transferred"] and [a["nickname"] for a in rows[w.c2]["agents"]] == [
        "Alice Wong",
        "Bob Li",
    ]
    assert rows[w.c1]["rating"] == 5 and rows[w.c2]["rating"] is None
    assert rows[w.c3]["session_type"] == "unaccepted" and rows[w.c3]["started_at"] is None
    assert rows[w.c4]["session_type"] == "callback"
    bobs = {i["id"]: i for i in w.bob.ok("GET", "/history")["items"]}
    assert bobs[w.c2]["rating"] is None
    assert bobs[w.c2]["started_at"] > rows[w.c2]["started_at"]  # Bob's transfer-in time

    # Detail extras: admins with the sub-pages see ratings and transfer records.
    d = w.admin.ok("GET", f"/history/{w.c2}")
    (rec,) = d["transfers"]
    assert rec["from_agent"]["nickname"] == "Alice Wong" and rec["to_agent"]["nickname"] == "Bob Li"
    assert rec["skill_group"]["name"] == "Support"
    d1 = w.admin.ok("GET", f"/history/{w.c1}")
    assert d1["csat"]["score"] == 5 and d1["csat"]["comment"] == "very helpful"
    mine = w.alice.ok("GET", f"/history/{w.c1}")
    assert mine["csat"] is None and mine["transfers"] is None and mine["rating"] is None
    role = w.admin.ok(
        "POST",
        "/roles",
        json={"name": "Auditor", "pages": ["admin.history"], "data_scopes": {"history": "tenant"}},
    )
    _, auditor = api.add_user(w.t, role_id=role["id"])
    plain = auditor.ok("GET", f"/history/{w.c2}")
    assert plain["csat"] is None and plain["transfers"] is None
    assert find(auditor) == w.all

    # Data scope "team": only conversations the team's agents took part in.
    tree = w.admin.ok("GET", "/teams")
    root = next(n for n in tree if n["is_root"])
    w.admin.ok("POST", "/teams", json={"name": "Desk B", "parent_id": root["id"]})
    team = next(n for n in w.admin.ok("GET", "/teams")[0]["children"] if n["name"] == "Desk B")
    w.admin.ok("PATCH", f"/users/{w.bob_u['id']}", json={"team_id": team["id"]})
    lead_role = w.admin.ok(
        "POST",
        "/roles",
        json={"name": "Lead", "pages": ["admin.history"], "data_scopes": {"history": "team"}},
    )
    _, lead = api.add_user(w.t, role_id=lead_role["id"], team_id=team["id"])
    assert find(lead) == {w.c2, w.c7}
    assert lead.get(f"/history/{w.c1}").status_code == 404
    assert find(lead, conversation_id=w.c1) == set()

    # Search inside a conversation: matching messages, offsets, count (any case).
    s = w.alice.ok("GET", f"/history/{w.c1}/messages/search", params={"q": "REFUND"})
    assert s["count"] == 2 and len(s["hits"]) == 2
    first = s["hits"][0]
    assert first["message"]["body"]["text"] == "Refund for order 1234 please"
    assert first["offsets"] == [[0, 6]]
    assert s["hits"][1]["offsets"] == [[5, 11]]
    assert w.alice.ok("GET", f"/history/{w.c1}/messages/search", params={"q": "zzz"})["count"] == 0
    assert w.alice.get(f"/history/{w.c1}/messages/search", params={"q": ""}).status_code == 422
    assert w.bob.get(f"/history/{w.c1}/messages/search", params={"q": "a"}).status_code == 404
    r = other.admin.get(f"/history/{w.c1}/messages/search", params={"q": "a"})
    assert r.status_code == 404 and error(r) == "not_found"

    # Filter choices; visitor tags edited from History.
    opts = w.admin.ok("GET", "/history/options")
    support = next(g for g in opts["skill_groups"] if g["id"] == w.support["id"])
    assert support["member_ids"] == [w.bob_u["id"]]
    assert [a["name"] for a in opts["associations"]] == ["Shop"]
    assert {"Alice Wong", "Bob Li"} <= {a["name"] for a in opts["agents"]}
    assert w.alice.ok("GET", "/history/options")["agents"] == []
    vip = w.admin.ok("POST", "/visitor-tags", json={"name": "VIP"})["id"]
    tags = w.alice.ok("PUT", f"/history/{w.c1}/visitor-tags", json={"tag_ids": [vip]})
    assert [t["name"] for t in tags] == ["VIP"]
    assert [t["id"] for t in w.admin.ok("GET", f"/history/{w.c4}/visitor-tags")] == [vip]
    r = w.bob.put(f"/history/{w.c1}/visitor-tags", json={"tag_ids": []})
    assert r.status_code == 404

    # Export "history" (§14): the page's filter and mode; conversations, then their messages.
    wb = run_export(w.admin, "history", {"session_tag_ids": [w.t1, w.t2]})
    convs = sheet_rows(wb, 0)
    assert convs[0][0] == "会话ID" and {r[0] for r in convs[1:]} == {w.c1, w.c2}
    by_id = {r[0]: r for r in convs[1:]}
    assert by_id[w.c2][1] == "Li Si" and by_id[w.c2][5] == "Invoice" and by_id[w.c1][10] == 5
    msgs = sheet_rows(wb, 1)
    assert msgs[0][:3] == ["会话ID", "时间", "发送方类型"]
    texts = [(r[0], r[2], r[4]) for r in msgs[1:]]
    assert (w.c1, "访客", "Refund for order 1234 please") in texts
    assert (w.c1, "客服", "Your refund is coming") in texts
    assert {r[0] for r in msgs[1:]} == {w.c1, w.c2}
    mine = sheet_rows(run_export(w.alice, "history", {"mode": "agent"}), 0)
    assert {r[0] for r in mine[1:]} == {w.c1, w.c2, w.c4} and mine[1][10] is None
    # Admin mode without its page: refused at once, no job is queued.
    r = w.alice.post("/exports", json={"kind": "history", "params": {"mode": "admin"}})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = w.admin.post("/exports", json={"kind": "history", "params": {"bogus": 1}})
    assert r.status_code == 422, r.text


def test_export_message_cells() -> None:
    base = "https://kefu.example.com"
    att = {"name": "a.png", "url": "/api/v1/files/7?exp=1&sig=x", "expired": False}
    assert message_cell({"attachment": att}, base) == f"a.png {base}/api/v1/files/7?exp=1&sig=x"
    gone = {"name": "b.pdf", "url": None, "expired": True}
    assert message_cell({"attachment": gone}, base) == "b.pdf (expired)"
    assert message_cell({"text": "hi"}, base) == "hi"
