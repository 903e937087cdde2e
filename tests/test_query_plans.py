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


def _plan(settings: Settings, stmt: Any, values: dict[str, Any] | None = None) -> str:
    """SQLite's plan of `stmt` with parameter `values` (IN lists rendered as parameters, as
    the engine sends them)."""
    compiled = stmt.compile(dialect=sqlite_dialect.dialect())
    state = compiled.construct_expanded_state(values)
    params = [
        p.isoformat(sep=" ") if isinstance(p, datetime) else p for p in state.positional_parameters
    ]
    path = settings.resolved_database_url.split("///", 1)[1]
    with sqlite3.connect(path) as conn:
        rows = conn.execute(f"EXPLAIN QUERY PLAN {state.statement}", params).fetchall()
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


def test_the_queue_read_follows_the_queue_index_and_reads_targeted_ones_apart(
    server: LiveServer, settings: Settings
) -> None:
    # With `OR target_agent_id IN (...)` in one statement SQLite used neither index and sorted
    # every waiting row of the tenant, for a pass that may take one conversation.
    from kefu.routing.queueing import _queue_statement

    stmt = _queue_statement(groups=True, ungrouped=True, targets=True, ranked=None)
    assert stmt is not None
    plan = _plan(settings, stmt, {"tenant_id": 1, "window": 40, "groups": [7], "targets": [3, 4]})
    assert plan.count("USING INDEX ix_conversations_queue") == 2, plan
    assert "ix_conversations_queue (tenant_id=? AND state=? AND skill_group_id=?)" in plan, plan
    assert "USING INDEX ix_conversations_targeted" in plan, plan
    # Only the targeted part (few rows) is sorted; the groups' parts come in index order.
    assert plan.count("TEMP B-TREE FOR ORDER BY") == 1, plan


def test_a_drain_pass_reads_idle_agents_loads_without_counting_conversations(
    server: LiveServer, settings: Settings
) -> None:
    # The free-only snapshot of a drain pass: each idle agent's load is one row of
    # `agent_loads` by key; no conversation is read.
    from kefu.conversations.dispatch import FREE_AGENTS

    plan = _plan(settings, FREE_AGENTS, {"tenant_id": 1, "role_ids": [1, 2]})
    assert "SEARCH agent_loads USING INTEGER PRIMARY KEY (rowid=?)" in plan, plan
    assert "conversations" not in plan, plan


def test_staff_views_count_unread_messages_from_a_range_of_the_seq_index(
    server: LiveServer, settings: Settings
) -> None:
    # One statement per view for the visitors' names and the unread counts: each count is a
    # range of the conversation's messages after the agent's read mark, not all of them.
    from kefu.conversations.presenters import _STAFF_HEADS

    plan = _plan(settings, _STAFF_HEADS, {"ids": [1, 2]})
    # (the unique constraint on (conversation_id, seq) is SQLite's automatic index)
    assert (
        "messages USING INDEX sqlite_autoindex_messages_1 (conversation_id=? AND seq>?)" in plan
    ), plan
    assert "SCAN" not in plan, plan


def test_a_drain_pass_reads_groups_and_free_members_by_index(
    server: LiveServer, settings: Settings
) -> None:
    from kefu.conversations.dispatch import _GROUPS_AND_FREE_MEMBERS

    plan = _plan(settings, _GROUPS_AND_FREE_MEMBERS, {"tenant_id": 1, "users": [3, 4]})
    assert "SCAN" not in plan, plan
