"""A request or socket handshake that hangs is logged, while it hangs, with the line it waits at
(kefu.observability.slow): here one waits for a lock another transaction holds."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import select

from kefu.core.config import Settings
from kefu.observability.metrics import SLOW_REQUESTS
from kefu.presence.models import Presence
from kefu.visitors.models import Visitor as VisitorRow
from tests.chat_helpers import Visitor, new_widget, staff_socket
from tests.conftest import LiveServer
from tests.helpers import Api

THRESHOLD = 0.5


@pytest.fixture
def slow_server(settings: Settings) -> Iterator[LiveServer]:
    live = LiveServer(settings.model_copy(update={"slow_request_seconds": THRESHOLD}))
    live.start()
    yield live
    live.stop()


@contextmanager
def holding(server: LiveServer, stmt: Any) -> Iterator[None]:
    """Keep a writer's lock until the block ends: SQLite's write gate (one writer per process),
    or on PostgreSQL the rows `stmt` selects FOR UPDATE."""
    app, loop = server.app, server.app.state.loop
    held, release = threading.Event(), asyncio.Event()

    async def hold() -> None:
        if app.state.settings.is_sqlite:
            async with app.state.write_gate.hold():
                held.set()
                await release.wait()
            return
        async with app.state.sessionmaker() as db:
            await db.execute(stmt.with_for_update())
            held.set()
            await release.wait()
            await db.rollback()

    done = asyncio.run_coroutine_threadsafe(hold(), loop)
    assert held.wait(10)
    try:
        yield
    finally:
        loop.call_soon_threadsafe(release.set)
        done.result(timeout=10)


def reports(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "kefu.slow"]


def wait_for_report(caplog: pytest.LogCaptureFixture, what: str) -> str:
    for _ in range(200):
        found = [m for m in reports(caplog) if m.startswith(what)]
        if found:
            return found[0]
        threading.Event().wait(0.05)
    raise AssertionError(f"no report of {what!r}: {reports(caplog)}")


def test_a_hung_request_is_logged_with_the_line_it_waits_at(
    slow_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="kefu.slow")
    api = Api(slow_server.base_url)
    t = api.provision()
    visitor = Visitor(api, new_widget(t))
    api.anon.ok("GET", "/health")
    before = SLOW_REQUESTS._value.get()
    with (
        concurrent.futures.ThreadPoolExecutor(1) as pool,  # left last: after the lock goes
        holding(slow_server, select(VisitorRow.id).where(VisitorRow.id == visitor.id)),
    ):
        sending = pool.submit(visitor.send, "hello")
        report = wait_for_report(caplog, "POST /api/v1/visitor/messages still running after")
        assert not sending.done()  # reported while it still waits
    assert sending.result(timeout=20)["body"] == {"text": "hello"}  # and it ends well
    lines = report.splitlines()
    assert lines[1] == "it waits at:" or "it waits at:" in lines[0], report
    chain = "\n".join(lines[1:])
    # From the request's handler down to the lock: the unit of work, then the lock's waiter.
    assert "kefu/api/deps.py" in chain, chain
    assert lines[-1].strip().startswith("awaiting "), chain
    if not slow_server.settings.is_sqlite:
        assert "in _lock_visitor" in chain, chain  # the row lock, named by its line
    assert SLOW_REQUESTS._value.get() == before + 1
    assert not [m for m in reports(caplog) if m.startswith("GET")]  # fast ones never are


def test_a_hung_socket_handshake_is_logged_and_then_completes(
    slow_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="kefu.slow")
    api = Api(slow_server.base_url)
    t = api.provision()
    staff_socket(slow_server.base_url, t.admin).close()  # the presence row exists now
    with (
        concurrent.futures.ThreadPoolExecutor(1) as pool,
        holding(slow_server, select(Presence.user_id).where(Presence.user_id == t.admin.me["id"])),
    ):
        opening = pool.submit(staff_socket, slow_server.base_url, t.admin)
        report = wait_for_report(caplog, "socket handshake /api/v1/ws still running after")
        assert not opening.done()
    opening.result(timeout=20).close()  # the hello came once the lock was let go
    assert "kefu/api/realtime.py" in report, report
