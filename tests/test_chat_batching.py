"""Group commit of socket sends (kefu.chat.batcher) and the socket's cached principal.

Concurrent sends share one transaction; one bad send in a batch fails alone (its nack), the
others commit and are acked; a retried `client_msg_id` in a batch is replayed, not stored twice.
The visitor rows a socket keeps are re-read once they are older than the TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError

from kefu.chat.batcher import batcher_of
from kefu.chat.visitor_socket import PRINCIPAL_TTL
from kefu.core.clock import Clock, FakeClock, set_clock
from kefu.core.config import Settings
from tests.chat_helpers import (
    Visitor,
    cid,
    event_named,
    new_widget,
    recv,
    recv_until,
    staff_socket,
)
from tests.cluster_helpers import NodeProcess, node_settings
from tests.conftest import PG_URL, LiveServer
from tests.helpers import Api, Client
from tests.routing_helpers import eventually, ongoing_ids
from tests.test_automations_batched import one_batch
from tests.test_dispatch_multiprocess import sql


def _send(ws: Any, text: str, client_msg_id: str) -> None:
    ws.send(
        json.dumps(
            {"type": "send", "client_msg_id": client_msg_id, "kind": "text", "body": {"text": text}}
        )
    )


def _answer(ws: Any, client_msg_id: str, timeout: float = 5) -> dict[str, Any]:
    return recv_until(
        ws,
        lambda f: f.get("type") in ("ack", "nack") and f.get("client_msg_id") == client_msg_id,
        timeout=timeout,
    )


@pytest.mark.parametrize("held", [False, True], ids=["waiting", "ongoing"])
def test_one_bad_send_in_a_batch_fails_alone(api: Api, server: LiveServer, held: bool) -> None:
    """Waiting conversations are sent into one by one; ongoing ones set-wise
    (`conversations.bulk_send`), whose one INSERT fails as a whole on a repeated id."""
    t = api.provision()
    widget = new_widget(t)
    staff = None
    if held:
        _, agent = api.add_user(t)
        staff = staff_socket(server.base_url, agent)  # the agent is online: all ongoing
    visitors = [Visitor(api, widget) for _ in range(5)]
    first_ids = [cid() for _ in visitors]
    for v, first in zip(visitors, first_ids, strict=True):
        v.send("hello", client_msg_id=first)  # opens the conversation (REST)
    if held:
        eventually(lambda: len(ongoing_ids(agent)) == len(visitors))
    sockets = [v.socket(server.base_url) for v in visitors]

    batcher = batcher_of(server.app)
    release, entered = threading.Event(), threading.Event()
    original = batcher._write

    async def gated(jobs: Any) -> Any:
        entered.set()
        while not release.is_set():  # noqa: ASYNC110 (set from the test's thread)
            await asyncio.sleep(0.01)
        return await original(jobs)

    batcher._write = gated  # type: ignore[method-assign]
    depth, batcher._depth = batcher._depth, 1  # the sends queue behind the primer's batch
    try:
        before = (batcher.stats.batches, batcher.stats.retried_batches)
        primer = cid()
        _send(sockets[0], "primer", primer)  # the writer takes it alone, then waits
        assert entered.wait(10)
        ok1, ok2 = cid(), cid()
        _send(sockets[1], "not what was sent first", first_ids[1])  # same id, other content
        _send(sockets[2], "fine", ok1)
        _send(sockets[3], "hello", first_ids[3])  # a retry: same id, same content
        _send(sockets[4], "also fine", ok2)
        deadline = time.monotonic() + 10
        while len(batcher._pending) < 4:
            assert time.monotonic() < deadline, "the sends did not reach the batcher"
            time.sleep(0.01)
        release.set()
        assert _answer(sockets[0], primer)["type"] == "ack"
        nack = _answer(sockets[1], first_ids[1])
        assert nack["type"] == "nack" and nack["code"] == "client_msg_id_conflict", nack
        acked = _answer(sockets[2], ok1)
        assert acked["type"] == "ack" and not acked["replayed"]
        replay = _answer(sockets[3], first_ids[3])
        assert replay["type"] == "ack" and replay["replayed"] is True
        assert _answer(sockets[4], ok2)["type"] == "ack"
        # Two batches: the primer, then the four (run again with savepoints after the failure).
        assert batcher.stats.batches - before[0] == 2
        assert batcher.stats.retried_batches - before[1] == 1
        assert batcher.stats.largest >= 4
    finally:
        batcher._write = original  # type: ignore[method-assign]
        batcher._depth = depth
        release.set()
        for ws in sockets:
            ws.close()
        if staff is not None:
            staff.close()

    # Stored once each, in seq order; the conflicting send stored nothing.
    for v, texts in (
        (visitors[1], ["hello"]),
        (visitors[2], ["hello", "fine"]),
        (visitors[3], ["hello"]),
        (visitors[4], ["hello", "also fine"]),
    ):
        conv = v.http.ok("GET", "/visitor/conversation")
        msgs = v.http.ok("GET", "/visitor/messages", params={"conversation_id": conv["id"]})
        mine = [m for m in msgs if m["sender"]["type"] == "visitor"]
        assert [m["body"]["text"] for m in mine] == texts
        seqs = [m["seq"] for m in msgs]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_one_batch_of_two_tabs_another_visitor_and_a_first_message(
    api: Api, server: LiveServer
) -> None:
    """In one batch: a visitor's two tabs and another visitor write into ongoing conversations
    (set-wise), and a new visitor's first message opens a conversation (one by one, after
    them). Every send is acked once; each conversation's seqs follow one another; the agent
    gets the events in seq order and the visitor's other tab gets its sibling's message."""
    t = api.provision()
    _, agent = api.add_user(t)
    widget = new_widget(t)
    staff = staff_socket(server.base_url, agent)
    a, b, c = Visitor(api, widget), Visitor(api, widget), Visitor(api, widget)
    conv_a, conv_b = a.send("hi")["conversation_id"], b.send("hi")["conversation_id"]
    eventually(lambda: sorted(ongoing_ids(agent)) == sorted([conv_a, conv_b]))
    tab1, tab2 = a.socket(server.base_url), a.socket(server.base_url)
    ws_b, ws_c = b.socket(server.base_url), c.socket(server.base_url)
    sends = [(tab1, "a from tab 1"), (ws_b, "b"), (tab2, "a from tab 2"), (ws_c, "c opens")]
    ids = [cid() for _ in sends]
    stats = batcher_of(server.app).stats
    retried = stats.retried_batches
    try:
        with one_batch(server, expected=len(sends)):
            for (ws, text), client_msg_id in zip(sends, ids, strict=True):
                _send(ws, text, client_msg_id)
        # A tab gets its sibling's message as an event, its own as its ack (either first).
        tab_frames = {0: _tab_frames(tab1, ids[0], ids[2]), 2: _tab_frames(tab2, ids[2], ids[0])}
        acks = [
            tab_frames[k]["ack"] if k in tab_frames else _answer(ws, client_msg_id)
            for k, ((ws, _), client_msg_id) in enumerate(zip(sends, ids, strict=True))
        ]
        assert all(x["type"] == "ack" and not x["replayed"] for x in acks), acks
        assert stats.retried_batches == retried, "written at the first try, not send by send"
        assert [x["conversation_id"] for x in acks[:3]] == [conv_a, conv_b, conv_a]
        assert abs(acks[0]["seq"] - acks[2]["seq"]) == 1  # one after the other
        assert acks[3]["conversation_id"] not in (conv_a, conv_b)
        for k, other in ((0, acks[2]), (2, acks[0])):
            assert tab_frames[k]["event"]["seq"] == other["seq"]
        # The agent: A's and B's messages in seq order, with nothing missing in between.
        last_seq = {conv_a: 0, conv_b: 0}
        wanted = {acks[0]["client_msg_id"], acks[1]["client_msg_id"], acks[2]["client_msg_id"]}
        deadline = time.monotonic() + 5
        while wanted:
            frame = recv(staff, max(deadline - time.monotonic(), 0.01))
            if frame.get("type") != "event" or frame["conversation_id"] not in last_seq:
                continue
            seq, conv = frame["seq"], frame["conversation_id"]
            assert last_seq[conv] == 0 or seq == last_seq[conv] + 1, (conv, last_seq, seq)
            last_seq[conv] = seq
            if frame["name"] == "message.created":
                wanted.discard(frame["data"]["message"]["client_msg_id"])
        msgs = a.http.ok("GET", "/visitor/messages", params={"conversation_id": conv_a})
        texts = [m["body"]["text"] for m in msgs if m["sender"]["type"] == "visitor"]
        assert texts[0] == "hi" and sorted(texts[1:]) == ["a from tab 1", "a from tab 2"]
        seqs = [m["seq"] for m in msgs]
        assert seqs == sorted(set(seqs))
    finally:
        for ws in (tab1, tab2, ws_b, ws_c, staff):
            ws.close()


def _tab_frames(ws: Any, own: str, sibling: str) -> dict[str, dict[str, Any]]:
    """A visitor tab's ack of its `own` send and the event of its `sibling` tab's message,
    in whichever order they come (its own message's event comes too)."""
    got: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 5
    while len(got) < 2:
        frame = recv(ws, max(deadline - time.monotonic(), 0.01))
        if frame.get("type") in ("ack", "nack") and frame.get("client_msg_id") == own:
            got["ack"] = frame
        elif (
            frame.get("name") == "message.created"
            and frame["data"]["message"]["client_msg_id"] == sibling
        ):
            got["event"] = frame
    return got


def _visitor_on_a_socket(api: Api, server: LiveServer, held: bool) -> tuple[Any, Visitor, Any, Any]:
    """(tenant, visitor, its socket, the agent's socket or None): a conversation opened over
    REST, held by an online agent (`held`) or waiting."""
    t = api.provision()
    widget = new_widget(t)
    staff = None
    if held:
        _, agent = api.add_user(t)
        staff = staff_socket(server.base_url, agent)
    v = Visitor(api, widget)
    conv_id = v.send("hello")["conversation_id"]
    if held:
        eventually(lambda: ongoing_ids(agent) == [conv_id])
    return t, v, v.socket(server.base_url), staff


@pytest.mark.parametrize("held", [False, True], ids=["waiting", "ongoing"])
def test_socket_principal_is_reread_after_its_ttl(api: Api, server: LiveServer, held: bool) -> None:
    """The batch re-reads the rows of every socket due for it together (`reread_principals`);
    the send then goes set-wise (ongoing) or on its own (waiting), with the new rows."""
    clock = FakeClock()
    set_clock(clock)
    staff = None
    batcher = batcher_of(server.app)
    engine = batcher._inline.engine if batcher._inline is not None else server.app.state.engine
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    try:
        t, v, ws, staff = _visitor_on_a_socket(api, server, held)
        t.admin.ok("PATCH", f"/visitors/{v.id}", json={"name": "Renamed Rita"})

        first = cid()
        _send(ws, "one", first)
        ack = _answer(ws, first)
        # Within the TTL the socket's rows are used as they were read at sign-in.
        assert ack["message"]["sender"]["name"] != "Renamed Rita"

        clock.advance(seconds=PRINCIPAL_TTL.total_seconds() + 1)
        second = cid()
        event.listen(engine.sync_engine, "before_cursor_execute", count)
        try:
            _send(ws, "two", second)
            ack = _answer(ws, second)
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", count)
        assert ack["type"] == "ack"
        assert ack["message"]["sender"]["name"] == "Renamed Rita"
        together = [s for s in statements if "FROM visitor_devices" in s and " IN (" in s]
        assert together, statements
        ws.close()
    finally:
        set_clock(Clock())
        if staff is not None:
            staff.close()


@pytest.mark.parametrize("held", [False, True], ids=["waiting", "ongoing"])
def test_a_batch_rolled_back_after_a_reread_keeps_the_rows(
    api: Api, server: LiveServer, held: bool
) -> None:
    """A batch that re-read a socket's rows and then failed (here a repeated `client_msg_id`,
    which the fast batch leaves to the unique index) is rolled back and run again: the rows the
    socket keeps must survive that rollback, or its next use of them fails the socket."""
    clock = FakeClock()
    set_clock(clock)
    staff = None
    try:
        _, _, ws, staff = _visitor_on_a_socket(api, server, held)
        first = cid()
        _send(ws, "one", first)
        stored = _answer(ws, first)
        assert stored["type"] == "ack"

        clock.advance(seconds=PRINCIPAL_TTL.total_seconds() + 1)
        _send(ws, "one", first)  # re-read, then the INSERT fails: rolled back, run again
        again = _answer(ws, first)
        assert again["type"] == "ack" and again["message"]["id"] == stored["message"]["id"]
        later = cid()
        _send(ws, "two", later)
        assert _answer(ws, later)["type"] == "ack"
        ws.close()
    finally:
        set_clock(Clock())
        if staff is not None:
            staff.close()


def test_a_batched_visitor_message_looks_the_same_to_everyone(api: Api, server: LiveServer) -> None:
    """Set-wise visitor sends build one view and one event frame for the staff and the visitor
    (`bulk_send`): the ack, the visitor's own event and the agent's are the same message, with
    the sender's name and the stored time."""
    t = api.provision()
    _, agent = api.add_user(t)
    widget = new_widget(t)
    with staff_socket(server.base_url, agent) as staff:
        v = Visitor(api, widget)
        conv_id = v.send("hello")["conversation_id"]
        eventually(lambda: ongoing_ids(agent) == [conv_id])
        ws = v.socket(server.base_url)
        client_msg_id = cid()
        _send(ws, "the same to all", client_msg_id)
        ack = _answer(ws, client_msg_id)
        created = event_named("message.created")
        mine = recv_until(ws, lambda f: created(f) and f["seq"] == ack["seq"])
        theirs = recv_until(staff, lambda f: created(f) and f["seq"] == ack["seq"])
        assert ack["message"] == mine["data"]["message"] == theirs["data"]["message"]
        assert mine == theirs
        stored = ack["message"]
        assert stored["body"] == {"text": "the same to all"}
        assert stored["sender"]["type"] == "visitor" and stored["sender"]["name"]
        kept = next(
            m
            for m in agent.ok("GET", f"/conversations/{conv_id}/messages")
            if m["id"] == stored["id"]
        )
        at = datetime.fromisoformat  # the API writes "Z", frames "+00:00"
        assert at(kept["created_at"]) == at(stored["created_at"])
        ws.close()


def test_on_postgresql_a_second_batch_goes_beside_one_in_flight_but_not_into_its_conversation(
    api: Api, server: LiveServer
) -> None:
    """PostgreSQL writes up to two batches at once (their database round trips overlap);
    SQLite one. A send into a conversation that a batch in flight is writing (here the agent's,
    into the visitor's) waits for it, so one conversation's sends commit in the order they
    came."""
    t = api.provision()
    _, agent = api.add_user(t)
    widget = new_widget(t)
    visitors = [Visitor(api, widget) for _ in range(2)]
    with staff_socket(server.base_url, agent) as tab:
        convs = [v.send("hello")["conversation_id"] for v in visitors]  # opened over REST
        eventually(lambda: sorted(ongoing_ids(agent)) == sorted(convs))
        sockets = [v.socket(server.base_url) for v in visitors]
        batcher = batcher_of(server.app)
        release = threading.Event()
        written: list[list[int | None]] = []  # each batch's conversations, as it is written
        original = batcher._write

        async def gated(jobs: Any) -> Any:
            written.append([j.order_key for j in jobs])
            if len(written) == 1:
                while not release.is_set():  # noqa: ASYNC110 (set from the test's thread)
                    await asyncio.sleep(0.01)
            return await original(jobs)

        batcher._write = gated  # type: ignore[method-assign]
        try:
            first, reply, other = cid(), cid(), cid()
            _send(sockets[0], "first", first)
            eventually(lambda: written == [[convs[0]]])
            tab.send(
                json.dumps(
                    {
                        "type": "send",
                        "conversation_id": convs[0],
                        "client_msg_id": reply,
                        "kind": "text",
                        "body": {"text": "the agent's reply"},
                    }
                )
            )
            time.sleep(0.2)  # the reply reaches the batcher first
            _send(sockets[1], "other conversation", other)
            if PG_URL:
                # Written while the first batch is held, without the reply.
                assert _answer(sockets[1], other)["type"] == "ack"
                assert written[1:] == [[convs[1]]], written
            else:
                time.sleep(0.3)
                assert written == [[convs[0]]], "SQLite writes one batch at a time"
            release.set()
            assert _answer(sockets[0], first)["type"] == "ack"
            acked = _answer(tab, reply)
            assert acked["type"] == "ack", acked
            assert acked["seq"] > 1 + 1  # after "hello" and "first"
            if not PG_URL:
                assert _answer(sockets[1], other)["type"] == "ack"
        finally:
            batcher._write = original  # type: ignore[method-assign]
            release.set()
            for ws in sockets:
                ws.close()


VISITORS, TABS = 10, 8


@pytest.mark.skipif(not PG_URL.startswith("postgresql"), reason="needs PostgreSQL")
def test_batches_of_two_processes_share_conversations_on_postgresql(settings: Settings) -> None:
    """Visitors on one `kefu serve`, their agent's tabs on another: each process group-commits
    sends into the same conversations at once (row locks across processes). Every send is
    acked once (none refused by a deadlock), stored once, and each conversation's seqs stay
    unique and gap-free."""
    procs: list[NodeProcess] = []
    visitor_sockets: list[Any] = []
    tabs: list[Any] = []
    try:
        for i in range(2):
            node = node_settings(settings, f"node{i}")
            procs.append(NodeProcess(node))
            procs[-1].start()
        api_a, api_b = Api(procs[0].base_url), Api(procs[1].base_url)
        t = api_a.provision()
        _, agent = api_a.add_user(t, max_concurrent=VISITORS)
        widget = new_widget(t)
        online = staff_socket(procs[1].base_url, _on(api_b, agent))  # the agent is Idle
        tabs = [online] + [
            staff_socket(procs[1].base_url, _on(api_b, agent)) for _ in range(TABS - 1)
        ]
        visitors = [Visitor(api_a, widget) for _ in range(VISITORS)]
        for v in visitors:
            v.send("hello")  # REST: opens the conversation, assigned to the agent
        conv_ids = [v.http.ok("GET", "/visitor/conversation")["id"] for v in visitors]
        visitor_sockets = [v.socket(procs[0].base_url) for v in visitors]

        rounds = 8
        stored_ids: dict[str, int] = {}  # client_msg_id -> conversation

        def send_acked(ws: Any, frame: dict[str, Any], conv_id: int) -> None:
            client_id = cid()
            ws.send(json.dumps({**frame, "client_msg_id": client_id, "kind": "text"}))
            answer = _answer(ws, client_id, timeout=60)
            assert answer["type"] == "ack", answer
            assert answer["conversation_id"] == conv_id
            stored_ids[client_id] = conv_id

        def visitor_burst(i: int) -> None:
            for r in range(rounds):
                frame = {"type": "send", "body": {"text": f"v{i} r{r}"}}
                send_acked(visitor_sockets[i], frame, conv_ids[i])

        def tab_burst(k: int) -> None:
            # Each tab walks the conversations in its own order: unordered batches would
            # lock the same rows in opposite orders on the two processes.
            order = conv_ids[k:] + conv_ids[:k]
            if k % 2:
                order.reverse()
            for r in range(2):
                for conv_id in order:
                    frame = {
                        "type": "send",
                        "conversation_id": conv_id,
                        "body": {"text": f"tab{k} r{r}"},
                    }
                    send_acked(tabs[k], frame, conv_id)

        errors: list[BaseException] = []

        def run(fn: Any, arg: int) -> None:
            try:
                fn(arg)
            except BaseException as err:  # reported below
                errors.append(err)

        threads = [threading.Thread(target=run, args=(visitor_burst, i)) for i in range(VISITORS)]
        threads += [threading.Thread(target=run, args=(tab_burst, k)) for k in range(len(tabs))]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert not errors, errors
        assert len(stored_ids) == VISITORS * rounds + TABS * 2 * VISITORS

        rows = sql(
            settings,
            "SELECT conversation_id, seq, client_msg_id FROM messages WHERE conversation_id "
            "= ANY(:ids) ORDER BY conversation_id, seq",
            ids=conv_ids,
        )
        stored = [(r[2], r[0]) for r in rows if r[2] in stored_ids]
        assert sorted(stored) == sorted(stored_ids.items()), "every send stored exactly once"
        events = sql(
            settings,
            "SELECT conversation_id, seq FROM conversation_events WHERE conversation_id "
            "= ANY(:ids) ORDER BY conversation_id, seq",
            ids=conv_ids,
        )
        for conv_id in conv_ids:
            seqs = [s for c, s in events if c == conv_id]
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), (conv_id, seqs)
    finally:
        for ws in [*visitor_sockets, *tabs]:
            with contextlib.suppress(Exception):
                ws.close()
        for p in procs:
            p.stop()


