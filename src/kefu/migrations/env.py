"""Alembic environment: async engines, SQLite batch mode, one migrator at a time on PostgreSQL."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from kefu.core.config import get_settings
from kefu.core.db import Base, make_engine
from kefu.models import load_all_models

load_all_models()
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Several nodes may start together; only one migrates, the others wait for it.
        connection.execute(text("SELECT pg_advisory_xact_lock(7465746575)"))
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _main() -> None:
    connectable = context.config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    engine = make_engine(context.config.attributes.get("settings") or get_settings())
    async with engine.begin() as conn:
        await conn.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Kefu migrations run online only: use `kefu migrate`.")
asyncio.run(_main())
