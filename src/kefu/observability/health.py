"""Liveness and readiness checks.

/livez: the process answers (no I/O). /readyz: the database answers `SELECT 1` in time, its
schema is at this code's migration heads, and Redis answers PING when one is configured.
"""

from __future__ import annotations

import asyncio
import logging
from functools import lru_cache
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kefu.core.config import Settings
from kefu.observability import metrics

log = logging.getLogger("kefu.health")

CHECK_TIMEOUT = 2.0


@lru_cache(maxsize=1)
def code_heads() -> frozenset[str]:
    """The migration heads this code expects (read once from the migration scripts)."""
    from alembic.script import ScriptDirectory

    from kefu.core.migrate import alembic_config

    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


async def _database(engine: AsyncEngine) -> tuple[str, set[str]]:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
        try:
            rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
            versions = {str(r[0]) for r in rows}
        except Exception:
            versions = set()
        await conn.rollback()
    return "ok", versions


def _migrations(versions: set[str]) -> str:
    heads = code_heads()
    if versions == heads:
        return "ok"
    if not versions:
        return "not_migrated"
    # Revisions this code does not know: a newer release migrated the database.
    return "ahead" if versions - heads else "behind"


async def _redis(url: str) -> str:
    import redis.asyncio as aioredis

    client = aioredis.from_url(
        url, socket_connect_timeout=CHECK_TIMEOUT, socket_timeout=CHECK_TIMEOUT
    )
    try:
        await client.ping()
        return "ok"
    finally:
        await client.aclose()


async def readiness(settings: Settings, engine: AsyncEngine) -> tuple[bool, dict[str, str]]:
    """(ready, {check: "ok" | why not}); failures are logged with their cause."""
    checks: dict[str, str] = {}
    try:
        checks["database"], versions = await asyncio.wait_for(_database(engine), CHECK_TIMEOUT)
        checks["migrations"] = _migrations(versions)
    except TimeoutError:
        checks["database"], checks["migrations"] = "timeout", "unknown"
    except Exception as exc:
        log.warning("readiness: database check failed: %s", type(exc).__name__)
        checks["database"], checks["migrations"] = "unreachable", "unknown"
    if settings.redis_url:
        try:
            checks["redis"] = await asyncio.wait_for(_redis(settings.redis_url), CHECK_TIMEOUT)
        except TimeoutError:
            checks["redis"] = "timeout"
        except Exception as exc:
            log.warning("readiness: redis check failed: %s", type(exc).__name__)
            checks["redis"] = "unreachable"
        metrics.REDIS_UP.set(1 if checks["redis"] == "ok" else 0)
    else:
        checks["redis"] = "not_configured"
    ready = all(v in ("ok", "not_configured") for v in checks.values())
    return ready, checks


def readiness_body(ready: bool, checks: dict[str, str]) -> dict[str, Any]:
    failed = [k for k, v in checks.items() if v not in ("ok", "not_configured")]
    return {"status": "ready" if ready else "unready", "checks": checks, "failed": failed}
