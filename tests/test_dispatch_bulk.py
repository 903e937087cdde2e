"""Bulk dispatch (issue 7): a drain pass chooses all its assignments in memory and writes them
set-wise. It must do exactly what assigning one at a time did.

- On the same state (rolled back between the two), the bulk `drain` and the former
  one-at-a-time loop (`give` per conversation, kept here as the reference) choose the same agent
  for every conversation (§5.5 idle ratio → today's workload → tie, group priority, VIP order,
  returning customers), stay within max_concurrent, and produce the same events (payloads,
  per-conversation seqs), timers, automation state and greetings.
- Through the API: one pass assigning many conversations delivers each `conversation.assigned`
  frame with the next seq of its conversation and a payload a client reducer applies.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, event, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import User
from kefu.automations.models import AutomationState
from kefu.chat.batcher import batcher_of
from kefu.conversations import actions, dispatch
from kefu.conversations.models import Conversation, ConversationEvent, Segment
from kefu.core.clock import Clock, FakeClock, set_clock
from kefu.events.bus import take_events
from kefu.events.types import ChatEvent
from kefu.presence.models import Presence
from kefu.routing import queueing
from kefu.tenants.models import Tenant
from kefu.workers.models import Timer
from tests.chat_helpers import Visitor, event_named, new_widget, recv_until, staff_socket
from tests.conftest import PG_URL, LiveServer
from tests.helpers import Api
from tests.routing_helpers import eventually, group, on_server, ongoing_ids, switches

NOW = datetime(2031, 3, 3, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai, a Monday


class Lowest(random.Random):
    """Ties broken by the lowest user id, so two runs can be compared exactly."""

    def choice(self, seq: Sequence[Any]) -> Any:  # type: ignore[override]
        return min(seq, key=lambda c: c.user_id)


def configure(t: Any, **timers: Any) -> None:
    """Save the automation settings with `timers` merged over the current ones."""
    current = t.admin.ok("GET", "/automations/settings")
    current.pop("updated_at")
    for key, value in timers.items():
        current["timers"][key] = {**current["timers"][key], **value}
    t.admin.ok("PUT", "/automations/settings", json=current)


@pytest.fixture
def fake_clock() -> Iterator[FakeClock]:
    clock = FakeClock(NOW)
    set_clock(clock)
    yield clock
    set_clock(Clock())


@pytest.fixture
def lowest_ties(monkeypatch: pytest.MonkeyPatch) -> None:
    real = dispatch.snapshot

    async def snapshot(db: AsyncSession, tenant: Tenant, **kw: Any) -> dispatch.Snapshot:
        snap = await real(db, tenant, **kw)
        snap.rng = Lowest()
        return snap

    monkeypatch.setattr(dispatch, "snapshot", snapshot)


async def one_at_a_time(db: AsyncSession, tenant_id: int) -> int:
    """The drain before bulk dispatch: pick, then `give` (assign + events + hooks + greeting)
    one conversation at a time, in queue order, on one snapshot updated as it goes."""
    tenant = await db.get(Tenant, tenant_id)
    assert tenant is not None
    await dispatch.lock_tenant_dispatch(db, tenant_id)
    snap = await dispatch.snapshot(db, tenant)
    free = snap.free_agents()
    reachable = queueing._Reach.of(snap, free).sql()
    assert reachable is not None
    convs = list(
        await db.scalars(
            select(Conversation)
            .where(
                Conversation.tenant_id == tenant_id,
                Conversation.state == "waiting",
                Conversation.broadcast.is_(False),
                reachable,
            )
            .order_by(Conversation.priority_rank, Conversation.queued_at, Conversation.id)
        )
    )
    convs.sort(
        key=lambda c: (snap.group_rank(c.skill_group_id), c.priority_rank, c.queued_at, c.id)
    )
    assigned = 0
    for conv in convs:
        if not free:
            break
        if not snap.pool(conv.skill_group_id, conv.target_agent_id) & free:
            continue
        agent_id = await dispatch.pick(db, snap, conv)
        if agent_id is None:
            continue
        await queueing.give(
            db, snap, conv, agent_id, reason="assigned", transfer=False, announce_queue=False
        )
        if not snap.agents[agent_id].free:
            free.discard(agent_id)
        assigned += 1
    actions.queue_changed(db, tenant_id)
    return assigned


def _frames(events: list[Any]) -> dict[int, list[tuple[Any, ...]]]:
    """Per conversation, its frames in seq order (message ids aside: sequences differ)."""
    out: dict[int, list[tuple[Any, ...]]] = {}
    for e in events:
        if not isinstance(e, ChatEvent):
            continue
        staff = dict(e.staff_frame)
        visitor = dict(e.visitor_frame) if e.visitor_frame is not None else None
        if staff["name"] == "message.created":
            msg = staff["data"]["message"]
            staff["data"] = {"kind": msg["kind"], "body": msg["body"], "seq": msg["seq"]}
            if visitor is not None:
                visitor["data"] = staff["data"]
        out.setdefault(e.conversation_id, []).append((e.agent_ids, staff, visitor))
    for frames in out.values():
        frames.sort(key=lambda f: f[1]["seq"])
    return out


async def _run(
    db: AsyncSession,
    tenant_id: int,
    prepare: Callable[[AsyncSession], Awaitable[None]],
    how: Callable[[AsyncSession, int], Awaitable[int]],
) -> dict[str, Any]:
    """Prepare the state, run one drain, read back what it did, and roll everything back."""
    await prepare(db)
    take_events(db)
    assigned = await how(db, tenant_id)
    events = take_events(db)
    await db.flush()
    rows = (
        await db.execute(
            select(
                Conversation.id, Conversation.state, Conversation.agent_id, Conversation.last_seq
            )
            # The ones prepared as history get new ids each time on PostgreSQL (sequences).
            .where(Conversation.tenant_id == tenant_id, Conversation.state != "ended")
            .order_by(Conversation.id)
        )
    ).all()
    stored = (
        await db.execute(
            select(ConversationEvent.conversation_id, ConversationEvent.seq, ConversationEvent.name)
            .where(ConversationEvent.tenant_id == tenant_id)
            .order_by(ConversationEvent.conversation_id, ConversationEvent.seq)
        )
    ).all()
    timers = (
        await db.execute(
            select(Timer.kind, Timer.subject_id, Timer.due_at)
            .where(Timer.tenant_id == tenant_id)
            .order_by(Timer.kind, Timer.subject_id)
        )
    ).all()
    states = (
        await db.execute(
            select(
                AutomationState.conversation_id,
                AutomationState.waiting_asked,
                AutomationState.agent_overdue_at,
            ).order_by(AutomationState.conversation_id)
        )
    ).all()
    segments = (
        await db.execute(
            select(Segment.conversation_id, Segment.agent_id, Segment.start_reason)
            .where(Segment.tenant_id == tenant_id, Segment.ended_at.is_(None))
            .order_by(Segment.conversation_id)
        )
    ).all()
    await db.rollback()
    return {
        "assigned": assigned,
        "conversations": [tuple(r) for r in rows],
        "stored_events": [tuple(r) for r in stored],
        "timers": [tuple(r) for r in timers],
        "states": [tuple(r) for r in states],
        "segments": [tuple(r) for r in segments],
        "frames": _frames(events),
        "queue_changed": sum(1 for e in events if type(e).__name__ == "QueueMoved"),
    }


def test_bulk_pass_equals_one_at_a_time(
    api: Api, server: LiveServer, fake_clock: FakeClock, lowest_ties: None
) -> None:
    t = api.provision()
    users = [api.add_user(t, max_concurrent=0) for _ in range(7)]
    ids = [u["id"] for u, _ in users]
    g1 = group(t, "一组", ids[:3])
    g2 = group(t, "二组", ids[3:5])  # ids[5], ids[6]: Ungrouped
    settings = t.admin.ok("GET", "/dispatch-settings")
    settings.pop("updated_at", None)
    t.admin.ok(
        "PUT",
        "/dispatch-settings",
        json={**settings, "capacity_allocation": True, "group_priority": [g2["id"]]},
    )
    switches(t, returning_customer_first=True)
    configure(
        t,
        inactive={"enabled": True, "timeout": 600},
        agent_no_reply={"enabled": True, "timeout": 120},
    )
    # One agent greets (§6): the greeting goes out after the assignment, as before.
    users[1][1].ok(
        "PATCH", "/me", json={"greeting_text": "##亲##，我是二号", "greeting_enabled": True}
    )
    widget = new_widget(t)
    visitors = [Visitor(api, widget) for _ in range(30)]
    conv_ids = [v.send(f"问题 {i}")["conversation_id"] for i, v in enumerate(visitors)]
    tenant_id = t.id
    # Loads (max_concurrent, ongoing now, accepted today): ties on the idle ratio are broken by
    # today's workload, and some only by the tie-breaker.
    loads = {ids[0]: (4, 1, 3), ids[1]: (4, 1, 1), ids[2]: (2, 0, 0), ids[3]: (3, 0, 2)}
    loads |= {ids[4]: (6, 2, 2), ids[5]: (3, 0, 0), ids[6]: (3, 0, 0)}
    rng = random.Random(7)
    placed = list(conv_ids)
    rng.shuffle(placed)
    held = placed[:4]  # ongoing with ids[0], ids[1], ids[4] ×2 (as the loads say)
    queue = placed[4:]
    holders = [ids[0], ids[1], ids[4], ids[4]]
    # Queue: groups at random, a few VIPs, one returning customer of ids[2] (in 一组).
    group_of = {c: rng.choice([g1["id"], g2["id"], None]) for c in queue}
    returning = next(c for c in queue if group_of[c] == g1["id"])
    ranks = {c: 0 if i % 7 == 3 else 11 for i, c in enumerate(queue)}

    async def prepare(db: AsyncSession) -> None:
        now = fake_clock.now()
        await db.execute(update(Presence).where(Presence.user_id.in_(ids)).values(status="idle"))
        for uid, (mc, _, _) in loads.items():
            await db.execute(update(User).where(User.id == uid).values(max_concurrent=mc))
        for k, c in enumerate(queue):
            await db.execute(
                update(Conversation)
                .where(Conversation.id == c)
                .values(
                    skill_group_id=group_of[c],
                    priority_rank=ranks[c],
                    queued_at=now - timedelta(minutes=60 - k),
                )
            )
        for c, uid in zip(held, holders, strict=True):
            await db.execute(
                update(Conversation)
                .where(Conversation.id == c)
                .values(state="ongoing", agent_id=uid, accepted_at=now)
            )
            db.add(_segment(tenant_id, c, uid, now - timedelta(hours=1), None))
        # Today's workload beyond the ongoing ones (ended earlier today), and the returning
        # visitor's chat with ids[2] yesterday.
        someone = await db.get(Conversation, held[0])
        past = await db.get(Conversation, returning)
        assert someone is not None and past is not None
        earlier = [(someone.visitor_id, ids[0], now - timedelta(hours=1))] * 2
        earlier += [(someone.visitor_id, ids[3], now - timedelta(hours=2))] * 2
        earlier += [(past.visitor_id, ids[2], now - timedelta(days=1))]
        for visitor_id, uid, at in earlier:
            old = Conversation(
                tenant_id=tenant_id,
                visitor_id=visitor_id,
                widget_id=widget["id"],
                channel="web",
                state="ended",
                created_at=at,
                ended_at=at + timedelta(minutes=5),
                entry={},
                web_info={},
            )
            db.add(old)
            await db.flush()
            db.add(_segment(tenant_id, old.id, uid, at, at + timedelta(minutes=5)))
        await db.flush()

    async def both() -> tuple[dict[str, Any], dict[str, Any]]:
        maker = server.app.state.sessionmaker
        async with maker() as db:
            before = await _run(db, tenant_id, prepare, one_at_a_time)
        async with maker() as db:
            after = await _run(db, tenant_id, prepare, queueing.drain)
        return before, after

    with contextlib.ExitStack() as stack:
        for _, client in users:
            stack.enter_context(staff_socket(server.base_url, client))
        before, after = on_server(server, both())
    # Capacity: 4+4+2+3+6+3+3 = 25 slots, 4 held: 21 free for 26 waiting (one group runs dry).
    assert 10 <= after["assigned"] <= 21
    assert after["assigned"] == before["assigned"]
    for key in ("conversations", "stored_events", "timers", "states", "segments"):
        assert after[key] == before[key], key
    assert after["frames"] == before["frames"]
    assert after["queue_changed"] == before["queue_changed"] == 1
    # The returning visitor went back to ids[2]; nobody is over max_concurrent.
    holder = {c: a for c, state, a, _ in after["conversations"] if state == "ongoing"}
    assert holder[returning] == ids[2]
    for uid, (mc, _, _) in loads.items():
        assert sum(1 for a in holder.values() if a == uid) <= mc
    # Greetings of the greeting agent went out after its assignments.
    greeted = [
        c
        for c, frames in after["frames"].items()
        if any(
            f[1]["name"] == "message.created"
            and f[1]["data"]["body"].get("code") == "agent_greeting"
            for f in frames
        )
    ]
    assert sorted(greeted) == sorted(c for c, a in holder.items() if a == ids[1] and c in queue)
    assert greeted


def _segment(
    tenant_id: int, conv_id: int, agent_id: int, at: datetime, ended: datetime | None
) -> Segment:
    return Segment(
        tenant_id=tenant_id,
        conversation_id=conv_id,
        agent_id=agent_id,
        start_reason="assigned",
        started_at=at,
        ended_at=ended,
        end_reason="ended" if ended is not None else None,
    )


def apply_event(state: dict[str, Any], frame: dict[str, Any]) -> str:
    """The shared client reducer (web/shared/chat/reducer.ts applyEvent), for these frames."""
    if frame["seq"] <= state["last_seq"]:
        return "duplicate"
    gap = frame["seq"] > state["last_seq"] + 1
    state["last_seq"] = frame["seq"]
    conv = frame["data"].get("conversation")
    if isinstance(conv, dict):
        state["conv"] = {**conv, "unread": state["conv"].get("unread")}
    state["conv"]["seq"] = max(state["conv"].get("seq") or 0, frame["seq"])
    if frame["name"] == "conversation.assigned":
        agent = frame["data"].get("agent") or {}
        state["agent"] = agent.get("id")
    return "gap" if gap else "ok"


def test_one_pass_delivers_every_assignment_in_seq_order(api: Api, server: LiveServer) -> None:
    t = api.provision()
    user, agent = api.add_user(t, max_concurrent=0)
    widget = new_widget(t)
    visitors = [Visitor(api, widget) for _ in range(12)]
    convs = [v.send("在吗")["conversation_id"] for v in visitors]
    states = {}
    for c in convs:
        view = t.admin.ok("GET", f"/conversations/{c}")
        assert view["state"] == "waiting"
        states[c] = {"last_seq": view["seq"], "conv": view, "agent": None}
    with staff_socket(server.base_url, agent) as aws, visitors[0].socket(server.base_url) as vws:
        t.admin.ok("PATCH", f"/users/{user['id']}", json={"max_concurrent": 12})
        seen: dict[int, dict[str, Any]] = {}
        while len(seen) < len(convs):
            frame = recv_until(aws, event_named("conversation.assigned"))
            assert apply_event(states[frame["conversation_id"]], frame) == "ok"
            seen[frame["conversation_id"]] = frame
        mine = recv_until(vws, event_named("conversation.assigned"))
    assert set(seen) == set(convs)
    for c, frame in seen.items():
        st = states[c]
        assert st["agent"] == user["id"]
        assert st["conv"]["state"] == "ongoing"
        assert st["conv"]["agent"] == {"id": user["id"], "nickname": user["nickname"]}
        assert frame["data"]["reason"] == "assigned"
        assert frame["data"]["conversation"]["unread"] == 1  # the visitor's one message
        # The stored log replays the same frame.
        view = agent.ok("GET", f"/conversations/{c}")
        assert view["seq"] == frame["seq"] and view["agent"]["id"] == user["id"]
    # The visitor's copy: no unread counter; the agent shown (the widget shows nicknames).
    assert mine["conversation_id"] == convs[0]
    assert "unread" not in mine["data"]["conversation"]
    assert mine["data"]["agent"]["nickname"] == user["nickname"]
    assert mine["seq"] == seen[convs[0]]["seq"]


def test_a_conversation_ended_under_the_pass_is_skipped(api: Api, server: LiveServer) -> None:
    """A chosen conversation that is no longer waiting when the pass locks it is left alone
    and the choice is made again without it (PostgreSQL: SKIP LOCKED; both: state re-read)."""
    t = api.provision()
    user, agent = api.add_user(t, max_concurrent=0)
    widget = new_widget(t)
    convs = [Visitor(api, widget).send("hi")["conversation_id"] for _ in range(3)]
    tenant_id = t.id
    real_take = queueing._take

    async def take_after_end(db: AsyncSession, ids: set[int]) -> dict[int, Conversation]:
        # As if the visitor's end had committed between the queue read and the lock.
        if convs[0] in ids:
            await db.execute(
                update(Conversation)
                .where(Conversation.id == convs[0])
                .values(state="ended")
                .execution_options(synchronize_session=False)
            )
        return await real_take(db, ids)

    async def scenario() -> dict[int, tuple[str, int | None]]:
        async with server.app.state.sessionmaker() as db:
            await db.execute(update(User).where(User.id == user["id"]).values(max_concurrent=2))
            queueing._take = take_after_end
            try:
                n = await queueing.drain(db, tenant_id)
            finally:
                queueing._take = real_take
            assert n == 2
            rows = await db.execute(
                select(Conversation.id, Conversation.state, Conversation.agent_id).where(
                    Conversation.id.in_(convs)
                )
            )
            out = {c: (s, a) for c, s, a in rows.all()}
            await db.execute(delete(Timer).where(Timer.tenant_id == tenant_id))
            await db.rollback()
            return out

    with staff_socket(server.base_url, agent):
        got = on_server(server, scenario())
    assert got[convs[0]] == ("ended", None)
    assert got[convs[1]] == ("ongoing", user["id"])
    assert got[convs[2]] == ("ongoing", user["id"])


def test_a_long_queue_of_one_group_leaves_no_free_agent_of_another_idle(
    api: Api, server: LiveServer
) -> None:
    """A pass reads a window of the queue sized by the free slots. When one group's waiting
    conversations fill it, an agent of another group still free gets a conversation of theirs
    from beyond the window in the same pass (and no larger read is made when nobody could)."""
    t = api.provision()
    (ua, a), (ub, b) = api.add_user(t, max_concurrent=0), api.add_user(t, max_concurrent=0)
    ga, gb = group(t, "甲组", [ua["id"]]), group(t, "乙组", [ub["id"]])
    widget = new_widget(t)
    convs = [Visitor(api, widget).send(f"问 {i}")["conversation_id"] for i in range(46)]
    tenant_id = t.id

    async def scenario() -> dict[int, int | None]:
        async with server.app.state.sessionmaker() as db:
            # 45 of 甲组 queued first, then one of 乙组; one slot each.
            for k, c in enumerate(convs):
                await db.execute(
                    update(Conversation)
                    .where(Conversation.id == c)
                    .values(skill_group_id=ga["id"] if k < 45 else gb["id"])
                )
            await db.execute(
                update(User).where(User.id.in_([ua["id"], ub["id"]])).values(max_concurrent=1)
            )
            assert await queueing.drain(db, tenant_id) == 2
            rows = await db.execute(
                select(Conversation.id, Conversation.agent_id).where(Conversation.id.in_(convs))
            )
            out = {c: agent for c, agent in rows.all()}
            await db.execute(delete(Timer).where(Timer.tenant_id == tenant_id))
            await db.rollback()
            return out

    with staff_socket(server.base_url, a), staff_socket(server.base_url, b):
        got = on_server(server, scenario())
    assert got[convs[0]] == ua["id"]
    assert got[convs[45]] == ub["id"]
    assert sum(1 for v in got.values() if v is not None) == 2


@pytest.mark.skipif(bool(PG_URL), reason="SQLite's inline connection")
def test_a_drain_on_sqlite_runs_on_the_batchers_inline_connection(
    api: Api, server: LiveServer
) -> None:
    # A pass's ~25 short statements run on the event loop's thread, not handed to a
    # connection thread and back one by one (run_unit(inline=True)).
    t = api.provision()
    _, agent = api.add_user(t, max_concurrent=1)
    widget = new_widget(t)
    inline = batcher_of(server.app).inline
    assert inline is not None
    segments: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("INSERT INTO conversation_segments"):
            segments.append(statement)

    with staff_socket(server.base_url, agent):
        first = Visitor(api, widget).send("one")["conversation_id"]
        eventually(lambda: ongoing_ids(agent) == [first])
        second = Visitor(api, widget).send("two")["conversation_id"]
        assert [i["id"] for i in t.admin.ok("GET", "/waiting")["items"]] == [second]
        event.listen(inline.engine.sync_engine, "before_cursor_execute", seen)
        try:
            agent.ok("POST", f"/conversations/{first}/end")
            eventually(lambda: ongoing_ids(agent) == [second])
        finally:
            event.remove(inline.engine.sync_engine, "before_cursor_execute", seen)
    assert len(segments) == 1, segments
