"""GET /metrics, /livez and /readyz: operators' endpoints, outside /api/v1 and its schema.

/metrics answers a direct loopback connection (no proxy headers), or anyone presenting
`Authorization: Bearer <KEFU_METRICS_TOKEN>`. Otherwise: 401 when a token is configured, 404
when none is (the endpoint does not exist for the outside world).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import time

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import func, select

from kefu.core import clock
from kefu.core.config import Settings
from kefu.core.db import sqlite_write_intent
from kefu.observability import health, metrics
from kefu.observability.listeners import QueueTracker

log = logging.getLogger("kefu.metrics")

router = APIRouter(include_in_schema=False)

# Headers a reverse proxy adds: a "loopback" peer that sends them speaks for someone else.
_PROXY_HEADERS = ("x-forwarded-for", "x-real-ip", "forwarded")
SCRAPE_QUERY_TIMEOUT = 2.0


def _direct_loopback(request: Request) -> bool:
    if any(h in request.headers for h in _PROXY_HEADERS):
        return False
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _token_ok(request: Request, settings: Settings) -> bool:
    if settings.metrics_token is None:
        return False
    expected = settings.metrics_token.get_secret_value()
    auth = request.headers.get("authorization", "")
    scheme, _, given = auth.partition(" ")
    return (
        bool(expected)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(given.strip().encode(), expected.encode())
    )


async def _scrape_gauges(request: Request) -> None:
    """Cluster-wide figures read from the database: due timers, and (now and then) the queue."""
    from kefu.conversations.models import Conversation
    from kefu.workers.models import Timer

    tracker: QueueTracker = request.app.state.queue_tracker
    maker = request.app.state.sessionmaker
    token = sqlite_write_intent.set(False)
    try:
        async with maker() as db:
            due = await db.scalar(
                select(func.count()).select_from(Timer).where(Timer.due_at <= clock.now())
            )
            metrics.TIMERS_DUE.set(int(due or 0))
            if tracker.due():
                started = time.monotonic()
                rows = await db.execute(
                    select(Conversation.tenant_id, func.count())
                    .where(Conversation.state == "waiting")
                    .group_by(Conversation.tenant_id)
                )
                tracker.recounted(started, {int(t): int(n) for t, n in rows.all()})
    finally:
        sqlite_write_intent.reset(token)


@router.get("/metrics")
async def metrics_endpoint(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    if not (_direct_loopback(request) or _token_ok(request, settings)):
        if settings.metrics_token is not None:
            return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return Response(status_code=404)
    try:
        await asyncio.wait_for(_scrape_gauges(request), SCRAPE_QUERY_TIMEOUT)
    except Exception as exc:
        log.warning("metrics: database gauges not refreshed: %s", type(exc).__name__)
    return Response(metrics.render(), media_type=metrics.CONTENT_TYPE)


@router.get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    ready, checks = await health.readiness(request.app.state.settings, request.app.state.engine)
    return JSONResponse(health.readiness_body(ready, checks), status_code=200 if ready else 503)
