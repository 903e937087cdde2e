"""Dispatch correctness on SQLite (issue 4): a Hypothesis state machine drives a live server.

Agents (one or two skill groups, or none) stay online on their sockets while the machine makes
visitors arrive, agents pick up, transfer and end conversations, change status and max
concurrent, an admin marks waiting visitors VIP and ends waiting ones, hours-only dispatch is
switched, and the fake clock crosses group G1's working hours. Everything is read back through
the API after every step and checked against the dispatch invariants:

- every ongoing conversation has exactly one agent and is in exactly that agent's list; no
  conversation is both waiting and ongoing, and none we opened goes missing;
- auto-dispatch gives conversations only to Idle agents of the conversation's group whose load
  stays within their max concurrent (manual pickups and transfers may exceed it), never back to
  the agent who transferred it into the queue; nobody holds more than 200;
- a new or group-transferred conversation goes to a free agent with the highest idle ratio (§5.5),
  and waits only when no agent of its group is free or its group is outside working hours;
- no Idle agent with spare capacity coexists with a waiting conversation of its group while
  dispatch is allowed (after the asynchronous drain has had a moment);
- the queue lists each group's conversations by (priority, queued_at), positions 1..n, and
  auto-dispatch takes them in that order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from websockets.sync.client import ClientConnection

from kefu.core.clock import Clock, FakeClock, set_clock
from kefu.workers.scheduler import run_due_timers
from tests.chat_helpers import Visitor, new_widget, staff_socket
from tests.conftest import LiveServer
from tests.helpers import Api, Client, Tenant

ZONE = ZoneInfo("Asia/Shanghai")  # the tenant's default time zone
OPENS, CLOSES = 9, 18  # G1's working hours, every day
# A Monday, 10:00 in Shanghai: G1 starts inside its working hours.
START = datetime(2031, 3, 3, 10, 0, tzinfo=ZONE).astimezone(UTC)
SETTLE_SECONDS = 3.0
HEARTBEAT_EVERY = 10.0  # seconds; the server closes a socket silent for two 25 s periods
HARD_CAP = 200
# Bounded so the run stays within a few minutes; raise locally to search harder.
EXAMPLES = int(os.environ.get("KEFU_DISPATCH_EXAMPLES", "15"))
STEPS = int(os.environ.get("KEFU_DISPATCH_STEPS", "25"))
T = TypeVar("T")
GROUPS = ("G1", "G2")
UNGROUPED = "U"


def draw_index(data: st.DataObject, label: str) -> int:
    """Choose among server-observed items with a draw whose shape never depends on them.

    What the server holds after a step varies between runs (dispatch ties are random, the
    drain is asynchronous), and Hypothesis refuses a replay whose draws change shape
    (FlakyStrategyDefinition), so no draw may be sized or skipped by observed state.
    """
    return data.draw(st.integers(0, 2**16 - 1), label=label)


def pick(items: list[T], index: int) -> T:
    return items[index % len(items)]


def g1_working(now: datetime) -> bool:
    return OPENS <= now.astimezone(ZONE).hour < CLOSES


def next_g1_change(now: datetime, extra_minutes: int) -> datetime:
    """The next instant G1 opens (if closed) or closes (if open), plus some minutes."""
    local = now.astimezone(ZONE)
    if g1_working(now):
        edge = local.replace(hour=CLOSES, minute=0, second=0, microsecond=0)
    else:
        edge = local.replace(hour=OPENS, minute=0, second=0, microsecond=0)
        if edge <= local:
            edge += timedelta(days=1)
    # Stay on the same side of the next edge: at most a few hours past this one.
    return (edge + timedelta(minutes=extra_minutes)).astimezone(UTC)


def keep_online(ws: ClientConnection) -> None:
    """Read and drop every frame (the server never waits on a full socket) and send the
    heartbeat the server expects, so the agent stays online however long the test runs."""
    last_ping = 0.0
    try:
        while True:
            if time.monotonic() - last_ping > HEARTBEAT_EVERY:
                ws.send(json.dumps({"type": "ping", "t": 0}))
                last_ping = time.monotonic()
            with contextlib.suppress(TimeoutError):
                ws.recv(timeout=1)
    except Exception:  # the socket closing is the normal end
        return


@dataclass
class Agent:
    user: dict[str, Any]
    client: Client
    groups: set[str]
    max: int
    status: str = "idle"
    ws: ClientConnection | None = None

    @property
    def id(self) -> int:
        return int(self.user["id"])


@dataclass(frozen=True)
class Waiting:
    id: int
    group: str
    rank: int
    queued_at: str
    position: int
    visitor_id: int

    @property
    def key(self) -> tuple[int, datetime, int]:
        return (self.rank, datetime.fromisoformat(self.queued_at), self.id)


@dataclass
class Observed:
    waiting: dict[int, Waiting] = field(default_factory=dict)
    holder: dict[int, int] = field(default_factory=dict)  # ongoing conversation -> agent
    load: dict[int, int] = field(default_factory=dict)  # agent -> ongoing count

    def free(self, agent: Agent, load: dict[int, int] | None = None) -> bool:
        """Idle with room for one more by auto-dispatch (§2.2, §5.5 step 1)."""
        held = (self.load if load is None else load).get(agent.id, 0)
        return agent.status == "idle" and agent.max > 0 and held < min(agent.max, HARD_CAP)

    def ratio(self, agent: Agent, load: dict[int, int] | None = None) -> float:
        return (agent.max - (self.load if load is None else load).get(agent.id, 0)) / agent.max


@dataclass
class World:
    """One tenant shared by all examples (creating users is slow); each example resets it."""

    tenant: Tenant
    users: list[tuple[dict[str, Any], Client]]
    group_ids: dict[str, int]
    widget: dict[str, Any]
    sockets: list[ClientConnection]

    @property
    def group_key(self) -> dict[int, str]:
        return {v: k for k, v in self.group_ids.items()}


def build_world(api: Api, server: LiveServer, agents: int = 4) -> World:
    t = api.provision(seats=10)
    plan = t.admin.ok(
        "POST",
        "/time-plans",
        json={
            "name": "白班",
            "weekly": {d: [[f"{OPENS:02d}:00", f"{CLOSES:02d}:00"]] for d in "1234567"},
        },
    )
    g1 = t.admin.ok("POST", "/skill-groups", json={"name": "G1", "time_plan_id": plan["id"]})
    g2 = t.admin.ok("POST", "/skill-groups", json={"name": "G2"})
    ungrouped = next(g for g in t.admin.ok("GET", "/skill-groups") if g["builtin"] == "ungrouped")
    users = [api.add_user(t, nickname=f"agent{i}") for i in range(agents)]
    sockets = []
    for _user, client in users:
        ws = staff_socket(server.base_url, client)
        threading.Thread(target=keep_online, args=(ws,), daemon=True).start()
        sockets.append(ws)
    return World(
        tenant=t,
        users=users,
        group_ids={"G1": g1["id"], "G2": g2["id"], UNGROUPED: ungrouped["id"]},
        widget=new_widget(t),
        sockets=sockets,
    )


class DispatchMachine(RuleBasedStateMachine):
    """Each example starts the shared tenant afresh: no open conversations, new settings."""

    live: LiveServer
    api: Api
    world: World

    def __init__(self) -> None:
        super().__init__()
        self.t: Tenant | None = None
        # Every example starts at START (the sessions' sliding expiry allows going back), so
        # the clock never drifts far over many examples and replays see the same hours.
        self.clock = FakeClock(START)
        set_clock(self.clock)
        self.agents: list[Agent] = []
        self.group_ids = self.world.group_ids
        self.group_key = self.world.group_key
        self.widget = self.world.widget
        self.hours_only = True
        self.obs: Observed | None = None
        self.opened: set[int] = set()  # every conversation opened in this example
        self.ended: set[int] = set()
        self.group_of: dict[int, str] = {}
        # A conversation an agent transferred into a group's queue is never dispatched back to
        # that agent while it waits (conversations.transferred_from_id).
        self.transferred_from: dict[int, int] = {}
        # What the current step did by hand, and what it expects of dispatch.
        self.manual: dict[int, int] = {}
        self.expect_choice: dict[int, set[int] | None] = {}

    # ------------------------------------------------------------------ set-up

    @initialize(
        memberships=st.lists(st.sets(st.sampled_from(GROUPS)), min_size=4, max_size=4),
        maxes=st.lists(st.sampled_from((1, 2, 0, 3)), min_size=4, max_size=4),
    )
    def setup(self, memberships: list[set[str]], maxes: list[int]) -> None:
        t = self.world.tenant
        admin = t.admin
        # Nobody takes anything while the previous example's conversations are closed.
        for _user, client in self.world.users:
            client.ok("PUT", "/me/status", json={"status": "busy"})
        for _ in range(10):
            waiting = admin.ok("GET", "/waiting", params={"limit": 200})["items"]
            current = admin.ok("GET", "/current-sessions")
            if not waiting and not current:
                break
            for w in waiting:
                admin.ok("POST", f"/waiting/{w['id']}/end")
            for c in current:
                admin.ok("POST", f"/current-sessions/{c['id']}/end")
        else:
            raise AssertionError("could not close the previous example's conversations")
        admin.ok("PATCH", "/tenant/switches", json={"dispatch_only_in_hours": True})
        ids = {u["id"] for u, _ in self.world.users}
        offline = [
            p
            for p in admin.ok("GET", "/presence")
            if p["user_id"] in ids and p["status"] == "offline"
        ]
        assert not offline, f"agents went offline between examples: {offline}"
        for key in GROUPS:
            members = [
                u["id"] for (u, _), g in zip(self.world.users, memberships, strict=True) if key in g
            ]
            admin.ok(
                "PUT", f"/skill-groups/{self.group_ids[key]}/members", json={"user_ids": members}
            )
        for (user, client), groups, top in zip(self.world.users, memberships, maxes, strict=True):
            admin.ok("PATCH", f"/users/{user['id']}", json={"max_concurrent": top})
            self.agents.append(Agent(user=user, client=client, groups=set(groups), max=top))
        for a in self.agents:
            a.client.ok("PUT", "/me/status", json={"status": "idle"})
        self.t = t

    # ------------------------------------------------------------------ model helpers

    @property
    def admin(self) -> Client:
        assert self.t is not None
        return self.t.admin

    def pool(self, group: str) -> list[Agent]:
        if group == UNGROUPED:
            return [a for a in self.agents if not a.groups]
        return [a for a in self.agents if group in a.groups]

    def allowed(self, group: str) -> bool:
        """Whether auto-dispatch may run for the group now (hours-only dispatch, §5.4)."""
        return not (self.hours_only and group == "G1" and not g1_working(self.clock.now()))

    def best_free(
        self, group: str, exclude: int | None = None, load: dict[int, int] | None = None
    ) -> set[int] | None:
        """The agents §5.5 may choose (highest idle ratio), or None if it must wait."""
        obs = self.obs
        assert obs is not None
        if not self.allowed(group):
            return None
        free = [a for a in self.pool(group) if a.id != exclude and obs.free(a, load)]
        if not free:
            return None
        best = max(obs.ratio(a, load) for a in free)
        return {a.id for a in free if obs.ratio(a, load) == best}

    def agent(self, agent_id: int) -> Agent:
        return next(a for a in self.agents if a.id == agent_id)

    def begin_step(self) -> None:
        self.clock.advance(seconds=1)  # distinct queued_at values
        self.manual = {}
        self.expect_choice = {}

    def mine(self, a: Agent) -> list[int]:
        assert self.obs is not None
        return sorted(c for c, holder in self.obs.holder.items() if holder == a.id)

    def queue_of(self, a: Agent) -> list[int]:
        """The waiting conversations an ordinary agent may pick up (§3.3)."""
        assert self.obs is not None
        keys = a.groups or {UNGROUPED}
        return sorted(c for c, w in self.obs.waiting.items() if w.group in keys)

    # ------------------------------------------------------------------ rules

    @rule(groups=st.lists(st.sampled_from((*GROUPS, UNGROUPED)), min_size=1, max_size=4))
    def visitors_arrive(self, groups: list[str]) -> None:
        """A burst of visitors, one after another; each is dispatched or queued at once."""
        self.begin_step()
        assert self.obs is not None
        load = dict(self.obs.load)  # as dispatch should see it before each arrival
        for group in groups:
            entry = {"skill_group": group} if group != UNGROUPED else {}
            visitor = Visitor(self.api, self.widget, entry=entry)
            expected = self.best_free(group, load=load)
            conv_id = int(visitor.send("你好")["conversation_id"])
            self.opened.add(conv_id)
            self.group_of[conv_id] = group
            self.expect_choice[conv_id] = expected
            conv = self.admin.ok("GET", f"/current-sessions/{conv_id}")
            if expected is None:
                assert conv["state"] == "waiting", (conv_id, conv["agent"], "should wait")
            else:
                assert conv["state"] == "ongoing" and conv["agent"]["id"] in expected, (
                    conv_id,
                    conv["agent"],
                    f"§5.5 allows {expected}",
                )
                load[conv["agent"]["id"]] = load.get(conv["agent"]["id"], 0) + 1

    @rule(groups=st.lists(st.sampled_from((*GROUPS, UNGROUPED)), min_size=1, max_size=4))
    def more_visitors_arrive(self, groups: list[str]) -> None:
        """The same again, so arrivals are about as frequent as all ways of leaving."""
        self.visitors_arrive(groups)

    @rule(data=st.data())
    def agent_picks_up(self, data: st.DataObject) -> None:
        self.begin_step()
        which, what = draw_index(data, "agent"), draw_index(data, "conversation")
        pickers = [a for a in self.agents if self.queue_of(a)]
        if not pickers:
            return
        a = pick(pickers, which)
        conv_id = pick(self.queue_of(a), what)
        out = a.client.ok("POST", f"/waiting/{conv_id}/pickup")
        assert out["state"] == "ongoing" and out["agent"]["id"] == a.id, out
        self.manual[conv_id] = a.id
        self.transferred_from.pop(conv_id, None)  # taking it back by hand is fine

    @rule(data=st.data())
    def agent_transfers_to_agent(self, data: st.DataObject) -> None:
        self.begin_step()
        assert self.obs is not None
        what, which = draw_index(data, "conversation"), draw_index(data, "target")
        if not self.obs.holder:
            return
        conv_id = pick(sorted(self.obs.holder), what)
        source = self.agent(self.obs.holder[conv_id])
        target = pick([a for a in self.agents if a.id != source.id], which)
        out = source.client.ok(
            "POST", f"/conversations/{conv_id}/transfer", json={"agent_id": target.id}
        )
        assert out["outcome"] == "transferred", out
        assert out["conversation"]["agent"]["id"] == target.id, out
        self.manual[conv_id] = target.id

    @rule(data=st.data(), group=st.sampled_from((*GROUPS, UNGROUPED)))
    def agent_transfers_to_group(self, data: st.DataObject, group: str) -> None:
        self.begin_step()
        assert self.obs is not None
        what = draw_index(data, "conversation")
        if not self.obs.holder:
            return
        conv_id = pick(sorted(self.obs.holder), what)
        source = self.agent(self.obs.holder[conv_id])
        r = source.client.post(
            f"/conversations/{conv_id}/transfer", json={"skill_group_id": self.group_ids[group]}
        )
        if group != UNGROUPED and not self.pool(group):
            assert r.status_code == 409, r.text
            assert r.json()["error"]["code"] == "skill_group_empty"
            return
        assert r.status_code == 200, r.text
        expected = self.best_free(group, exclude=source.id)
        out = r.json()
        self.group_of[conv_id] = group
        if expected is None:
            assert out["outcome"] == "queued", (out, expected)
            self.transferred_from[conv_id] = source.id
        else:
            assert out["outcome"] == "transferred", (out, expected)
            assert out["conversation"]["agent"]["id"] in expected, (out, expected)
            self.expect_choice[conv_id] = expected

    @rule(data=st.data())
    def agent_ends(self, data: st.DataObject) -> None:
        self.begin_step()
        assert self.obs is not None
        what = draw_index(data, "conversation")
        if not self.obs.holder:
            return
        conv_id = pick(sorted(self.obs.holder), what)
        holder = self.agent(self.obs.holder[conv_id])
        out = holder.client.ok("POST", f"/conversations/{conv_id}/end")
        assert out["state"] == "ended", out
        self.ended.add(conv_id)

    @rule(data=st.data())
    def admin_ends_waiting(self, data: st.DataObject) -> None:
        self.begin_step()
        assert self.obs is not None
        what = draw_index(data, "conversation")
        if not self.obs.waiting:
            return
        conv_id = pick(sorted(self.obs.waiting), what)
        out = self.admin.ok("POST", f"/waiting/{conv_id}/end")
        assert out["state"] == "ended", out
        self.ended.add(conv_id)

    @rule(data=st.data())
    def admin_marks_vip(self, data: st.DataObject) -> None:
        self.begin_step()
        assert self.obs is not None
        what = draw_index(data, "conversation")
        if not self.obs.waiting:
            return
        conv_id = pick(sorted(self.obs.waiting), what)
        visitor_id = self.obs.waiting[conv_id].visitor_id
        self.admin.ok("PATCH", f"/visitors/{visitor_id}", json={"vip": True})

    @precondition(lambda self: self.agents)
    @rule(data=st.data(), status=st.sampled_from(("idle", "busy", "away")))
    def status_changes(self, data: st.DataObject, status: str) -> None:
        self.begin_step()
        a = pick(self.agents, draw_index(data, "agent"))
        out = a.client.ok("PUT", "/me/status", json={"status": status})
        assert out["status"] == status, out
        a.status = status

    @precondition(lambda self: self.agents)
    @rule(data=st.data(), value=st.integers(0, 3))
    def max_changes(self, data: st.DataObject, value: int) -> None:
        self.begin_step()
        a = pick(self.agents, draw_index(data, "agent"))
        self.admin.ok("PATCH", f"/users/{a.id}", json={"max_concurrent": value})
        a.max = value

    @precondition(lambda self: self.t is not None)
    @rule(extra_minutes=st.integers(0, 90))
    def clock_crosses_g1_hours(self, extra_minutes: int) -> None:
        self.begin_step()
        now = self.clock.now()
        target = next_g1_change(now, extra_minutes)
        self.clock.advance(seconds=(target - now).total_seconds())
        assert g1_working(self.clock.now()) != g1_working(now)
        # The scheduler polls every second; run the due timers now, as it would.
        app = self.live.app
        future = asyncio.run_coroutine_threadsafe(
            run_due_timers(app.state.sessionmaker, app.state.bus), app.state.loop
        )
        future.result(timeout=10)

    @precondition(lambda self: self.t is not None)
    @rule(on=st.booleans())
    def hours_only_switch(self, on: bool) -> None:
        self.begin_step()
        self.admin.ok("PATCH", "/tenant/switches", json={"dispatch_only_in_hours": on})
        self.hours_only = on

    # ------------------------------------------------------------------ observation

    def observe(self) -> Observed:
        page = self.admin.ok("GET", "/waiting", params={"limit": 200})
        assert page["total"] == len(page["items"]) <= 200, page["total"]
        obs = Observed()
        order: list[Waiting] = []
        for item in page["items"]:
            w = Waiting(
                id=item["id"],
                group=self.group_key[item["skill_group"]["id"]],
                rank=item["priority_rank"],
                queued_at=item["queued_at"],
                position=item["position"],
                visitor_id=item["visitor"]["id"],
            )
            assert w.id not in obs.waiting, f"conversation {w.id} listed twice as waiting"
            obs.waiting[w.id] = w
            order.append(w)
        self.check_queue_order(order)
        current = self.admin.ok("GET", "/current-sessions")
        agent_ids = {a.id for a in self.agents}
        for conv in current:
            assert conv["state"] == "ongoing", conv
            assert conv["agent"] is not None, f"ongoing conversation {conv['id']} has no agent"
            assert conv["agent"]["id"] in agent_ids, conv
            assert conv["id"] not in obs.holder, f"conversation {conv['id']} listed twice"
            obs.holder[conv["id"]] = conv["agent"]["id"]
        listed: dict[int, int] = {}
        for a in self.agents:
            mine = a.client.ok("GET", "/conversations")
            obs.load[a.id] = len(mine)
            for conv in mine:
                assert conv["id"] not in listed, (
                    f"conversation {conv['id']} is in the lists of agents "
                    f"{listed[conv['id']]} and {a.id}"
                )
                listed[conv["id"]] = a.id
        assert self.admin.ok("GET", "/conversations") == [], "the offline admin got one"
        assert listed == obs.holder, (listed, obs.holder)
        both = set(obs.waiting) & set(obs.holder)
        assert not both, f"conversations both waiting and ongoing: {both}"
        return obs

    def check_queue_order(self, order: list[Waiting]) -> None:
        keys = [w.key for w in order]
        assert keys == sorted(keys), "the waiting list is not in (priority, queued_at) order"
        by_group: dict[str, list[Waiting]] = {}
        for w in order:
            by_group.setdefault(w.group, []).append(w)
        for group, items in by_group.items():
            assert [w.position for w in items] == list(range(1, len(items) + 1)), (
                group,
                [(w.id, w.rank, w.position) for w in items],
            )

    def stalled(self, obs: Observed) -> list[tuple[int, int]]:
        """(agent, conversation) pairs auto-dispatch should already have matched."""
        return [
            (a.id, w.id)
            for w in obs.waiting.values()
            if self.allowed(w.group)
            for a in self.pool(w.group)
            if obs.free(a) and self.transferred_from.get(w.id) != a.id
        ]

    def settled(self) -> Observed:
        """Observe until the drain after the step's commit has run (at most a few seconds)."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            obs = self.observe()
            stuck = self.stalled(obs)
            if not stuck:
                return obs
            if time.monotonic() > deadline:
                agents = {a.id: (a.status, a.max, sorted(a.groups)) for a in self.agents}
                queue = {w.id: w.group for w in obs.waiting.values()}
                raise AssertionError(
                    f"free Idle agents and waiting conversations of their group coexist "
                    f"(agent, conversation): {stuck}; waiting {queue}; agents (status, max, "
                    f"groups) {agents}; loads {obs.load}; clock "
                    f"{self.clock.now().astimezone(ZONE)}; hours-only {self.hours_only}"
                )
            time.sleep(0.05)

    # ------------------------------------------------------------------ invariants

    @invariant()
    def dispatch_invariants(self) -> None:
        if self.t is None:
            return
        before = self.obs
        obs = self.settled()
        for conv_id in self.opened:
            where = conv_id in obs.waiting or conv_id in obs.holder
            if conv_id in self.ended:
                assert not where, f"ended conversation {conv_id} is still open"
            else:
                assert where, f"conversation {conv_id} is neither waiting nor ongoing"
        assert all(n <= HARD_CAP for n in obs.load.values()), obs.load
        for conv_id, agent_id in self.manual.items():
            assert obs.holder.get(conv_id) == agent_id, (conv_id, agent_id, obs.holder)
        for conv_id, expected in self.expect_choice.items():
            got = obs.holder.get(conv_id)
            if expected is None:
                assert conv_id in obs.waiting, (
                    f"conversation {conv_id} should wait (no free agent or closed group) but "
                    f"went to {got}"
                )
            else:
                assert got in expected, (
                    f"conversation {conv_id} went to {got}; §5.5 allows {expected}"
                )
        for conv_id, source in self.transferred_from.items():
            assert obs.holder.get(conv_id) != source, (
                f"conversation {conv_id} went straight back to {source}, who transferred it"
            )
        if before is not None:
            self.check_auto_dispatch(before, obs)
        self.transferred_from = {c: a for c, a in self.transferred_from.items() if c in obs.waiting}
        self.obs = obs

    def check_auto_dispatch(self, before: Observed, after: Observed) -> None:
        """What dispatch did by itself in this step: Idle, in group, within max, in order."""
        auto = {
            c: agent
            for c, agent in after.holder.items()
            if before.holder.get(c) != agent and self.manual.get(c) != agent
        }
        for conv_id, agent_id in auto.items():
            a = self.agent(agent_id)
            group = self.group_of.get(conv_id)
            if conv_id in before.waiting:
                group = before.waiting[conv_id].group
            assert group is not None
            assert a in self.pool(group), (conv_id, group, agent_id)
            assert self.allowed(group), f"conversation {conv_id} dispatched while {group} closed"
            assert a.status == "idle", f"agent {agent_id} ({a.status}) got {conv_id} by dispatch"
            assert self.transferred_from.get(conv_id) != agent_id, (
                f"conversation {conv_id} went straight back to {agent_id}, who transferred it"
            )
            assert after.load[agent_id] <= a.max, (
                f"dispatch pushed agent {agent_id} to {after.load[agent_id]} of max {a.max}"
            )
        # Queue order: nothing the agent could have taken instead, still waiting in the same
        # group, was ahead of what dispatch gave them from the queue.
        for x, agent_id in auto.items():
            if x not in before.waiting:
                continue
            wx = before.waiting[x]
            for y in after.waiting:
                wy = before.waiting.get(y)
                if wy is None or wy.group != wx.group or self.transferred_from.get(y) == agent_id:
                    continue
                assert wx.key < wy.key, (
                    f"{x} {wx.key} went to {agent_id} before {y} {wy.key} of group {wx.group}"
                )


