"""Fault injection (issue 7): two `kefu serve` nodes on PostgreSQL + Redis, under chat load.

- SIGKILL one node under sustained chat: no acknowledged message lost, the other node's clients
  never notice, the killed node's clients reconnect to the survivor and resume from their last
  seq with no gap and no duplicate;
- restart Redis, then PostgreSQL, under load: the nodes recover by themselves and nothing
  acknowledged is lost; every client ends up with the events it missed while Redis was away
  (no gaps); sends while PostgreSQL is away are nacked as retryable (the socket stays open) and
  succeed after;
- a timer that falls due while its node is dead fires exactly once, on the surviving node.

The module starts its own PostgreSQL cluster (it restarts it; the shared test server is used
by other tests), its own Redis and two nodes, once. Runs in the PostgreSQL run of the suite
only (KEFU_TEST_DATABASE_URL set) and needs redis-server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kefu.core.config import Settings
from kefu.core.migrate import upgrade_to_head
from tests.chat_helpers import Visitor, new_widget
from tests.cluster_helpers import FAST_NODES, NodeProcess, RedisServer, needs_cluster, node_settings
from tests.fault_helpers import RETRYABLE_NACKS, Peer, PgCluster, check_stream, pg_bin, sql
from tests.helpers import PLATFORM_KEY, Api, Client, Tenant
from tests.test_chat_crash import all_messages

pytestmark = [
    needs_cluster,
    pytest.mark.skipif(pg_bin() is None, reason="needs the PostgreSQL binaries (initdb)"),
]

# The staff sockets' Origin, allowed on every node (a client moves between nodes).
ORIGIN = "http://kefu.test"
VISITORS_PER_NODE = 2


class Cluster:
    def __init__(self, root: Path) -> None:
        self.log_root = root  # a failed test's report shows the logs' tails (conftest)
        self.pg = PgCluster()
        self.redis = RedisServer(root / "redis")
        self.redis.start()
        env = {"KEFU_REDIS_URL": self.redis.url, "KEFU_ALLOWED_ORIGINS": ORIGIN, **FAST_NODES}
        settings = Settings(data_dir=root, database_url=self.pg.url, platform_key=PLATFORM_KEY)
        # Migrate once here, so both nodes start side by side (start-up is seconds each).
        upgrade_to_head(settings)
        self.nodes = [NodeProcess(node_settings(settings, f"node{i}"), env) for i in range(2)]
        for n in self.nodes:
            n.spawn()
        for n in self.nodes:
            n.wait_ready()

    @property
    def urls(self) -> list[str]:
        return [n.base_url for n in self.nodes]

    def revive(self) -> None:
        for n in self.nodes:
            if n.proc is None or n.proc.poll() is not None:
                n.start()

    def close(self) -> None:
        for n in self.nodes:
            n.stop()
        self.redis.stop()
        self.pg.destroy()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("faults"))
    try:
        yield c
    finally:
        c.close()


def on(client: Client, url: str) -> Client:
    """The same signed-in staff user talking to another node (sessions live in the database)."""
    other = Client(url)
    other.cookies.set("kefu_session", client.cookies["kefu_session"])
    other.me = client.me
    return other


class Chat:
    """A tenant with one agent socket per node and visitors on both nodes, all chatting."""

    def __init__(self, cluster: Cluster) -> None:
        urls = cluster.urls
        self.apis = [Api(u) for u in urls]
        self.tenant: Tenant = self.apis[0].provision(seats=10)
        self.admin = on(self.tenant.admin, urls[1])
        self.agents: list[Peer] = []
        for i in range(2):
            _, client = self.apis[0].add_user(self.tenant, max_concurrent=10)
            peer = Peer(f"a{i}", urls[i:] + urls[:i], staff=client, origin=ORIGIN)
            peer.connect()  # online (Idle) before any visitor arrives
            self.agents.append(peer)
        widget = new_widget(self.tenant)
        started: list[tuple[Visitor, int]] = []
        for n in range(2 * VISITORS_PER_NODE):
            v = Visitor(self.apis[n % 2], widget)
            started.append((v, v.send(f"hello from v{n}")["conversation_id"]))
        self.conv_agent: dict[int, Peer] = {}
        for peer in self.agents:
            assert peer.staff is not None
            mine = [c["id"] for c in peer.staff.ok("GET", "/conversations")]
            peer.conversations = mine
            for c in mine:
                self.conv_agent[c] = peer
        assert len(self.conv_agent) == len(started), "every visitor assigned"
        assert all(len(p.conversations) >= 2 for p in self.agents), "dispatch balances agents"
        # Dispatch picks agents at random among equals: place the visitors by their agent, so
        # each agent has a visitor on its own node and one on the other (cross-node traffic).
        self.visitors: list[Peer] = []
        seen: dict[str, int] = {}
        for n, (v, conv) in enumerate(started):
            agent = self.conv_agent[conv]
            nth = seen[agent.name] = seen.get(agent.name, -1) + 1
            i = (urls.index(agent.urls[0]) + nth) % 2
            peer = Peer(f"v{n}", urls[i:] + urls[:i], visitor=v, conversations=[conv])
            peer.connect()
            self.visitors.append(peer)

    @property
    def peers(self) -> list[Peer]:
        return self.agents + self.visitors

    def run(self, pause: float = 0.0) -> None:
        for p in self.peers:
            p.start(pause)

    def acks(self) -> int:
        return sum(len(p.acked) for p in self.peers)

    def wait_acks(self, more: int, timeout: float = 30) -> None:
        target = self.acks() + more
        deadline = time.monotonic() + timeout
        while self.acks() < target:
            assert time.monotonic() < deadline, f"only {self.acks()} of {target} acks"
            assert not any(p.errors for p in self.peers), [p.errors for p in self.peers]
            time.sleep(0.05)

    def finish(self) -> None:
        for p in self.peers:
            p.join()
        for p in self.peers:
            p.drain(1.0)
        for p in self.peers:
            p.close()

    def check_stored(self) -> dict[str, list[dict[str, Any]]]:
        """Every acknowledged message stored exactly once, under the id its ack named."""
        errors = {p.name: p.errors for p in self.peers if p.errors}
        assert not errors, errors
        stored: dict[str, list[int]] = {}
        by_conv: dict[str, list[dict[str, Any]]] = {}
        for conv in self.conv_agent:
            msgs = all_messages(self.admin, conv)
            by_conv[str(conv)] = msgs
            for m in msgs:
                if m["client_msg_id"]:
                    stored.setdefault(m["client_msg_id"], []).append(m["id"])
        for p in self.peers:
            lost = [c for c in p.acked if c not in stored]
            assert not lost, f"{p.name}: {len(lost)} acknowledged messages lost: {lost[:5]}"
            wrong = [c for c, (mid, _) in p.acked.items() if stored[c] != [mid]]
            assert not wrong, f"{p.name}: stored twice or under another id: {wrong[:5]}"
        return by_conv

    def check_streams(self, by_conv: dict[str, list[dict[str, Any]]]) -> None:
        """Every client applied its conversations' events without a gap (it ignores a seq it
        already applied, as the protocol says), and got what the other side had sent."""
        for p in self.peers:
            for conv, seqs in p.applied.items():
                fault = check_stream(seqs, complete=True)
                assert fault is None, f"{p.name}, conversation {conv}: {fault}\n" + "\n".join(
                    line for line in p.trace if "event" not in line or f" {conv}:" in line
                )
        # What each side applied covers what the other side had acknowledged.
        for v in self.visitors:
            conv = v.conversations[0]
            agent = self.conv_agent[conv]
            seen = set(agent.applied.get(conv, []))
            by_id = {m["id"]: m["seq"] for m in by_conv[str(conv)]}
            missing = [c for c, (mid, _) in v.acked.items() if by_id[mid] not in seen]
            assert not missing, (
                f"{agent.name} never got {v.name}'s {missing[:5]} (of {len(missing)}); "
                f"{agent.name} applied {sorted(seen)[-5:]}, drops {agent.drops}, "
                f"reconnected to {agent.reconnected_to}, errors {agent.errors[-5:]}\n"
                + "\n".join(agent.trace[-40:])
                + f"\n-- {v.name}:\n"
                + "\n".join(v.trace[-20:])
            )
        # The protocol sends hello first on every (re)connection.
        early = {p.name: p.early_frames[:2] for p in self.peers if p.early_frames}
        assert not early, f"frames before hello: {early}"


VISITOR_TIMEOUT = "auto.visitor_timeout"


class DueTimer:
    """A visitor no-reply countdown started on node 0 (another tenant than the chat's)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        api = Api(cluster.urls[0])
        t = api.provision(seats=5)
        settings = t.admin.ok("GET", "/automations/settings")
        settings.pop("updated_at", None)
        settings["timers"]["visitor_timeout"].update(
            enabled=True, first_timeout=600, count=1, end_delay=3600, text="还在吗？"
        )
        t.admin.ok("PUT", "/automations/settings", json=settings)
        _, agent = api.add_user(t)
        self.agent = Peer("timer-agent", cluster.urls, staff=agent, origin=ORIGIN)
        self.agent.connect()
        visitor = Visitor(api, new_widget(t))
        self.conv = visitor.send("hi")["conversation_id"]
        # The agent's reply on node 0 starts the countdown: a durable timer row.
        agent.ok(
            "POST",
            f"/conversations/{self.conv}/messages",
            json={"client_msg_id": "reply-1", "kind": "text", "body": {"text": "您好"}},
        )
        assert len(self.rows()) == 1
        self.admin = on(t.admin, cluster.urls[1])

    def rows(self) -> list[Any]:
        return sql(
            self.cluster.pg.url,
            "SELECT due_at > now() + interval '30 minutes' FROM timers "
            "WHERE kind = :k AND subject_id = :s",
            k=VISITOR_TIMEOUT,
            s=self.conv,
        )

    def make_due(self) -> None:
        sql(
            self.cluster.pg.url,
            "UPDATE timers SET due_at = now() - interval '1 second' "
            "WHERE kind = :k AND subject_id = :s",
            k=VISITOR_TIMEOUT,
            s=self.conv,
        )

    def prompts(self) -> int:
        return sum(
            1
            for m in all_messages(self.admin, self.conv)
            if m["kind"] == "system" and m["body"].get("code") == "visitor_timeout_prompt"
        )


def test_sigkill_one_node_under_chat_and_its_due_timer(cluster: Cluster) -> None:
    cluster.revive()
    timer = DueTimer(cluster)
    chat = Chat(cluster)
    chat.run()
    try:
        chat.wait_acks(80)
        killed_at = time.monotonic()
        cluster.nodes[0].kill()
        timer.agent.close()
        # The countdown node 0 started falls due while node 0 is dead.
        timer.make_due()
        # Both nodes' clients keep going: the survivor's without a break, the others after
        # reconnecting to it.
        chat.wait_acks(80)
        time.sleep(1.0)
    finally:
        chat.finish()
    survivors = [p for p in chat.peers if p.urls[0] == cluster.urls[1]]
    moved = [p for p in chat.peers if p.urls[0] == cluster.urls[0]]
    for p in survivors:
        assert not p.drops, f"{p.name} on the surviving node lost its socket"
        after = [t for _, t in p.acked.values() if t > killed_at]
        assert len(after) >= 3, f"{p.name} stalled after the kill ({len(after)} acks)"
    for p in moved:
        assert p.drops and p.reconnected_to[-1] == cluster.urls[1], (p.name, p.reconnected_to)
        assert {f["type"] for f in p.resumes} == {"resumed"}, p.resumes
        after = [t for _, t in p.acked.values() if t > killed_at]
        assert len(after) >= 3, f"{p.name} did not resume sending ({len(after)} acks)"
    chat.check_streams(chat.check_stored())
    # Cross-node traffic happened both ways: conversations whose two sides were on two nodes.
    assert any(chat.conv_agent[v.conversations[0]].urls[0] != v.urls[0] for v in chat.visitors)
    # The timer fired on the survivor, once; node 0 coming back does not run it again.
    deadline = time.monotonic() + 15
    while timer.prompts() == 0:
        assert time.monotonic() < deadline, "the due timer never fired on the surviving node"
        time.sleep(0.2)
    cluster.revive()
    time.sleep(2.5)  # a few scheduler rounds on both nodes
    assert timer.prompts() == 1
    assert timer.rows() == [(True,)]  # rescheduled once: the end, an hour after the prompt
    assert timer.admin.ok("GET", f"/conversations/{timer.conv}")["state"] == "ongoing"


def test_redis_and_postgresql_restart_under_load(cluster: Cluster) -> None:
    cluster.revive()
    chat = Chat(cluster)
    chat.run(pause=0.02)
    try:
        chat.wait_acks(40)
        # Redis: gone for a second, then back on the same port.
        cluster.redis.stop()
        time.sleep(1.0)
        cluster.redis.start()
        chat.wait_acks(40)
        # PostgreSQL: stopped for two seconds (connections dropped), then started again.
        cluster.pg.stop("fast")
        stopped_at = time.monotonic()
        time.sleep(2.0)
        cluster.pg.start()
        chat.wait_acks(60, timeout=60)
        recovered = time.monotonic() - stopped_at
        time.sleep(0.5)
    finally:
        chat.finish()
    assert recovered < 30, f"took {recovered:.1f} s to recover"
    chat.check_stored()
    nacks = {code for p in chat.peers for code in p.nacks}
    assert nacks <= RETRYABLE_NACKS, nacks
    # Both nodes serve again without a restart.
    for url in cluster.urls:
        assert httpx.get(url + "/api/v1/health", timeout=5).status_code == 200
    assert all(n.proc is not None and n.proc.poll() is None for n in cluster.nodes)
    # After the Redis restart, a message crosses nodes again within seconds.
    cross = next(
        v for v in chat.visitors if chat.conv_agent[v.conversations[0]].urls[0] != v.urls[0]
    )
    agent = chat.conv_agent[cross.conversations[0]]
    for p in (cross, agent):
        p.stop.clear()
        p.connect()
        p.resume()
    cross.send_one(
        {"type": "send", "client_msg_id": "after-all", "kind": "text", "body": {"text": "still?"}},
        time.monotonic() + 10,
    )
    deadline = time.monotonic() + 10
    while not any(t == "still?" for _, t in agent.received_texts):
        assert time.monotonic() < deadline, "cross-node delivery did not come back"
        agent.drain(0.2)
    for p in (cross, agent):
        p.close()
    # Events missed while Redis was away reach every client (the nodes' resync): no gaps.
    # (Stored messages read again: the check send above is one of them.)
    chat.check_streams(chat.check_stored())
    # While PostgreSQL was away, sends were nacked (retryable), never dropped with their socket.
    dropped = {p.name: len(p.drops) for p in chat.peers if p.drops}
    assert not dropped, f"sockets closed by the server during the outage: {dropped}"
