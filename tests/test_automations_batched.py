"""The §7 timers when messages arrive over sockets in group-committed batches.

A batch does the automation work of visitor messages in ongoing conversations once for the
whole batch (`kefu.automations.listeners._visitors_wrote`, run before the batch commits). These
tests check that the effect is the same as message by message, also when a visitor and an agent
write in one conversation within one batch, and that the batch really saves the statements.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from kefu.chat.batcher import batcher_of
from kefu.core.clock import Clock, FakeClock, set_clock
from tests.chat_helpers import Visitor, cid, new_widget, recv_until, staff_socket
from tests.conftest import LiveServer
from tests.helpers import Api
from tests.routing_helpers import eventually, ongoing_ids, system_texts
from tests.test_automations import configure, say, state, tick


@pytest.fixture
def fake_clock() -> Iterator[FakeClock]:
    clock = FakeClock()
    set_clock(clock)
    yield clock
    set_clock(Clock())


def _visitor_frame(text: str, client_msg_id: str) -> str:
    return json.dumps(
        {"type": "send", "client_msg_id": client_msg_id, "kind": "text", "body": {"text": text}}
    )


def _agent_frame(conv: int, text: str, client_msg_id: str) -> str:
    return json.dumps(
        {
            "type": "send",
            "conversation_id": conv,
            "client_msg_id": client_msg_id,
            "kind": "text",
            "body": {"text": text},
        }
    )


def _acked(ws: Any, client_msg_id: str) -> None:
    frame = recv_until(
        ws,
        lambda f: f.get("type") in ("ack", "nack") and f.get("client_msg_id") == client_msg_id,
        timeout=10,
    )
    assert frame["type"] == "ack", frame


def _held_over_socket(api: Api, server: LiveServer, t: Any, agent: Any) -> tuple[int, Any]:
    """A visitor's conversation, opened over REST and held by the (online) `agent`, and the
    visitor's socket: (conversation id, socket)."""
    v = Visitor(api, new_widget(t))
    conv: int = v.send("question")["conversation_id"]
    eventually(lambda: ongoing_ids(agent) == [conv])
    return conv, v.socket(server.base_url)


@contextlib.contextmanager
def one_batch(server: LiveServer, expected: int) -> Iterator[None]:
    """The sends made inside the block are written as ONE batch once it ends: a no-op job
    holds the writer until `expected` sends wait behind it."""
    batcher = batcher_of(server.app)
    release, holding = threading.Event(), threading.Event()

    async def hold(_db: Any, _fast: bool) -> None:
        holding.set()
        while not release.is_set():  # noqa: ASYNC110 (set from the test's thread)
            await asyncio.sleep(0.005)

    held = asyncio.run_coroutine_threadsafe(batcher.run(hold), server.app.state.loop)
    try:
        assert holding.wait(10)
        yield
        deadline = time.monotonic() + 10
        while len(batcher._pending) < expected:
            assert time.monotonic() < deadline, "the sends did not reach the batcher"
            time.sleep(0.01)
    finally:
        release.set()
        held.result(10)


def test_socket_sends_run_the_timers_as_rest_sends_do(
    api: Api, server: LiveServer, fake_clock: FakeClock
) -> None:
    t = api.provision()
    _, agent = api.add_user(t)
    configure(
        t,
        visitor_timeout={"enabled": True, "first_timeout": 60, "count": 1, "text": "还在吗？"},
        agent_no_reply={
            "enabled": True,
            "timeout": 100,
            "remind_visitor": True,
            "visitor_text": "马上来",
        },
    )
    with staff_socket(server.base_url, agent):
        conv, ws = _held_over_socket(api, server, t, agent)
        say(agent, conv, "how can I help?")  # the visitor's countdown starts
        tick(server, fake_clock, 50)
        first = cid()
        ws.send(_visitor_frame("still here", first))  # stops it; the agent now owes a reply
        _acked(ws, first)
        tick(server, fake_clock, 50)
        second = cid()
        ws.send(_visitor_frame("hello??", second))  # the first unanswered message still counts
        _acked(ws, second)
        tick(server, fake_clock, 30)
        assert system_texts(agent, conv, "visitor_timeout_prompt") == []
        assert system_texts(agent, conv, "agent_no_reply") == []
        tick(server, fake_clock, 25)  # 105 s after the first unanswered message
        eventually(lambda: system_texts(agent, conv, "agent_no_reply") == ["马上来"])
        assert system_texts(agent, conv, "visitor_timeout_prompt") == []
        ws.close()


