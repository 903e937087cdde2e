"""The session search statements run in (kefu.search.sqlite_index: on SQLite the index is in
a file of its own, attached only by the connections of a reader engine)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.core.db import SEARCH_READER


@contextlib.asynccontextmanager
async def search_session(db: AsyncSession) -> AsyncIterator[AsyncSession]:
    """SQLite: a read-only session of the reader engine made with `db`'s sessionmaker;
    PostgreSQL: `db` itself."""
    maker = db.info.get(SEARCH_READER)
    if maker is None:
        yield db
        return
    async with maker() as session:
        yield session
