"""Dispatch's "accepted today" counts (§5.5 tie-break), kept per process and read
incrementally (issue 7): after any mix of committed and rolled-back transactions, savepoints,
transfers back to the same agent and a new day, they equal a full count of today's segments.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.conversations import dispatch
from kefu.conversations.accepted_today import accepted_since, accepted_today
from kefu.conversations.models import Conversation, Segment
from kefu.core.clock import Clock, FakeClock, set_clock
from kefu.tenants.models import Tenant
from tests.chat_helpers import Visitor, new_widget
from tests.conftest import LiveServer
from tests.helpers import Api
from tests.routing_helpers import on_server

NOW = datetime(2031, 3, 3, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


@pytest.fixture
def fake_clock() -> Iterator[FakeClock]:
    clock = FakeClock(NOW)
    set_clock(clock)
    yield clock
    set_clock(Clock())


async def _full(db: AsyncSession, tenant_id: int) -> dict[int, int]:
    tenant = await db.get(Tenant, tenant_id)
    assert tenant is not None
    since = dispatch.start_of_today(tenant)
    rows = (await db.execute(accepted_since(tenant.id, since))).all()
    return {agent: n for agent, n in rows if agent is not None and n}


async def _kept(db: AsyncSession, tenant_id: int) -> dict[int, int]:
    tenant = await db.get(Tenant, tenant_id)
    assert tenant is not None
    await dispatch.lock_tenant_dispatch(db, tenant_id)
    counts = await accepted_today(db, tenant, dispatch.start_of_today(tenant))
    return {agent: n for agent, n in counts.items() if n}


def test_kept_counts_equal_a_full_count(
    api: Api, server: LiveServer, fake_clock: FakeClock
) -> None:
    t = api.provision()
    agents = [api.add_user(t)[0]["id"] for _ in range(3)]
    widget = new_widget(t)
    convs = [Visitor(api, widget).send("你好")["conversation_id"] for _ in range(4)]
    rng = random.Random(3)
    maker = server.app.state.sessionmaker

    def segment(conv_id: int, agent_id: int, at: datetime) -> Segment:
        return Segment(
            tenant_id=t.id,
            conversation_id=conv_id,
            agent_id=agent_id,
            start_reason="assigned",
            started_at=at,
        )

    async def step(kind: str) -> None:
        now = fake_clock.now()
        async with maker() as db:
            await _kept(db, t.id)  # the transaction's copy, then its own segments
            # Few conversations and agents: the same pair comes back (a transfer back counts once).
            for _ in range(rng.randint(1, 3)):
                at = now - timedelta(days=1) if rng.random() < 0.2 else now
                db.add(segment(rng.choice(convs), rng.choice(agents), at))
            if kind == "savepoint":
                async with db.begin_nested() as nested:
                    db.add(segment(rng.choice(convs), rng.choice(agents), now))
                    await db.flush()
                    await nested.rollback()
            await db.flush()
            # Within the transaction, its own segments count.
            assert await _kept(db, t.id) == await _full(db, t.id)
            if kind == "rollback":
                await db.rollback()
            else:
                await db.commit()

    async def check() -> None:
        async with maker() as db:
            assert await _kept(db, t.id) == await _full(db, t.id)

    async def run() -> None:
        for i in range(40):
            await step(rng.choice(["commit", "commit", "rollback", "savepoint"]))
            await check()
            if i == 25:
                fake_clock.advance(days=1)  # a new day starts from nothing
                await check()

    on_server(server, run())


def test_reassigned_conversations_count_once_per_agent(
    api: Api, server: LiveServer, fake_clock: FakeClock
) -> None:
    """The same conversation given to the same agent twice today counts once for them."""
    t = api.provision()
    a, b = (api.add_user(t)[0]["id"] for _ in range(2))
    conv_id = Visitor(api, new_widget(t)).send("你好")["conversation_id"]
    maker = server.app.state.sessionmaker

    async def run() -> dict[int, int]:
        async with maker() as db:
            await _kept(db, t.id)
            await db.commit()
        for agent in (a, b, a):
            async with maker() as db:
                conv = await db.get(Conversation, conv_id)
                assert conv is not None
                await _kept(db, t.id)
                db.add(
                    Segment(
                        tenant_id=t.id,
                        conversation_id=conv_id,
                        agent_id=agent,
                        start_reason="transferred_in",
                        started_at=fake_clock.now(),
                    )
                )
                await db.commit()
        async with maker() as db:
            return await _kept(db, t.id)

    assert on_server(server, run()) == {a: 1, b: 1}
