"""Search (§13.1): keyword search over the messages of ended conversations, on both databases."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import delete, select, update
from sqlalchemy import text as sql_text

from kefu.conversations.models import Message
from kefu.core.config import Settings
from kefu.core.db import make_engine
from kefu.core.migrate import alembic_config
from kefu.search import actions, fts, grams, sqlite_index
from kefu.search.schemas import SearchParams
from tests.chat_helpers import cid
from tests.conftest import PG_URL, LiveServer
from tests.exports_helpers import run_export
from tests.helpers import Api, Client
from tests.routing_helpers import on_server
from tests.world_history import Desk, error


def _say(agent: Client, conv: int, text: str) -> dict[str, Any]:
    body = {"client_msg_id": cid(), "kind": "text", "body": {"text": text}}
    out: dict[str, Any] = agent.ok("POST", f"/conversations/{conv}/messages", json=body)
    return out


def _send_file(agent: Client, conv: int, name: str) -> None:
    att = agent.ok(
        "POST",
        f"/conversations/{conv}/attachments",
        files={"file": (name, b"%PDF-1.4 x", "application/pdf")},
        data={"kind": "file"},
    )
    body = {"client_msg_id": cid(), "kind": "file", "body": {"attachment_id": att["id"]}}
    agent.ok("POST", f"/conversations/{conv}/messages", json=body)


def _age_messages(settings: Settings, conv: int, days: int) -> None:
    async def go() -> None:
        engine = make_engine(settings)
        async with engine.begin() as db:
            await db.execute(
                update(Message)
                .where(Message.conversation_id == conv)
                .values(created_at=datetime.now(UTC) - timedelta(days=days))
            )
        await engine.dispose()

    asyncio.run(go())


def _convs(out: dict[str, Any]) -> list[int]:
    return [int(i["conversation"]["id"]) for i in out["items"]]


def _find(client: Client, q: str, **params: Any) -> dict[str, Any]:
    out: dict[str, Any] = client.ok("GET", "/search", params={"q": q, **params})
    return out


def _marked(snippet: dict[str, Any]) -> list[str]:
    chars = list(snippet["text"])  # offsets count code points, like Python strings
    return ["".join(chars[a:b]) for a, b in snippet["highlights"]]


def test_search(api: Api, server: LiveServer, settings: Settings) -> None:
    desk = Desk(api, server.base_url)
    admin = desk.t.admin
    _a_user, alice = api.add_user(desk.t, nickname="Alice")
    _b_user, bob = api.add_user(desk.t, nickname="Bob")

    # conv1 (Alice, Zhang San): Chinese, English, a file, a whisper and a recalled message.
    v1, conv1 = desk.held(alice, desk.visitor("Zhang San"))
    v1.send("我要退款申请，订单 A_1%")
    _say(alice, conv1, "Refund approved, see the attached invoice")
    _send_file(alice, conv1, "Invoice_2024.PDF")
    admin.ok(
        "POST",
        f"/conversations/{conv1}/whisper",
        json={"client_msg_id": cid(), "text": "whisper 退款"},
    )
    secret = _say(alice, conv1, "secret discount code")
    alice.ok("POST", f"/conversations/{conv1}/messages/{secret['id']}/recall")
    alice.ok("POST", f"/conversations/{conv1}/end")
    # conv2 (Bob, Li Si): English in capitals, 退货 (not 退款).
    v2, conv2 = desk.held(bob, desk.visitor("Li Si"))
    v2.send("退货 and a REFUND please")
    bob.ok("POST", f"/conversations/{conv2}/end")
    # conv3 (Alice, Wang Wu): wildcards in text; its messages are then 40 days old.
    v3, conv3 = desk.held(alice, desk.visitor("Wang Wu"))
    v3.send("旧的退款问题")
    _say(alice, conv3, "re-send 50%_off coupon")
    alice.ok("POST", f"/conversations/{conv3}/end")
    _age_messages(settings, conv3, 40)
    # conv4 (Alice) is still ongoing: not searched (History shows ended conversations only).
    v4, _conv4 = desk.held(alice, desk.visitor("Zhao Liu"))
    v4.send("退款 ongoing")
    # Another tenant with the same words.
    other = Desk(api, server.base_url)
    _o_user, olga = api.add_user(other.t)
    vo, conv_o = other.held(olga)
    vo.send("我要退款申请")
    olga.ok("POST", f"/conversations/{conv_o}/end")

    # 1-, 2- and 3+-character queries, Chinese and English; default window: the last 30 days.
    one = _find(admin, "退")
    assert _convs(one) == [conv2, conv1] and one["total"] == 2
    assert _find(admin, "退款")["items"][0]["conversation"]["id"] == conv1
    assert _find(admin, "退款")["total"] == 1
    hit = _find(admin, "退款申请")
    assert _convs(hit) == [conv1] and hit["total_messages"] == 1
    snip = hit["items"][0]["snippets"][0]
    assert _marked(snip) == ["退款申请"] and snip["highlights"] == [[2, 6]]
    assert snip["sender_type"] == "visitor" and snip["text"] == "我要退款申请，订单 A_1%"
    item = hit["items"][0]
    assert item["conversation"]["visitor"]["name"] == "Zhang San"
    assert [a["nickname"] for a in item["conversation"]["agents"]] == ["Alice"]
    assert item["match_count"] == 1
    refund = _find(admin, "refund")  # case-insensitive for A–Z
    assert _convs(refund) == [conv2, conv1]
    assert _marked(refund["items"][0]["snippets"][0]) == ["REFUND"]
    assert _convs(_find(admin, "RE")) == [conv2, conv1]  # "REFUND", "Refund"
    # File names are searchable; the whisper and the recalled message are not.
    invoice = _find(admin, "invoice")
    assert _convs(invoice) == [conv1] and invoice["items"][0]["match_count"] == 2
    kinds = [s["kind"] for s in invoice["items"][0]["snippets"]]
    assert kinds == ["text", "file"]
    assert _marked(invoice["items"][0]["snippets"][1]) == ["Invoice"]
    assert _find(admin, "whisper")["total"] == 0 and _find(admin, "secret")["total"] == 0
    assert _find(admin, "ongoing")["total"] == 0
    # LIKE wildcards are literal, short and long.
    assert _convs(_find(admin, "%")) == [conv1]
    assert _convs(_find(admin, "_")) == [conv1]
    assert _convs(_find(admin, "A_1%")) == [conv1]
    assert _find(admin, "A%1")["total"] == 0 and _find(admin, "\\")["total"] == 0
    assert _find(admin, '"退款" OR x*')["total"] == 0  # no FTS syntax either
    # Older messages: found with an explicit window.
    since = (datetime.now(UTC) - timedelta(days=50)).isoformat()
    old = _find(admin, "退款", **{"from": since})
    assert _convs(old) == [conv1, conv3]
    assert _convs(_find(admin, "%_o", **{"from": since})) == [conv3]
    until = (datetime.now(UTC) - timedelta(days=35)).isoformat()
    assert _convs(_find(admin, "退", **{"from": since, "to": until})) == [conv3]
    # Visibility: agents see the conversations they took part in; never another tenant's.
    assert _convs(_find(bob, "refund")) == [conv2]
    assert _convs(_find(alice, "退")) == [conv1]
    r = bob.get("/search", params={"q": "refund", "mode": "admin"})
    assert r.status_code == 403 and error(r) == "forbidden"
    assert _convs(_find(other.t.admin, "退款申请")) == [conv_o]
    # Filters.
    assert _convs(_find(admin, "退", visitor_name="san")) == [conv1]
    assert _convs(_find(admin, "退", agent_name="bo")) == [conv2]
    assert _find(admin, "退", channel="weibo")["total"] == 0
    assert _find(admin, "退", visitor_name="%")["total"] == 0
    tag = admin.ok("POST", "/session-tags", status=201, json={"name": "售后"})
    child = admin.ok(
        "POST", "/session-tags", status=201, json={"name": "退款", "parent_id": tag["id"]}
    )
    bob.ok("PUT", f"/conversations/{conv2}/session-tags", json={"tag_ids": [child["id"]]})
    assert _convs(_find(admin, "退", session_tag_id=child["id"])) == [conv2]
    assert _convs(_find(admin, "退", session_tag_id=tag["id"])) == [conv2]
    # Another tenant's tag filters like an unknown one: nothing.
    assert _find(other.t.admin, "退款", session_tag_id=child["id"])["total"] == 0
    assert _find(other.t.admin, "退款", session_tag_id=2**40)["total"] == 0
    assert _find(admin, "退", rating=5)["total"] == 0
    # Paging.
    paged = _find(admin, "退", page=2, page_size=1)
    assert _convs(paged) == [conv1] and paged["total"] == 2
    # Bad input: 4xx with a code.
    bads: list[dict[str, Any]] = [{"q": "  "}, {"q": "x" * 101}, {"q": "a", "rating": 6}, {}]
    for bad in bads:
        r = admin.get("/search", params=bad)
        assert r.status_code == 422 and error(r) == "validation_error", (bad, r.text)
    r = admin.get("/search", params={"q": "a", "from": since, "to": since})
    assert r.status_code == 422 and error(r) == "search_bad_range"

    # Export (admin page only): one row per matching message.
    book = run_export(admin, "search", {"q": "refund"})
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert len(rows) == 3
    assert rows[1][0] == conv2 and rows[1][2] == "Li Si" and rows[1][3] == "Bob"
    assert rows[1][5] == "退货 and a REFUND please"
    assert rows[2][0] == conv1 and rows[2][3] == "Alice"
    r = bob.post("/exports", json={"kind": "search", "params": {"q": "refund"}})
    assert r.status_code == 403


def test_new_messages_are_found_at_once(api: Api, server: LiveServer) -> None:
    desk = Desk(api, server.base_url)
    _u, agent = api.add_user(desk.t)
    v, conv = desk.ended(agent)
    assert _find(agent, "hello")["total"] == 1
    _v2, conv2 = desk.held(agent, v)
    _say(agent, conv2, "brand new words 新消息")
    agent.ok("POST", f"/conversations/{conv2}/end")
    assert _convs(_find(agent, "new words")) == [conv2]
    assert _convs(_find(agent, "新消息")) == [conv2]
    assert _convs(_find(agent, "hello")) == [conv2, conv]
    assert _find(api.provision().admin, "hello")["total"] == 0


# Tricky documents for the index: CJK, a 4-byte emoji, accents (only A–Z fold), punctuation,
# LIKE wildcards, spaces and quotes.
_TEXTS = [
    "订单退款申请😀，退货 OK",
    'Éclair été ÉTÉ 50%_off "quoted" a\\b',
    "琥珀色飞艇 zeppelin Zeppelin",
    "x",
]


def test_index_matches_substrings_and_follows_changes(
    api: Api, server: LiveServer, settings: Settings
) -> None:
    """The index answers exactly like a substring test on the folded document, for every
    substring of 1–4 characters (the short-query and the trigram paths), and follows edits and
    deletions of messages. SQLite: so do messages not indexed yet (matched on their current
    documents), before, while and after the indexer catches up; the plan starts from the index."""
    sqlite = not PG_URL
    if sqlite:  # the test runs the indexer itself, to see each half of the answer alone
        on_server(server, server.app.state.search_indexer.stop())
    desk = Desk(api, server.base_url)
    _u, agent = api.add_user(desk.t)
    v, conv = desk.held(agent)
    for i, text in enumerate(_TEXTS):
        if i % 2:
            _say(agent, conv, text)
        else:
            v.send(text)
    agent.ok("POST", f"/conversations/{conv}/end")
    indexer = sqlite_index.SearchIndexer(sqlite_index.main_path(settings)) if sqlite else None

    async def hits(db: Any, ids: set[int], q: str) -> set[int]:
        dialect = db.dialect.name
        rows = await db.execute(fts.hits(dialect, q))
        return {int(r[0]) for r in rows} & ids

    async def check(db: Any, ids: set[int]) -> None:
        rows = (
            await db.execute(
                select(Message.id, Message.kind, Message.body).where(Message.id.in_(ids))
            )
        ).all()
        docs = {mid: fts.fold(fts.document(kind, body, None)) for mid, kind, body in rows}
        queries = {
            doc[i : i + n] for doc in docs.values() for n in (1, 2, 3, 4) for i in range(len(doc))
        }
        queries |= {"É", "é", "ÉTÉ", "été", "ZEPPELIN", "%", "_", "\\", '"', "退款申请😀"}
        for q in sorted(q for q in queries if q.strip() == q and q):
            want = {mid for mid, doc in docs.items() if fts.fold(q) in doc}
            assert await hits(db, ids, q) == want, q

    async def indexed(reader: Any) -> int:
        if not sqlite:
            return -1
        async with reader.connect() as db:
            return int(await db.scalar(sql_text("SELECT count(*) FROM search.message_search")))

    async def go() -> None:
        engine = make_engine(settings)
        reader = sqlite_index.reader_engine(settings) if sqlite else engine

        async def check_now(ids: set[int]) -> None:
            async with reader.connect() as db:
                await check(db, ids)

        async def catch_up() -> None:
            if indexer is not None:
                await asyncio.to_thread(indexer.run_until_done)

        async with engine.connect() as db:
            ids = set(
                (
                    await db.scalars(
                        select(Message.id).where(
                            Message.conversation_id == conv, Message.sender_type != "system"
                        )
                    )
                ).all()
            )
        assert await indexed(reader) in (0, -1)  # SQLite: all of them matched unindexed
        await check_now(ids)
        await catch_up()
        assert await indexed(reader) in (len(ids), -1)  # now all from the index
        await check_now(ids)
        # An edit and a deletion: pending on SQLite until the indexer runs again.
        edited, deleted = sorted(ids)[1], sorted(ids)[2]
        async with engine.begin() as db:
            await db.execute(
                update(Message).where(Message.id == edited).values(body={"text": "全新内容 new"})
            )
            await db.execute(delete(Message).where(Message.id == deleted))
        ids.discard(deleted)
        for _ in range(2):
            await check_now(ids)
            async with reader.connect() as db:
                assert await hits(db, ids, "新") == {edited}
                assert await hits(db, ids, "订单") == await hits(db, ids, "订单退款") == set()
            await catch_up()
        if indexer is not None:
            assert await asyncio.to_thread(indexer.clean) > 0
            await check_now(ids)
            async with reader.begin() as db:
                for table in ("message_fts", "message_grams"):
                    await db.exec_driver_sql(
                        f"INSERT INTO {table} ({table}) VALUES ('integrity-check')"  # noqa: S608
                    )
            async with reader.connect() as db:
                for q in ("退", "退款", "退款申"):
                    p = SearchParams(q=q)
                    stmt = actions.matching_messages("sqlite", 1, None, p, actions.window(p))
                    compiled = stmt.compile(
                        dialect=db.dialect, compile_kwargs={"literal_binds": True}
                    )
                    rows = await db.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
                    plan = [str(r[-1]) for r in rows]
                    index = "message_grams" if len(q) < 3 else "message_fts"
                    assert plan[0].startswith("SEARCH messages USING INTEGER PRIMARY KEY"), plan
                    # ... reading only the window's rowid range (">" and "<" constraints).
                    scan = f"SCAN {index} VIRTUAL TABLE INDEX 0:M1><"
                    assert any(s.startswith(scan) for s in plan), plan
            await asyncio.to_thread(indexer.close)
            await reader.dispose()
        else:  # the short-query path uses its GIN index (with seq scans off: tiny table)
            async with engine.begin() as db:
                await db.exec_driver_sql("SET LOCAL enable_seqscan = off")
                compiled = fts.hits("postgresql", "退款").compile(dialect=db.dialect)
                args = tuple(compiled.params[k] for k in compiled.positiontup or ())
                plan = [r[0] for r in await db.exec_driver_sql(f"EXPLAIN {compiled}", args)]
                assert any("ix_message_search_grams" in s for s in plan), plan
        await engine.dispose()

    asyncio.run(go())


@pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL (the grams function is PostgreSQL's)")
def test_postgresql_grams_are_every_character_and_adjacent_pair(settings: Settings) -> None:
    """`kefu_search_grams` (the 1–2 character index), whatever the script and length."""
    docs = ["", "a", "aaaa", "hello there", "你好，世界 🙂 ok", "é\u0301x" * 3, "xy" * 2600]
    long_mixed = "".join(chr(0x4E00 + (i * 37) % 900) + "ab"[i % 2] for i in range(2500))

    async def go() -> list[set[str]]:
        engine = make_engine(settings)
        async with engine.connect() as db:
            got = [
                set(await db.scalar(sql_text("SELECT kefu_search_grams(:d)"), {"d": d}) or [])
                for d in [*docs, long_mixed]
            ]
        await engine.dispose()
        return got

    for doc, got in zip([*docs, long_mixed], asyncio.run(go()), strict=True):
        assert got == set(doc) | {doc[i : i + 2] for i in range(len(doc) - 1)}, doc[:20]


def test_sqlite_grams_function_returns_what_the_sql_returned() -> None:
    """`kefu_grams` (migration 0025) gives exactly the text the SQL version gave, so grams
    indexed by the old triggers delete cleanly: every script, NULs, and past the 8,192
    positions the SQL version covered."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE search_positions (n INTEGER PRIMARY KEY)")
    db.executemany(
        "INSERT INTO search_positions (n) VALUES (?)",
        [(n,) for n in range(1, fts.SQLITE_POSITIONS + 1)],
    )
    query = f"SELECT {fts.sqlite_sql_grams('?')}"
    rng = random.Random(7)
    alphabets = [(32, 126), (0x4E00, 0x9FFF), (0x1F600, 0x1F64F), (0xA0, 0x2FF), (0, 31)]
    docs = [
        "",
        "a",
        "ab",
        "订单退款申请😀，退货 ok",
        "é\u0301x" * 3,
        "a\x00b",
        "\x00",
        "x" * fts.SQLITE_POSITIONS,
        "y" * (fts.SQLITE_POSITIONS + 1),
        "退" * 9000,
    ]
    for _ in range(200):
        spans = [rng.choice(alphabets) for _ in range(rng.randint(0, 300))]
        docs.append("".join(chr(rng.randint(lo, hi)) for lo, hi in spans))
    for doc in docs:
        assert grams.sqlite_grams(doc) == db.execute(query, (doc,)).fetchone()[0], doc[:20]
    assert grams.sqlite_grams(None) is None


