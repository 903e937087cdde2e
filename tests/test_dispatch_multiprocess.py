"""Dispatch under real concurrency (issue 4): three `kefu serve` processes on one PostgreSQL.

Agents with small max concurrent stay online on sockets spread over the processes while
threads fire visitor arrivals, ends, status flips and pickup races at all three at once. Two
"racer" agents, always Busy, share a skill group whose conversations therefore only ever wait;
for each of them both racers press Accept at the same moment on different processes.
Afterwards the database and the API must show:

- no conversation with two open participation segments, and every ongoing conversation has
  exactly one, with the conversation's agent (no conversation assigned twice);
- at the start of every auto-dispatched segment the agent held at most max concurrent
  conversations, counting that one (no agent over-filled through a race);
- every pickup race had exactly one winner; the loser got 409 conversation_not_waiting;
- once things are quiet, no Idle agent with spare capacity coexists with a waiting
  conversation (no lost wake-up between processes).

Skipped unless KEFU_TEST_DATABASE_URL points at PostgreSQL.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text

from kefu.core.config import Settings
from kefu.core.db import make_engine
from tests.chat_helpers import Visitor, new_widget, staff_socket
from tests.cluster_helpers import NodeProcess, node_settings
from tests.conftest import PG_URL
from tests.helpers import Api, Client, Tenant
from tests.test_dispatch_state_machine import keep_online

pytestmark = pytest.mark.skipif(
    not PG_URL.startswith("postgresql"), reason="needs KEFU_TEST_DATABASE_URL (PostgreSQL)"
)

PROCESSES = 3
MAXES = [1, 2, 1, 2, 1, 2]  # the ordinary (Ungrouped) agents
ARRIVALS = 90
ARRIVAL_THREADS = 9
RACES = 12
RACE_GROUP = "抢接"


@pytest.fixture
def cluster(settings: Settings) -> Iterator[list[NodeProcess]]:
    procs = []
    try:
        for i in range(PROCESSES):
            node = node_settings(settings, f"node{i}")
            p = NodeProcess(node)
            procs.append(p)
            p.start()
        yield procs
    finally:
        for p in procs:
            p.stop()


def on_node(api: Api, client: Client) -> Client:
    """The same signed-in user talking to another process (sessions live in the database)."""
    c = api.client()
    c.cookies.set("kefu_session", client.cookies["kefu_session"])
    c.me = client.me
    return c


@dataclass
class Staff:
    user: dict[str, Any]
    nodes: list[Client]  # the same session on each process


def sql(settings: Settings, query: str, **params: Any) -> list[Any]:
    async def run() -> list[Any]:
        engine = make_engine(settings)
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(text(query), params)).all())
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_many_processes_never_overfill_or_assign_twice(
    settings: Settings, cluster: list[NodeProcess]
) -> None:
    urls = [p.base_url for p in cluster]
    apis = [Api(u) for u in urls]
    api = apis[0]
    t: Tenant = api.provision(seats=20)
    admins = [t.admin] + [on_node(apis[i], t.admin) for i in range(1, PROCESSES)]

    def staff(nickname: str, max_concurrent: int) -> Staff:
        user, client = api.add_user(t, nickname=nickname, max_concurrent=max_concurrent)
        nodes = [client] + [on_node(apis[i], client) for i in range(1, PROCESSES)]
        return Staff(user, nodes)

    agents = [staff(f"agent{i}", m) for i, m in enumerate(MAXES)]
    racers = [staff(f"racer{i}", 0) for i in range(2)]
    race_group = t.admin.ok("POST", "/skill-groups", json={"name": RACE_GROUP})
    t.admin.ok(
        "PUT",
        f"/skill-groups/{race_group['id']}/members",
        json={"user_ids": [r.user["id"] for r in racers]},
    )
    widget = new_widget(t)
    sockets = []
    for i, s in enumerate(agents + racers):
        node = i % PROCESSES
        ws = staff_socket(urls[node], s.nodes[node])
        threading.Thread(target=keep_online, args=(ws,), daemon=True).start()
        sockets.append(ws)
    for r in racers:
        r.nodes[0].ok("PUT", "/me/status", json={"status": "busy"})

    stop = threading.Event()
    errors: list[str] = []
    opened: list[int] = []
    lock = threading.Lock()

    def arrive(n: int) -> None:
        node = n % PROCESSES
        entry = {"skill_group": RACE_GROUP} if n % 6 == 0 else {}
        v = Visitor(apis[node], widget, entry=entry)
        conv_id = v.send(f"visitor {n}")["conversation_id"]
        with lock:
            opened.append(conv_id)

    def ender(s: Staff, seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            node = s.nodes[rng.randrange(PROCESSES)]
            mine = node.ok("GET", "/conversations")
            if mine and rng.random() < 0.6:
                conv = rng.choice(mine)
                r = s.nodes[rng.randrange(PROCESSES)].post(f"/conversations/{conv['id']}/end")
                if r.status_code != 200:
                    errors.append(f"end {conv['id']}: {r.status_code} {r.text}")
            time.sleep(rng.uniform(0.0, 0.05))

    def flipper(seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            s = rng.choice(agents)
            status = rng.choice(("idle", "idle", "busy"))
            s.nodes[rng.randrange(PROCESSES)].ok("PUT", "/me/status", json={"status": status})
            time.sleep(rng.uniform(0.0, 0.1))

    races: list[tuple[int, list[tuple[int, str | None]]]] = []

    def race_one() -> None:
        """Both racers press Accept on the head of their queue, on two processes at once."""
        queue = racers[0].nodes[0].ok("GET", "/waiting", params={"limit": 1})["items"]
        if not queue:
            return
        conv_id = queue[0]["id"]
        gate = threading.Barrier(2)
        results: list[tuple[int, str | None]] = [(0, None), (0, None)]

        def press(i: int) -> None:
            client = racers[i].nodes[(i + 1) % PROCESSES]
            gate.wait()
            r = client.post(f"/waiting/{conv_id}/pickup")
            code = r.json()["error"]["code"] if r.status_code != 200 else None
            results[i] = (r.status_code, code)

        threads = [threading.Thread(target=press, args=(i,)) for i in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=30)
        races.append((conv_id, results))

    def racer_loop() -> None:
        while not stop.is_set() and len(races) < RACES:
            race_one()
            time.sleep(0.02)

    background = [threading.Thread(target=ender, args=(s, i)) for i, s in enumerate(agents)] + [
        threading.Thread(target=flipper, args=(99,)),
        threading.Thread(target=racer_loop),
    ]
    for th in background:
        th.start()
    try:
        with ThreadPoolExecutor(max_workers=ARRIVAL_THREADS) as pool:
            list(pool.map(arrive, range(ARRIVALS)))
        deadline = time.monotonic() + 20
        while len(races) < RACES and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        for th in background:
            th.join(timeout=30)
    assert not errors, errors[:5]
    assert len(opened) == ARRIVALS

    # Every ordinary agent back to Idle: the queue must drain into whoever has room.
    for s in agents:
        s.nodes[0].ok("PUT", "/me/status", json={"status": "idle"})

    # ---- pickup races: exactly one winner each
    assert len(races) >= RACES // 2, f"only {len(races)} races ran"
    for conv_id, results in races:
        codes = sorted(results, key=lambda r: r[0])
        assert codes == [(200, None), (409, "conversation_not_waiting")], (conv_id, results)
    won = {conv_id for conv_id, _ in races}
    racer_ids = [r.user["id"] for r in racers]
    held = sql(
        settings,
        "SELECT id, agent_id FROM conversations WHERE id = ANY(:ids)",
        ids=list(won),
    )
    assert all(agent in racer_ids for _, agent in held), held

    # ---- no conversation assigned twice
    double = sql(
        settings,
        "SELECT conversation_id, count(*) FROM conversation_segments WHERE ended_at IS NULL "
        "GROUP BY conversation_id HAVING count(*) > 1",
    )
    assert not double, f"conversations with two open segments: {double}"
    mismatched = sql(
        settings,
        """
        SELECT c.id, c.state, c.agent_id, s.agent_id
        FROM conversations c
        LEFT JOIN conversation_segments s ON s.conversation_id = c.id AND s.ended_at IS NULL
        WHERE c.tenant_id = :t AND (
            (c.state = 'ongoing' AND (s.id IS NULL OR s.agent_id IS DISTINCT FROM c.agent_id))
            OR (c.state <> 'ongoing' AND s.id IS NOT NULL)
        )
        """,
        t=t.id,
    )
    assert not mismatched, f"conversation and open segment disagree: {mismatched}"
    overlapping = sql(
        settings,
        """
        SELECT a.conversation_id, a.id, b.id FROM conversation_segments a
        JOIN conversation_segments b ON a.conversation_id = b.conversation_id AND a.id < b.id
        WHERE a.tenant_id = :t
          AND b.started_at < COALESCE(a.ended_at, 'infinity')
          AND a.started_at < COALESCE(b.ended_at, 'infinity')
        """,
        t=t.id,
    )
    assert not overlapping, f"a conversation held by two agents at once: {overlapping[:5]}"

    # ---- auto-dispatch never pushed an agent over max concurrent
    over = sql(
        settings,
        """
        SELECT s.id, s.agent_id, u.max_concurrent, count(o.id) AS held
        FROM conversation_segments s
        JOIN users u ON u.id = s.agent_id
        JOIN conversation_segments o ON o.agent_id = s.agent_id
             AND o.started_at <= s.started_at
             AND (o.ended_at IS NULL OR o.ended_at > s.started_at)
        WHERE s.tenant_id = :t AND s.start_reason = 'assigned'
        GROUP BY s.id, s.agent_id, u.max_concurrent
        HAVING count(o.id) > u.max_concurrent
        """,
        t=t.id,
    )
    assert not over, f"auto-dispatch over max concurrent (segment, agent, max, held): {over}"
    auto = sql(
        settings,
        "SELECT count(*) FROM conversation_segments WHERE tenant_id = :t "
        "AND start_reason = 'assigned'",
        t=t.id,
    )[0][0]
    assert auto >= sum(MAXES), f"only {auto} auto-dispatched segments: the test was too quiet"

    # ---- once quiet, nobody free while conversations of their pool wait (no lost wake-up)
    deadline = time.monotonic() + 10
    while True:
        loads = {s.user["id"]: len(s.nodes[0].ok("GET", "/conversations")) for s in agents}
        waiting = [
            w
            for w in admins[2].ok("GET", "/waiting", params={"limit": 200})["items"]
            if w["skill_group"]["builtin"] == "ungrouped"
        ]
        free = [s.user["id"] for s, m in zip(agents, MAXES, strict=True) if loads[s.user["id"]] < m]
        if not (waiting and free):
            break
        assert time.monotonic() < deadline, (
            f"agents {free} have room while {len(waiting)} conversations wait: {loads}"
        )
        time.sleep(0.1)

    # ---- API view: each ongoing conversation in exactly its agent's list
    holders = {c["id"]: c["agent"]["id"] for c in admins[1].ok("GET", "/current-sessions")}
    listed: dict[int, int] = {}
    for s in agents + racers:
        for c in s.nodes[2].ok("GET", "/conversations"):
            assert c["id"] not in listed, (c["id"], listed[c["id"]], s.user["id"])
            listed[c["id"]] = s.user["id"]
    assert listed == holders
    for ws in sockets:
        ws.close()
