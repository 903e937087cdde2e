"""Each agent's ongoing load kept by triggers (`agent_loads`, migration 0026).

Dispatch reads it instead of counting conversations; every test's `server` fixture also
checks at teardown that it equals a count (conftest `_load_drift`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from kefu.core.config import Settings
from kefu.core.db import make_engine
from kefu.core.migrate import alembic_config
from tests.chat_helpers import Visitor, new_widget, staff_socket
from tests.conftest import PG_URL, LiveServer, _load_drift
from tests.helpers import Api, Client
from tests.routing_helpers import eventually, ongoing_ids


def _sql(settings: Settings, statement: str, **params: Any) -> list[tuple[Any, ...]]:
    async def run() -> list[tuple[Any, ...]]:
        engine = make_engine(settings)
        async with engine.begin() as conn:
            result = await conn.execute(text(statement), params)
            rows = [tuple(r) for r in result] if result.returns_rows else []
        await engine.dispose()
        return rows

    return asyncio.run(run())


def _loads(settings: Settings) -> dict[int, int]:
    rows = _sql(settings, "SELECT user_id, ongoing FROM agent_loads WHERE ongoing <> 0")
    return {int(u): int(n) for u, n in rows}


def _two_agents_serving(
    api: Api, server: LiveServer, stack: ExitStack, visitors: int
) -> dict[int, Client]:
    """Two online agents (max 5 each) of a new tenant, and `visitors` new conversations
    assigned among them."""
    t = api.provision()
    agents: dict[int, Client] = {}
    for _ in range(2):
        user, client = api.add_user(t, max_concurrent=5)
        stack.enter_context(staff_socket(server.base_url, client))
        agents[user["id"]] = client
    widget = new_widget(t)
    for i in range(visitors):
        Visitor(api, widget).send(f"hello {i}")
    return agents


def _by_agent(agents: dict[int, Client]) -> dict[int, list[int]]:
    return {uid: ongoing_ids(c) for uid, c in agents.items()}


def settled(
    agents: dict[int, Client], done: Callable[[dict[int, list[int]]], bool]
) -> dict[int, list[int]]:
    """Each agent's ongoing conversations, once `done` holds of them."""

    def check() -> dict[int, list[int]] | None:
        serving = _by_agent(agents)
        return serving if done(serving) else None

    found: dict[int, list[int]] = eventually(check)
    return found


def test_loads_follow_assignment_transfer_end_and_user_deletion(
    api: Api, server: LiveServer, settings: Settings
) -> None:
    with ExitStack() as stack:
        agents = _two_agents_serving(api, server, stack, 4)
        serving = settled(agents, lambda s: sum(map(len, s.values())) == 4)
        assert _loads(settings) == {u: len(c) for u, c in serving.items() if c}
        # Transfer one conversation to the other agent, then end one of the other's.
        x, y = sorted(agents)
        source, target = (x, y) if serving[x] else (y, x)
        conv = serving[source][0]
        out = agents[source].ok(
            "POST", f"/conversations/{conv}/transfer", json={"agent_id": target}
        )
        assert out["outcome"] == "transferred"
        agents[target].ok("POST", f"/conversations/{conv}/end")
        now = _by_agent(agents)
        assert sum(map(len, now.values())) == 3
        assert _loads(settings) == {u: len(c) for u, c in now.items() if c}
        targets = {a["id"]: a for a in agents[source].ok("GET", "/transfer-targets")["agents"]}
        assert targets[target]["ongoing"] == len(now[target])
    # Deleting a user sets its conversations' agent to NULL after its load row is gone: the
    # trigger's decrement must not try to create the row again.
    gone = max(agents, key=lambda u: len(now[u]))
    assert now[gone]
    _sql(settings, "DELETE FROM users WHERE id = :u", u=gone)
    assert gone not in _loads(settings)
    assert _load_drift(settings) == []


def test_migration_counts_the_conversations_already_ongoing(
    api: Api, server: LiveServer, settings: Settings
) -> None:
    with ExitStack() as stack:
        agents = _two_agents_serving(api, server, stack, 3)
        serving = settled(agents, lambda s: sum(map(len, s.values())) == 3)
    server.stop()
    expected = {u: len(c) for u, c in serving.items() if c}
    cfg = alembic_config()
    cfg.attributes["settings"] = settings
    command.downgrade(cfg, "0025")
    try:
        assert not _sql(
            settings,
            "SELECT 1 FROM information_schema.tables WHERE table_name = 'agent_loads'"
            if PG_URL
            else "SELECT 1 FROM sqlite_master WHERE name = 'agent_loads'",
        )
    finally:
        command.upgrade(cfg, "heads")
    assert _loads(settings) == expected


@pytest.mark.skipif(not PG_URL, reason="row locks of PostgreSQL's trigger")
def test_opposite_transfers_wait_for_each_other_instead_of_deadlocking(
    api: Api, server: LiveServer, settings: Settings
) -> None:
    """T0 holds agent Y's load row. T2 moves a conversation Y→X, T1 one X→Y. Were each
    transfer to touch its old agent first, T2 would take Y after T0 and wait for X while T1
    holds X and waits for Y: PostgreSQL would abort one. Lower id first, they queue."""
    with ExitStack() as stack:
        agents = _two_agents_serving(api, server, stack, 6)
        serving = settled(agents, lambda s: all(len(c) >= 2 for c in s.values()))
    x, y = sorted(agents)

    async def run() -> None:
        engine = make_engine(settings)
        t0, t1, t2, watch = [await engine.connect() for _ in range(4)]

        async def waiting(n: int) -> None:
            for _ in range(200):
                if await watch.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")) >= n:
                    return
                await asyncio.sleep(0.02)
            raise AssertionError("the transaction did not wait")

        move = "UPDATE conversations SET agent_id = :a WHERE id = :c"
        try:
            for conn in (t0, t1, t2):
                await conn.begin()
            await t0.execute(
                text("UPDATE conversations SET state = 'ended' WHERE id = :c"), {"c": serving[y][0]}
            )
            second = asyncio.create_task(t2.execute(text(move), {"a": x, "c": serving[y][1]}))
            await waiting(1)
            first = asyncio.create_task(t1.execute(text(move), {"a": y, "c": serving[x][0]}))
            await waiting(2)
            await t0.rollback()
            await second
            await t2.commit()
            await first
            await t1.commit()
        except DBAPIError as err:  # a deadlock is what this test is about
            raise AssertionError(f"transfers failed: {err}") from err
        finally:
            for conn in (t0, t1, t2, watch):
                await conn.close()
            await engine.dispose()

    asyncio.run(run())
    assert _load_drift(settings) == []
    assert _loads(settings) == {u: len(c) for u, c in serving.items()}