@pytest.fixture
def fake_clock() -> Iterator[FakeClock]:
    clock = FakeClock(START)
    set_clock(clock)
    yield clock
    set_clock(Clock())


def test_dispatch_state_machine(fake_clock: FakeClock, api: Api, server: LiveServer) -> None:
    world = build_world(api, server)
    DispatchMachine.live = server
    DispatchMachine.api = api
    DispatchMachine.world = world
    try:
        run_state_machine_as_test(
            DispatchMachine,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        for ws in world.sockets:
            ws.close()


def test_transfer_to_group_does_not_bounce_back(
    fake_clock: FakeClock, api: Api, server: LiveServer
) -> None:
    """An agent transfers to their own group while no colleague is free: it waits for one.

    Not straight back to the agent who just gave it away, neither when it is placed nor by the
    drain that follows their freed capacity; a colleague who becomes free gets it.
    """
    t = api.provision()
    ann, ann_client = api.add_user(t, nickname="ann", max_concurrent=1)
    bob, bob_client = api.add_user(t, nickname="bob", max_concurrent=1)
    g = t.admin.ok("POST", "/skill-groups", json={"name": "售后"})
    t.admin.ok("PUT", f"/skill-groups/{g['id']}/members", json={"user_ids": [ann["id"], bob["id"]]})
    sockets = [staff_socket(server.base_url, c) for c in (ann_client, bob_client)]
    for ws in sockets:
        threading.Thread(target=keep_online, args=(ws,), daemon=True).start()
    try:
        bob_client.ok("PUT", "/me/status", json={"status": "busy"})
        conv_id = Visitor(api, new_widget(t), entry={"skill_group": "售后"}).send("hi")[
            "conversation_id"
        ]
        assert [c["id"] for c in ann_client.ok("GET", "/conversations")] == [conv_id]
        out = ann_client.ok(
            "POST", f"/conversations/{conv_id}/transfer", json={"skill_group_id": g["id"]}
        )
        assert out["outcome"] == "queued", out
        time.sleep(1.0)  # the drain after commit runs in the background
        assert ann_client.ok("GET", "/conversations") == [], "it came straight back to ann"
        bob_client.ok("PUT", "/me/status", json={"status": "idle"})
        deadline = time.monotonic() + SETTLE_SECONDS
        while not bob_client.ok("GET", "/conversations"):
            assert time.monotonic() < deadline, "bob never got the transferred conversation"
            time.sleep(0.05)
    finally:
        for ws in sockets:
            ws.close()
