"""Request-scoped unit of work: commit before the response is sent, publish after commit."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.core.db import sqlite_write_intent
from kefu.events.bus import publish_all, take_events


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's session; UnitOfWorkRoute commits it, this only cleans up."""
    maker = request.app.state.sessionmaker
    async with maker() as session:
        request.state.db = session
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise


Db = Annotated[AsyncSession, Depends(get_db)]


class UnitOfWorkRoute(APIRoute):
    """Commits the request's transaction after the handler and before the client hears back.

    FastAPI runs the exit code of `yield` dependencies after the response has gone out, which
    would acknowledge writes that might still fail; committing here keeps "persist, then answer".
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            write = request.method not in ("GET", "HEAD", "OPTIONS")
            try:
                return await unit(request, write)
            except OperationalError as e:
                if write or "database is locked" not in str(e.orig):
                    raise
                # SQLite: a read that creates a row on first use (a tenant's settings row)
                # lost the upgrade to writer to a concurrent commit (SQLITE_BUSY_SNAPSHOT). Its
                # transaction is rolled back; run it again as a writer, queued like the others.
                return await unit(request, True)

        async def unit(request: Request, write: bool) -> Response:
            sqlite_write_intent.set(write)
            events: list[Any] = []
            # SQLite writers queue in the process (WriteGate) instead of polling the lock.
            async with request.app.state.write_gate.hold(write):
                try:
                    response = await handler(request)
                except BaseException:
                    db: AsyncSession | None = getattr(request.state, "db", None)
                    if db is not None:
                        await db.rollback()
                    raise
                db = getattr(request.state, "db", None)
                if db is not None:
                    await db.commit()
                    events = take_events(db)
            if events:
                await publish_all(request.app.state.bus, events)
            return response

        return run


def client_ip(request: Request) -> str:
    # Behind a reverse proxy, uvicorn's --proxy-headers has already rewritten request.client.
    return request.client.host if request.client else ""
