"""The retention purge deletes conversations in bulk, and the database follows every foreign
key from the rows it deletes (conversations, their messages, their segments). A key without an
index makes each deleted row scan its whole child table; migration 0029 added the five that
were missing. Checked on the migrated database itself (SQLite, or PostgreSQL in that run)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import inspect

from kefu.core.config import Settings
from kefu.core.db import make_engine

# The tables whose rows a purge deletes (`kefu.history.retention.purge` and its cascades).
PURGED = {"conversations", "messages", "conversation_segments"}


def _unindexed_keys(sync_conn: Any) -> list[str]:
    insp = inspect(sync_conn)
    missing = []
    for table in insp.get_table_names():
        leading = {ix["column_names"][0] for ix in insp.get_indexes(table) if ix["column_names"]}
        leading |= {u["column_names"][0] for u in insp.get_unique_constraints(table)}
        leading |= set(insp.get_pk_constraint(table)["constrained_columns"][:1])
        for fk in insp.get_foreign_keys(table):
            (column,) = fk["constrained_columns"]
            if fk["referred_table"] in PURGED and column not in leading:
                missing.append(f"{table}.{column} -> {fk['referred_table']}")
    return sorted(missing)


def test_every_key_a_purge_follows_has_an_index(settings: Settings) -> None:
    async def run() -> list[str]:
        engine = make_engine(settings)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(_unindexed_keys)
        finally:
            await engine.dispose()

    assert asyncio.run(run()) == []
