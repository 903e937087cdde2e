"""Knowledge base (§8.2): categories, items, sanitising, files, import/export, sending (§4.2)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from openpyxl import Workbook, load_workbook

from kefu.core import clock
from tests.chat_helpers import Visitor, cid, event_named, new_widget, recv_until, staff_socket
from tests.conftest import LiveServer
from tests.helpers import Api, Client, Tenant
from tests.route_walk import png_bytes
from tests.routing_helpers import run_timers


def _err(r: httpx.Response) -> str:
    return str(r.json()["error"]["code"])


def _cat(admin: Client, name: str, parent: int | None = None) -> int:
    body: dict[str, Any] = {"name": name, "parent_id": parent}
    return int(admin.ok("POST", "/knowledge/categories", status=201, json=body)["id"])


def _item(admin: Client, category: int, title: str, html: str = "<p>x</p>", **kw: Any) -> Any:
    body = {"category_id": category, "title": title, "content_html": html, **kw}
    return admin.ok("POST", "/knowledge/items", status=201, json=body)


def _upload(admin: Client, kind: str, name: str, data: bytes) -> dict[str, Any]:
    r = admin.post("/knowledge/files", files={"file": (name, data)}, data={"kind": kind})
    assert r.status_code == 201, r.text
    return dict(r.json())


def _xlsx(rows: list[list[Any]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(["category", "title", "content"])
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _import(admin: Client, data: bytes) -> httpx.Response:
    return admin.post("/knowledge/import", files={"file": ("kb.xlsx", data)})


def _holding(api: Api, server: LiveServer, t: Tenant) -> tuple[Client, Visitor, int]:
    """An agent holding a conversation with a new web visitor: (agent, visitor, conv id)."""
    _, agent = api.add_user(t)
    with staff_socket(server.base_url, agent) as ws:
        v = Visitor(api, new_widget(t))
        v.send("你好")
        conv_id = recv_until(ws, event_named("conversation.assigned"))["conversation_id"]
    return agent, v, int(conv_id)


@pytest.fixture
def fake_clock() -> Iterator[clock.FakeClock]:
    fc = clock.FakeClock(datetime.now(UTC))
    clock.set_clock(fc)
    yield fc
    clock.set_clock(clock.Clock())


# --- categories and limits --------------------------------------------------------------------


def test_categories_tree_depth_moves_and_deletes(api: Api) -> None:
    admin = api.provision().admin
    chain: list[int] = []
    for level in range(10):
        chain.append(_cat(admin, f"L{level + 1}", chain[-1] if chain else None))
    cats = {c["id"]: c for c in admin.ok("GET", "/knowledge/categories")}
    assert cats[chain[-1]]["depth"] == 10
    r = admin.post("/knowledge/categories", json={"name": "L11", "parent_id": chain[-1]})
    assert r.status_code == 409 and _err(r) == "knowledge_depth_limit"
    # Moving a two-level subtree under level 9 would make level 11.
    other = _cat(admin, "Other")
    _cat(admin, "Child", other)
    r = admin.patch(f"/knowledge/categories/{other}", json={"parent_id": chain[8]})
    assert r.status_code == 409 and _err(r) == "knowledge_depth_limit"
    r = admin.patch(f"/knowledge/categories/{chain[0]}", json={"parent_id": chain[3]})
    assert r.status_code == 409 and _err(r) == "knowledge_category_cycle"
    moved = admin.ok("PATCH", f"/knowledge/categories/{other}", json={"parent_id": chain[7]})
    assert moved["depth"] == 9 and moved["parent_id"] == chain[7]
    # Names are unique among siblings.
    r = admin.post("/knowledge/categories", json={"name": "L1"})
    assert r.status_code == 409 and _err(r) == "knowledge_category_name_taken"
    # Reorder the roots.
    a, b = _cat(admin, "B-root"), _cat(admin, "C-root")
    admin.ok(
        "PUT",
        "/knowledge/categories/order",
        status=204,
        json={"parent_id": None, "ids": [b, a, chain[0]]},
    )
    roots = sorted(
        (c for c in admin.ok("GET", "/knowledge/categories") if c["parent_id"] is None),
        key=lambda c: c["position"],
    )
    assert [c["id"] for c in roots] == [b, a, chain[0]]
    r = admin.put("/knowledge/categories/order", json={"parent_id": None, "ids": [b, a]})
    assert r.status_code == 404
    # Only empty categories are deleted.
    _item(admin, a, "在 A 里")
    r = admin.delete(f"/knowledge/categories/{a}")
    assert r.status_code == 409 and _err(r) == "knowledge_category_not_empty"
    r = admin.delete(f"/knowledge/categories/{chain[5]}")
    assert r.status_code == 409 and _err(r) == "knowledge_category_not_empty"
    admin.ok("DELETE", f"/knowledge/categories/{b}", status=204)


def test_item_title_limit_and_author(api: Api) -> None:
    t = api.provision()
    admin = t.admin
    cat = _cat(admin, "FAQ")
    for bad in ("", "   ", "x" * 21, "a\nb"):
        r = admin.post(
            "/knowledge/items", json={"category_id": cat, "title": bad, "content_html": "<p>x</p>"}
        )
        assert r.status_code == 422, (bad, r.text)
    item = _item(admin, cat, "二十个字" * 5)
    assert len(item["title"]) == 20
    me = admin.ok("GET", "/me")
    assert item["author_name"] == me["nickname"]
    # Another admin edits: they become the author.
    user, other = api.add_user(t, role="admin")
    edited = other.ok("PATCH", f"/knowledge/items/{item['id']}", json={"title": "新标题"})
    assert edited["author_name"] == user["nickname"] and edited["title"] == "新标题"
    r = admin.post("/knowledge/items", json={"category_id": 999999, "title": "x"})
    assert r.status_code == 404


def test_item_cap_of_1000_per_tenant(api: Api) -> None:
    admin = api.provision().admin
    rows = [[f"批量/组{i % 7}", f"条目{i}", f"内容 {i}"] for i in range(1000)]
    r = _import(admin, _xlsx(rows))
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 1000
    page = admin.ok("GET", "/knowledge/items", params={"page_size": 1})
    assert page["total"] == 1000 and page["used"] == 1000 and page["capacity"] == 1000
    cat = admin.ok("GET", "/knowledge/categories")[0]["id"]
    r = admin.post("/knowledge/items", json={"category_id": cat, "title": "第1001条"})
    assert r.status_code == 409 and _err(r) == "knowledge_item_limit"
    r = _import(admin, _xlsx([["批量", "再来一条", "x"]]))
    assert r.status_code == 409 and _err(r) == "knowledge_item_limit"
    # A row that already exists (same category and title) is skipped, so it fits.
    r = _import(admin, _xlsx([["批量/组0", "条目0", "again"]]))
    assert r.status_code == 200 and r.json() == {
        "created": 0,
        "skipped": 1,
        "categories_created": 0,
    }


# --- content ------------------------------------------------------------------------------------


def test_content_is_sanitised_and_images_only_from_our_uploads(api: Api) -> None:
    admin = api.provision().admin
    stranger = api.provision("Other Co").admin
    cat = _cat(admin, "Safe")
    pic = _upload(admin, "image", "pic.png", png_bytes())
    theirs = _upload(stranger, "image", "x.png", png_bytes())
    assert pic["url"].startswith("/api/v1/knowledge/assets/")
    html = (
        '<p onclick="steal()">Hello <script>alert(1)</script><strong>bold</strong></p>'
        '<img src="x" onerror="alert(1)">'
        f'<img src="{pic["url"]}" alt="ours">'
        f'<img src="{theirs["url"]}" alt="theirs">'
        '<img src="https://evil.example/x.png">'
        '<a href="javascript:alert(1)">js</a><a href="https://example.com/doc">doc</a>'
        '<iframe src="https://evil.example"></iframe><ul><li>one</li></ul>'
        '<p style="color:red" class="x">styled</p>'
    )
    item = _item(admin, cat, "安全", html)
    out = item["content_html"]
    for gone in (
        "script",
        "onclick",
        "onerror",
        "javascript:",
        "evil.example",
        "iframe",
        "style=",
        "class=",
        theirs["url"],
        'src="x"',
    ):
        assert gone not in out, (gone, out)
    assert f'<img src="{pic["url"]}" alt="ours">' in out
    assert (
        '<a href="https://example.com/doc" target="_blank" rel="noopener noreferrer">doc</a>' in out
    )
    assert "<strong>bold</strong>" in out and "<li>one</li>" in out
    assert "Hello" in item["content_text"] and "• one" in item["content_text"]
    # The image is served to anyone with the link (visitors read the page), inert.
    r = api.anon.get(pic["url"].removeprefix("/api/v1"))
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert "sandbox" in r.headers["content-security-policy"]
    bad = pic["url"][:-4] + "0000"
    assert api.anon.get(bad.removeprefix("/api/v1")).status_code in (404, 422)


def test_kb_files_do_not_expire_unclaimed_ones_do(
    api: Api, server: LiveServer, fake_clock: clock.FakeClock
) -> None:
    t = api.provision()
    admin = t.admin
    cat = _cat(admin, "Files")
    kept = _upload(admin, "file", "manual.pdf", b"%PDF-1.4 manual")
    lost = _upload(admin, "file", "draft.txt", b"draft")
    item = _item(admin, cat, "带附件", attachment_ids=[kept["id"]])
    assert [a["name"] for a in item["attachments"]] == ["manual.pdf"]
    fake_clock.advance(days=30)
    run_timers(server)
    admin = api.login(t.admin_email, t.admin_password)  # the old session timed out meanwhile
    again = admin.ok("GET", f"/knowledge/items/{item['id']}")
    assert [a["id"] for a in again["attachments"]] == [kept["id"]]
    assert api.anon.get(again["attachments"][0]["url"].removeprefix("/api/v1")).status_code == 200
    # The upload no item saved was removed after a day.
    r = admin.post(
        "/knowledge/items",
        json={"category_id": cat, "title": "晚了", "attachment_ids": [lost["id"]]},
    )
    assert r.status_code == 422 and _err(r) == "knowledge_file_not_found"
    # Chat uploads are not knowledge files.
    r = admin.post(
        "/knowledge/items", json={"category_id": cat, "title": "x", "attachment_ids": [999999]}
    )
    assert r.status_code == 422


def test_search_by_title_content_and_category_subtree(api: Api) -> None:
    admin = api.provision().admin
    top = _cat(admin, "产品")
    sub = _cat(admin, "退款", top)
    other = _cat(admin, "其他")
    _item(admin, sub, "如何退款", "<p>在订单页申请</p>")
    _item(admin, other, "发票", "<p>退款后发票作废</p>")
    found = admin.ok("GET", "/knowledge/items", params={"q": "退款"})
    assert {i["title"] for i in found["items"]} == {"如何退款", "发票"}
    found = admin.ok("GET", "/knowledge/items", params={"category_id": top})
    assert [i["title"] for i in found["items"]] == ["如何退款"]
    assert found["items"][0]["category_path"] == ["产品", "退款"]
    assert admin.ok("GET", "/knowledge/items", params={"q": "100%_"})["total"] == 0


# --- import / export ----------------------------------------------------------------------------


def test_export_import_round_trip_and_bad_rows(api: Api) -> None:
    src = api.provision().admin
    dst = api.provision("Copy Co").admin
    top = _cat(src, "产品")
    sub = _cat(src, "退款", top)
    long_text = "长" * 40_000
    _item(src, sub, "如何退款", "<p>第一行</p><ul><li>要点</li></ul>")
    _item(src, top, "很长的内容", f"<p>{long_text}</p>")
    r = src.get("/knowledge/export")
    assert r.status_code == 200 and "spreadsheetml" in r.headers["content-type"]
    ws = load_workbook(io.BytesIO(r.content)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[1][:2] == ("产品/退款", "如何退款") or rows[2][:2] == ("产品/退款", "如何退款")
    res = _import(dst, r.content)
    assert res.status_code == 200, res.text
    assert res.json() == {"created": 2, "skipped": 0, "categories_created": 2}
    items = dst.ok("GET", "/knowledge/items")["items"]
    by_title = {i["title"]: i for i in items}
    assert by_title["如何退款"]["category_path"] == ["产品", "退款"]
    full = dst.ok("GET", f"/knowledge/items/{by_title['很长的内容']['id']}")
    assert full["content_text"] == long_text
    one = dst.ok("GET", f"/knowledge/items/{by_title['如何退款']['id']}")
    assert one["content_text"] == "第一行\n• 要点"
    # Bad rows: 422 naming the row, and nothing of the file is written.
    before = dst.ok("GET", "/knowledge/items")["total"], len(dst.ok("GET", "/knowledge/categories"))
    for rows_in, row_no in (
        ([["新分类", "好的", "x"], ["新分类", "x" * 21, "y"]], 3),
        ([["新分类", "好的", "x"], ["", "无分类", "y"]], 3),
        ([["a/b/c/d/e/f/g/h/i/j/k", "太深", "x"]], 2),
        ([["新分类", "", "x"]], 2),
    ):
        r = _import(dst, _xlsx(rows_in))
        assert r.status_code == 422 and _err(r) == "knowledge_import_row", r.text
        assert f"{row_no}" in r.json()["error"]["message"]
        after = (
            dst.ok("GET", "/knowledge/items")["total"],
            len(dst.ok("GET", "/knowledge/categories")),
        )
        assert after == before
    r = _import(dst, b"not a spreadsheet")
    assert r.status_code == 400 and _err(r) == "knowledge_import_file"
    tpl = dst.get("/knowledge/export", params={"template": True})
    assert tpl.status_code == 200
    assert len(list(load_workbook(io.BytesIO(tpl.content)).active.iter_rows())) == 2


# --- sending ------------------------------------------------------------------------------------


def test_send_as_card_then_attachments_and_visitor_reads_page(api: Api, server: LiveServer) -> None:
    t = api.provision()
    cat = _cat(t.admin, "FAQ")
    pic = _upload(t.admin, "image", "pic.png", png_bytes())
    doc = _upload(t.admin, "file", "guide.pdf", b"%PDF-1.4 guide")
    item = _item(
        t.admin,
        cat,
        "退款流程",
        f'<p>第一步<strong>申请</strong></p><img src="{pic["url"]}" alt="示意">',
        attachment_ids=[doc["id"]],
    )
    agent, visitor, conv = _holding(api, server, t)
    key = cid()
    r = agent.post(
        f"/conversations/{conv}/knowledge/{item['id']}/send", json={"client_msg_id": key}
    )
    assert r.status_code == 201, r.text
    sent = r.json()
    assert [m["kind"] for m in sent] == ["card", "file"]
    card = sent[0]["body"]
    assert card["title"] == "退款流程" and "第一步" in card["description"]
    assert card["url"] == item["share_url"] and card["data"]["type"] == "knowledge"
    assert sent[1]["body"]["attachment"]["name"] == "guide.pdf"
    # The copy sent to the chat keeps the chat's 7-day retention; the KB's file is another one.
    assert sent[1]["body"]["attachment"]["id"] != doc["id"]
    # Idempotent: the same id answers the same messages.
    again = agent.post(
        f"/conversations/{conv}/knowledge/{item['id']}/send", json={"client_msg_id": key}
    )
    assert again.status_code == 200
    assert [m["id"] for m in again.json()] == [m["id"] for m in sent]
    # The visitor gets the card and can open the whole content.
    msgs = visitor.http.ok("GET", "/visitor/messages", params={"conversation_id": conv})
    kinds = [m["kind"] for m in (msgs["items"] if isinstance(msgs, dict) else msgs)]
    assert kinds.count("card") == 1 and kinds.count("file") == 1
    page = httpx.get(server.base_url + card["url"])
    assert (
        page.status_code == 200 and "第一步" in page.text and "<strong>申请</strong>" in page.text
    )
    assert pic["url"] in page.text and "script-src" not in page.headers["content-security-policy"]
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert httpx.get(server.base_url + "/kb/nope").status_code == 404


def test_send_as_text_per_channel_setting(api: Api, server: LiveServer) -> None:
    t = api.provision()
    assert t.admin.ok("GET", "/knowledge/settings")["send_modes"]["web"] == "card"
    t.admin.ok("PUT", "/knowledge/settings", json={"send_modes": {"web": "text"}})
    modes = t.admin.ok("GET", "/knowledge/settings")["send_modes"]
    assert modes == {"web": "text", "app": "card", "wechat": "card", "weibo": "card"}
    r = t.admin.put("/knowledge/settings", json={"send_modes": {"web": "html"}})
    assert r.status_code == 422
    cat = _cat(t.admin, "FAQ")
    long = "\n".join(f"第{i}行" + "字" * 90 for i in range(80))  # > 5000 characters
    item = _item(t.admin, cat, "长文", "".join(f"<p>{line}</p>" for line in long.split("\n")))
    agent, _, conv = _holding(api, server, t)
    sent = agent.ok(
        "POST",
        f"/conversations/{conv}/knowledge/{item['id']}/send",
        status=201,
        json={"client_msg_id": cid()},
    )
    assert [m["kind"] for m in sent] == ["text", "text"]
    assert sent[0]["body"]["text"].startswith("【长文】\n第0行")
    joined = "\n".join(m["body"]["text"] for m in sent)
    assert "第79行" in joined and all(len(m["body"]["text"]) <= 5000 for m in sent)
    assert [m["client_msg_id"] for m in sent][1].endswith(":1")


def test_send_only_by_holder_and_tenant_scoped(api: Api, server: LiveServer) -> None:
    t = api.provision()
    other = api.provision("Other Co")
    item = _item(t.admin, _cat(t.admin, "FAQ"), "本公司")
    foreign = _item(other.admin, _cat(other.admin, "FAQ"), "别人的")
    agent, _, conv = _holding(api, server, t)
    _, colleague = api.add_user(t)
    r = colleague.post(
        f"/conversations/{conv}/knowledge/{item['id']}/send", json={"client_msg_id": cid()}
    )
    assert r.status_code in (403, 404, 409)
    r = agent.post(
        f"/conversations/{conv}/knowledge/{foreign['id']}/send", json={"client_msg_id": cid()}
    )
    assert r.status_code == 404 and _err(r) == "not_found"
    # Another tenant's ids are unknown ids.
    for path in (f"/knowledge/items/{item['id']}",):
        r = other.admin.get(path)
        assert r.status_code == 404 and _err(r) == "not_found"
    cat_id = item["category_id"]
    r = other.admin.patch(f"/knowledge/categories/{cat_id}", json={"name": "x"})
    assert r.status_code == 404
    r = other.admin.post("/knowledge/items", json={"category_id": cat_id, "title": "x"})
    assert r.status_code == 404


def test_agents_read_admins_edit(api: Api) -> None:
    t = api.provision()
    item = _item(t.admin, _cat(t.admin, "FAQ"), "只读")
    _, agent = api.add_user(t)
    assert agent.ok("GET", "/knowledge/items")["total"] == 1
    assert agent.ok("GET", f"/knowledge/items/{item['id']}")["title"] == "只读"
    assert agent.ok("GET", "/knowledge/categories")
    for method, path, body in (
        ("POST", "/knowledge/items", {"category_id": item["category_id"], "title": "x"}),
        ("PATCH", f"/knowledge/items/{item['id']}", {"title": "x"}),
        ("DELETE", f"/knowledge/items/{item['id']}", None),
        ("POST", "/knowledge/categories", {"name": "x"}),
        ("PUT", "/knowledge/settings", {"send_modes": {"web": "text"}}),
        ("GET", "/knowledge/export", None),
    ):
        r = agent.request(method, path, json=body)
        assert r.status_code == 403, (method, path, r.text)
    # A custom role with only the agent Knowledge page reads too; one with none is refused.
    reader = t.admin.ok("POST", "/roles", json={"name": "读者", "pages": ["agent.knowledge"]})
    _, custom = api.add_user(t, role_id=reader["id"])
    assert custom.ok("GET", "/knowledge/items")["total"] == 1
    nobody = t.admin.ok("POST", "/roles", json={"name": "无", "pages": []})
    _, none = api.add_user(t, role_id=nobody["id"])
    assert none.get("/knowledge/items").status_code == 403
    t.admin.ok("DELETE", f"/knowledge/items/{item['id']}", status=204)
    assert agent.get(f"/knowledge/items/{item['id']}").status_code == 404