def test_a_prompted_visitors_socket_answer_ends_the_countdown(
    api: Api, server: LiveServer, fake_clock: FakeClock
) -> None:
    """A prompted visitor who answers over the socket (a set-wise send: on PostgreSQL its own
    statement deletes the pending timeout) gets no more prompts; the agent's next message starts
    the full count again. (The prompts' counter itself is reset by that agent message as well,
    so only the countdown's end is seen from outside.)"""
    t = api.provision()
    _, agent = api.add_user(t)
    configure(
        t,
        visitor_timeout={
            "enabled": True,
            "first_timeout": 60,
            "count": 2,
            "interval": 30,
            "end_delay": 20,
            "text": "还在吗？",
        },
    )
    with staff_socket(server.base_url, agent):
        conv, ws = _held_over_socket(api, server, t, agent)
        say(agent, conv, "how can I help?")
        tick(server, fake_clock, 61)
        eventually(lambda: system_texts(agent, conv, "visitor_timeout_prompt") == ["还在吗？"])
        answer = cid()
        ws.send(_visitor_frame("yes, here", answer))
        _acked(ws, answer)
        tick(server, fake_clock, 600)  # the countdown ended with the answer
        assert len(system_texts(agent, conv, "visitor_timeout_prompt")) == 1
        say(agent, conv, "anything else?")
        tick(server, fake_clock, 61)
        eventually(lambda: len(system_texts(agent, conv, "visitor_timeout_prompt")) == 2)
        tick(server, fake_clock, 31)  # a second prompt: the count started over
        eventually(lambda: len(system_texts(agent, conv, "visitor_timeout_prompt")) == 3)
        assert state(agent, conv)["state"] == "ongoing"
        ws.close()


@pytest.mark.parametrize("last", ["agent", "visitor"])
def test_visitor_and_agent_in_one_batch_the_last_writer_decides_the_countdown(
    api: Api, server: LiveServer, fake_clock: FakeClock, last: str
) -> None:
    """Visitor then agent: the visitor's countdown runs from the agent's answer. Agent then
    visitor: the agent's send starts the countdown (a timer added in the batch's session) and
    the visitor's later send in the same batch (set-wise) ends it."""
    t = api.provision()
    _, agent = api.add_user(t)
    configure(
        t, visitor_timeout={"enabled": True, "first_timeout": 60, "count": 1, "text": "还在吗？"}
    )
    with staff_socket(server.base_url, agent) as aws:
        conv, ws = _held_over_socket(api, server, t, agent)
        if last == "agent":
            say(agent, conv, "how can I help?")
        visitor_send = (ws, _visitor_frame("a question", mine := cid()), mine)
        agent_send = (aws, _agent_frame(conv, "the answer", theirs := cid()), theirs)
        order = [visitor_send, agent_send] if last == "agent" else [agent_send, visitor_send]
        with one_batch(server, expected=2):
            order[0][0].send(order[0][1])
            time.sleep(0.2)  # in this order
            order[1][0].send(order[1][1])
        for sock, _, client_msg_id in order:
            _acked(sock, client_msg_id)
        tick(server, fake_clock, 61)
        if last == "agent":
            eventually(lambda: system_texts(agent, conv, "visitor_timeout_prompt") == ["还在吗？"])
        else:
            time.sleep(0.5)
            assert system_texts(agent, conv, "visitor_timeout_prompt") == []
        ws.close()


