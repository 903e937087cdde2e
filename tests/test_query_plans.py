"""Hot statements use the indexes they were written for (SQLite's query planner, real schema).

A dispatch pass and a visitor message run these statements every time; a plan that scans the
tenant's history instead of a range, or a statement SQLite must prepare again on every run,
costs more with every day of data, which no functional test would notice.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.dialects import sqlite as sqlite_dialect

from kefu.conversations import accepted_today, actions
from kefu.conversations.accepted_today import accepted_since
from kefu.core.config import Settings
from tests.conftest import PG_URL, LiveServer

pytestmark = pytest.mark.skipif(bool(PG_URL), reason="SQLite's planner")


def _plan(settings: Settings, stmt: Any) -> str:
    compiled = stmt.compile(dialect=sqlite_dialect.dialect())
    params = [compiled.params[name] for name in compiled.positiontup or []]
    params = [p.isoformat(sep=" ") if isinstance(p, datetime) else p for p in params]
    path = settings.resolved_database_url.split("///", 1)[1]
    with sqlite3.connect(path) as conn:
        rows = conn.execute(f"EXPLAIN QUERY PLAN {compiled}", params).fetchall()
    return "\n".join(str(row[-1]) for row in rows)


def test_accepted_today_reads_a_range_of_the_covering_index(
    server: LiveServer, settings: Settings
) -> None:
    plan = _plan(settings, accepted_since(1, datetime(2026, 11, 26, tzinfo=UTC)))
    assert "COVERING INDEX ix_segments_tenant_started (tenant_id=? AND started_at>?)" in plan, plan


def test_segments_after_the_mark_are_a_rowid_range_of_the_tenant_index(
    server: LiveServer, settings: Settings
) -> None:
    # Not today's range of ix_segments_tenant_started: that grows all day long.
    stmt = accepted_today._NEW.params(
        tenant_id=1, mark=100, since=datetime(2026, 11, 26, tzinfo=UTC)
    )
    plan = _plan(settings, stmt)
    assert "ix_conversation_segments_tenant_id (tenant_id=? AND rowid>?)" in plan, plan


def test_open_conversation_lookup_binds_no_value_for_the_partial_index(
    server: LiveServer, settings: Settings
) -> None:
    # `state != ?` would make SQLite prepare the statement again on every run (the partial
    # index uq_conversations_open_visitor is WHERE state != 'ended'): the value is in the SQL.
    compiled = actions._OPEN_OF.compile(dialect=sqlite_dialect.dialect())
    assert list(compiled.params) == ["visitor_id"], compiled.params
    plan = _plan(settings, actions._OPEN_OF.params(visitor_id=1))
    assert "uq_conversations_open_visitor" in plan, plan