@pytest.mark.skipif(bool(PG_URL), reason="SQLite's search triggers (migration 0025)")
def test_grams_indexed_by_the_sql_triggers_delete_cleanly_after_0025(settings: Settings) -> None:
    """Messages indexed before migration 0025, edited and deleted after it, leave no grams."""
    cfg = alembic_config()
    cfg.attributes["settings"] = settings
    command.downgrade(cfg, "0024")
    tokens = {fts.gram_token(g) for g in ("退", "退款", "k", "ok")}

    raw = sqlite3.connect(settings.data_dir / "kefu.db", isolation_level=None)
    for mid in (900001, 900002):  # indexed by 0016's SQL triggers (no conversation: FKs off)
        raw.execute(
            "INSERT INTO messages (id, tenant_id, conversation_id, seq, sender_type, sender_id,"
            " sender_name, kind, body, whisper, client_msg_id, content_digest, created_at)"
            " VALUES (?, 1, 1, ?, 'visitor', 1, 'v', 'text', '{\"text\": \"退款 ok\"}', 0, ?,"
            " 'd', '2026-11-27 08:00:00.000000')",
            (mid, mid, f"c{mid}"),
        )
    raw.close()

    async def go(change: bool) -> dict[str, set[int]]:
        engine = make_engine(settings)
        async with engine.begin() as db:
            if change:  # through Kefu's own connections, which have kefu_grams
                await db.execute(delete(Message).where(Message.id == 900001))
                await db.execute(
                    update(Message).where(Message.id == 900002).values(body={"text": "新"})
                )
            found = {}
            for token in tokens:
                rows = await db.execute(
                    sql_text("SELECT rowid FROM message_grams WHERE message_grams MATCH :t"),
                    {"t": fts.fts5_phrase(token)},
                )
                found[token] = {int(r[0]) for r in rows}
            await db.exec_driver_sql(
                "INSERT INTO message_grams (message_grams) VALUES ('integrity-check')"
            )
        await engine.dispose()
        return found

    assert set().union(*asyncio.run(go(False)).values()) == {900001, 900002}
    command.upgrade(cfg, "0026")  # 0027 moves the index out of the main file
    assert asyncio.run(go(True)) == {t: set() for t in tokens}