def _on(api: Api, client: Client) -> Client:
    """The same signed-in user on another process (sessions live in the database)."""
    c = api.client()
    c.cookies.set("kefu_session", client.cookies["kefu_session"])
    return c


def test_a_send_that_lost_a_lock_race_runs_again_and_is_delivered_after(
    server: LiveServer,
) -> None:
    """PostgreSQL answers a deadlock (40P01) or a serialization failure (40001) by aborting one
    side; the batcher runs that send again in a later transaction (the others commit first)
    and delivers it after them, so acks and events follow commit order."""
    batcher = batcher_of(server.app)
    order: list[str] = []
    attempts = {"lost": 0}

    class Deadlock(Exception):
        sqlstate = "40P01"

    async def lost(db: Any, fast: bool) -> str:
        attempts["lost"] += 1
        if attempts["lost"] <= 2:  # the fast pass and the first savepoint pass
            raise DBAPIError("UPDATE conversations …", {}, Deadlock())
        return "lost"

    async def fine(db: Any, fast: bool) -> str:
        return "fine"

    async def delivered(result: str) -> None:
        order.append(result)

    async def both() -> list[Any]:
        before = batcher.stats.lock_retries
        results = await asyncio.gather(
            batcher.run(lost, deliver=delivered), batcher.run(fine, deliver=delivered)
        )
        return [*results, batcher.stats.lock_retries - before]

    loop = server.app.state.loop
    results = asyncio.run_coroutine_threadsafe(both(), loop).result(timeout=30)
    assert results == ["lost", "fine", 1]
    assert attempts["lost"] == 3
    assert order == ["fine", "lost"]


