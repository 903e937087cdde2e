"""PostgreSQL drops the server's pooled connections (a restart, a failover, an admin's
`pg_terminate_backend`): the next request and the next socket send still succeed, without
anyone retrying. Requests try a pooled connection before use (`core.db._pg_ping`, one round
trip); the socket sends' batcher does not, and writes a batch that met a dropped connection
again at once on a new one."""

from __future__ import annotations

import pytest

from kefu.chat.batcher import batcher_of
from kefu.core.config import Settings
from tests.chat_helpers import cid
from tests.conftest import PG_URL, LiveServer
from tests.helpers import Api
from tests.test_chat_batching import _answer, _send, _visitor_on_a_socket
from tests.test_dispatch_multiprocess import sql

pytestmark = pytest.mark.skipif(not PG_URL.startswith("postgresql"), reason="needs PostgreSQL")


def _drop_connections(settings: Settings) -> int:
    """Terminate every other connection to the test database (the server's pool)."""
    rows = sql(
        settings,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    return len(rows)


def test_requests_after_the_pools_connections_were_dropped_succeed(
    api: Api, server: LiveServer, settings: Settings
) -> None:
    t = api.provision()
    for _ in range(3):  # several pooled connections in use
        t.admin.ok("GET", "/users")
    assert _drop_connections(settings) >= 1
    for _ in range(3):
        t.admin.ok("GET", "/users")  # 200, not a 500 from a closed connection


def test_a_socket_send_after_the_connections_were_dropped_is_acked(
    api: Api, server: LiveServer, settings: Settings
) -> None:
    batcher = batcher_of(server.app)
    _, _, ws, staff = _visitor_on_a_socket(api, server, held=True)
    try:
        first = cid()
        _send(ws, "before", first)
        assert _answer(ws, first)["type"] == "ack"
        retried = batcher.stats.retried_batches

        assert _drop_connections(settings) >= 1
        second = cid()
        _send(ws, "after", second)
        answer = _answer(ws, second, timeout=15)
        assert answer["type"] == "ack", answer
        # The batch took its connection untried, met the dropped one, and was written again.
        assert batcher.stats.retried_batches == retried + 1
        third = cid()
        _send(ws, "later", third)
        assert _answer(ws, third)["type"] == "ack"
        assert batcher.stats.retried_batches == retried + 1
    finally:
        ws.close()
        if staff is not None:
            staff.close()
