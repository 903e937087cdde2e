"""Seat limits hold under concurrent requests (SQLite IMMEDIATE writers; PostgreSQL row locks)."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import event

from tests.conftest import PG_URL, LiveServer
from tests.helpers import PASSWORD, Api, unique_email


def test_concurrent_adds_never_exceed_seats(api: Api) -> None:
    t = api.provision(seats=5)
    cookies = dict(t.admin.cookies)

    def add(i: int) -> int:
        with httpx.Client(base_url=api.base_url + "/api/v1", cookies=cookies, timeout=60) as c:
            r = c.post(
                "/users",
                json={
                    "email": unique_email(f"race{i}-"),
                    "password": PASSWORD,
                    "nickname": f"r{i}",
                    "role_id": t.roles["agent"],
                },
            )
            return r.status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = list(pool.map(add, range(12)))
    assert codes.count(201) == 4, codes
    assert set(codes) == {201, 409}, codes
    assert t.admin.ok("GET", "/tenant")["seats_used"] == 5
    # Reads run alongside writes without errors.
    with ThreadPoolExecutor(max_workers=8) as pool:
        reads = list(
            pool.map(
                lambda _: httpx.get(api.base_url + "/api/v1/users", cookies=cookies).status_code,
                range(16),
            )
        )
    assert set(reads) == {200}


@pytest.mark.skipif(bool(PG_URL), reason="SQLite's snapshot upgrade (PostgreSQL has no such case)")
def test_sqlite_read_that_writes_is_retried_as_a_writer(api: Api, server: LiveServer) -> None:
    """A GET that creates its row on first use, while another connection commits meanwhile,
    loses the upgrade to writer (SQLITE_BUSY_SNAPSHOT); the route runs again as a writer."""
    t = api.provision()
    db_file = server.settings.data_dir / "kefu.db"
    fired: list[str] = []

    def commit_elsewhere_first(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("INSERT INTO DISPATCH_SETTINGS") and not fired:
            fired.append(statement)
            other = sqlite3.connect(db_file, timeout=10)
            try:
                # A real change: SQLite skips writing an UPDATE that changes nothing.
                other.execute("UPDATE tenants SET address = 'moved' WHERE id = ?", (t.id,))
                other.commit()
            finally:
                other.close()

    engine = server.app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", commit_elsewhere_first)
    try:
        body = t.admin.ok("GET", "/dispatch-settings")
    finally:
        event.remove(engine, "before_cursor_execute", commit_elsewhere_first)
    assert fired, "the lazy insert ran"
    assert body["transfer_confirm_seconds"] == 60
    assert t.admin.ok("GET", "/dispatch-settings") == body