def test_a_conversation_opened_over_a_socket_uses_the_current_settings(
    api: Api, server: LiveServer
) -> None:
    """Sockets share their tenant and widget rows for up to PRINCIPAL_TTL; a conversation the
    first message over a socket opens must still follow the settings saved just before."""
    t = api.provision()
    widget = new_widget(t, welcome_text="old welcome")
    early = Visitor(api, widget)
    early_ws = early.socket(server.base_url)  # this process now shares the widget row
    t.admin.ok("PATCH", f"/widgets/{widget['id']}", json={"welcome_text": "new welcome"})
    late = Visitor(api, widget)
    ws = late.socket(server.base_url)  # within the TTL: signed in with the shared rows
    first = cid()
    _send(ws, "hello", first)
    ack = _answer(ws, first)
    assert ack["type"] == "ack", ack
    msgs = late.http.ok(
        "GET", "/visitor/messages", params={"conversation_id": ack["conversation_id"]}
    )
    welcome = [m["body"]["text"] for m in msgs if m["kind"] == "system"]
    assert welcome == ["new welcome"], welcome
    ws.close()
    early_ws.close()


def test_the_next_batch_waits_for_the_previous_delivery(server: LiveServer) -> None:
    """While a batch is being delivered, new sends gather and are then written as ONE batch
    (at capacity, batches grow instead of the sends queueing behind deliveries). A delivery
    that does not finish (a socket not reading) delays the next write by DELIVERY_WAIT only."""
    batcher = batcher_of(server.app)
    written: list[list[str]] = []
    wrote: list[asyncio.Event] = []  # made on the server's loop
    original = batcher._write

    async def recording(jobs: Any) -> Any:
        written.append([j.order_key for j in jobs])
        wrote[0].set()
        return await original(jobs)

    async def batches_written(n: int) -> None:
        while len(written) < n:
            wrote[0].clear()
            await wrote[0].wait()

    async def noop(db: Any, fast: bool) -> None:
        return None

    async def scenario(release_after: float | None) -> tuple[list[list[Any]], float]:
        gate = asyncio.Event()

        async def slow_delivery(_result: Any) -> None:
            await gate.wait()

        written.clear()
        wrote[:] = [asyncio.Event()]
        first = asyncio.ensure_future(batcher.run(noop, deliver=slow_delivery, order_key=0))
        await batches_written(1)  # its delivery now waits on the gate
        started = time.monotonic()
        later = [asyncio.ensure_future(batcher.run(noop, order_key=k)) for k in (1, 2, 3)]
        if release_after is not None:
            await asyncio.sleep(release_after)
            assert written == [[0]], "nothing more is written while the delivery runs"
            gate.set()
        await batches_written(2)  # (their deliveries follow the first one's, in order)
        elapsed = time.monotonic() - started
        gate.set()
        await asyncio.gather(first, *later)
        return list(written), elapsed

    batcher._write = recording  # type: ignore[method-assign]
    try:
        loop = server.app.state.loop
        batches, _ = asyncio.run_coroutine_threadsafe(scenario(0.05), loop).result(timeout=30)
        assert batches == [[0], [1, 2, 3]]
        batches, elapsed = asyncio.run_coroutine_threadsafe(scenario(None), loop).result(30)
        assert batches == [[0], [1, 2, 3]]
        assert elapsed < 2, "a stuck delivery must not hold the writes"
    finally:
        batcher._write = original  # type: ignore[method-assign]