def test_a_batch_of_visitor_sends_shares_the_automation_statements(
    api: Api, server: LiveServer
) -> None:
    t = api.provision()
    _, agent = api.add_user(t)
    widget = new_widget(t)
    n = 8  # within the agent's default capacity: all ongoing
    with staff_socket(server.base_url, agent):
        visitors = [Visitor(api, widget) for _ in range(n)]
        convs = [v.send("hi")["conversation_id"] for v in visitors]
        eventually(lambda: sorted(ongoing_ids(agent)) == sorted(convs))
        sockets = [v.socket(server.base_url) for v in visitors]
        batcher = batcher_of(server.app)
        inline = batcher._inline
        engine = inline.engine if inline is not None else server.app.state.engine
        statements: list[str] = []  # through SQLAlchemy
        raw: list[str] = []  # SQLite: on the sqlite3 connection itself (`core.db.sqlite_call`)

        def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            statements.append(statement)

        def trace(dbapi_conn: Any, *_: Any) -> None:
            dbapi_conn.driver_connection._conn.set_trace_callback(raw.append)

        ids = [cid() for _ in sockets]
        sqlite = engine.dialect.name == "sqlite"
        event.listen(engine.sync_engine, "before_cursor_execute", count)
        if sqlite:
            event.listen(engine.sync_engine.pool, "checkout", trace)
        try:
            with one_batch(server, expected=n):
                for ws, client_msg_id in zip(sockets, ids, strict=True):
                    ws.send(_visitor_frame("more", client_msg_id))
            for ws, client_msg_id in zip(sockets, ids, strict=True):
                _acked(ws, client_msg_id)
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", count)
            if sqlite:
                event.remove(engine.sync_engine.pool, "checkout", trace)
        # Set-wise for the whole batch (`conversations.bulk_send`). SQLite: one read of the
        # conversations, one UPDATE of their seqs, one INSERT of the messages and one of their
        # events; then the automations' DELETE of the visitor timeouts and read of the states.
        # PostgreSQL: the lock, the seqs, the three writes and the automations' two are one
        # statement (one round trip).
        # Message by message it would be four statements per send.
        if sqlite:
            # The writes and the automations' two statements skip SQLAlchemy. sqlite3 reports
            # a statement again at each trigger it runs (same text): distinct texts count.
            assert not [s for s in statements if s.startswith(("INSERT", "UPDATE", "DELETE"))]
            inserts = sorted({s for s in raw if s.startswith("INSERT INTO messages")})
            assert len(inserts) == 1, inserts
            assert all(client_msg_id in inserts[0] for client_msg_id in ids)
            timer_deletes = sorted({s for s in raw if s.startswith("DELETE FROM timers")})
            assert len(timer_deletes) == 1, timer_deletes
            assert len(statements) <= 4, "\n".join(statements)  # BEGIN, 2 reads (+ settings)
        else:
            inserts = [s for s in statements if "INSERT INTO messages" in s]
            assert len(inserts) == 1, inserts
            # The lock, the conversations' UPDATE, the events and the automations' DELETE of
            # the visitor timeouts and read of the states ride in the messages' statement.
            for part in (
                "FOR UPDATE",
                "UPDATE conversations",
                "INSERT INTO conversation_events",
                "DELETE FROM timers",
                "automation_states",
            ):
                assert part in inserts[0], part
            others = [s for s in statements if s not in inserts]
            for part in ("FOR UPDATE", "conversation_events", "DELETE FROM timers"):
                assert not [s for s in others if part in s], part
            assert not [s for s in others if s.startswith("UPDATE conversations")]
            # Ids as arrays, no IN list: the same statement (prepared once) for every batch size.
            assert "ANY" in inserts[0] and " IN (" not in inserts[0].replace(" IN (SELECT", "")
            assert len(statements) <= 10, "\n".join(statements)
        for ws in sockets:
            ws.close()


def test_a_timer_settings_change_applies_to_the_next_batched_send_at_once(
    api: Api, server: LiveServer, fake_clock: FakeClock
) -> None:
    """Batched sends keep the tenant's timer settings for a few seconds (another node's change
    applies within that); one saved through this node applies from its commit on."""
    t = api.provision()
    _, agent = api.add_user(t)
    with staff_socket(server.base_url, agent):
        conv, ws = _held_over_socket(api, server, t, agent)
        say(agent, conv, "how can I help?")
        first = cid()
        ws.send(_visitor_frame("still here", first))  # a batch reads (and keeps) the defaults
        _acked(ws, first)
        configure(
            t,
            agent_no_reply={
                "enabled": True,
                "timeout": 100,
                "remind_visitor": True,
                "visitor_text": "马上来",
            },
        )
        second = cid()
        ws.send(_visitor_frame("hello??", second))  # at once: the agent now owes a reply
        _acked(ws, second)
        tick(server, fake_clock, 101)
        eventually(lambda: system_texts(agent, conv, "agent_no_reply") == ["马上来"])
        ws.close()