def test_a_conversation_the_batch_holds_is_kept_current_by_a_set_wise_send(
    api: Api, server: LiveServer
) -> None:
    """A send earlier in the batch loaded the conversation into the batch's session; the
    set-wise visitor send after it (one raw statement on PostgreSQL) must leave that row with
    the values it stored, or what runs after it in the batch reads stale ones."""
    from kefu.conversations.models import Conversation

    batcher = batcher_of(server.app)
    loop = server.app.state.loop
    _, v, ws, staff = _visitor_on_a_socket(api, server, held=True)
    conv_id = v.http.ok("GET", "/visitor/conversation")["id"]
    kept: list[Any] = []

    async def keep(db: Any, fast: bool) -> None:
        kept.append(await db.get(Conversation, conv_id))  # held by the session from here on

    try:
        client_id = cid()
        with one_batch(server, expected=2):
            # Ordered by conversation on PostgreSQL: give `keep` the send's, so it runs first.
            held = asyncio.run_coroutine_threadsafe(batcher.run(keep, order_key=conv_id), loop)
            eventually(lambda: len(batcher._pending) == 1)
            _send(ws, "the latest words", client_id)
        ack = _answer(ws, client_id)
        held.result(10)
        assert ack["type"] == "ack"
        assert kept[0].last_seq == ack["seq"]
        assert kept[0].last_message_preview == "the latest words"
    finally:
        ws.close()
        if staff is not None:
            staff.close()
