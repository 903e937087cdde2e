"""Sign-in throttling per account and per IP.

Counters live in the database so every process sees them. Unknown emails are counted exactly
like known ones, so the answers never reveal whether an account exists.
"""

from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import LoginThrottle
from kefu.core import clock
from kefu.core.errors import ApiError

WINDOW = timedelta(minutes=15)
LOCK = timedelta(minutes=15)
LIMITS = {"acct": 5, "ip": 30, "mfa": 5, "forgot": 5}


def _key(kind: str, value: str) -> str:
    return f"{kind}:{value.lower()}"[:300]


async def check(db: AsyncSession, kind: str, value: str) -> None:
    """Refuse with 429 while the key is locked."""
    row = await db.get(LoginThrottle, _key(kind, value))
    now = clock.now()
    if row is not None and row.locked_until is not None and row.locked_until > now:
        minutes = max(1, math.ceil((row.locked_until - now).total_seconds() / 60))
        raise ApiError("too_many_attempts", minutes=minutes)


async def hit(db: AsyncSession, kind: str, value: str) -> None:
    """Count one failure (or one request, for rate-limited actions) against the key."""
    key = _key(kind, value)
    now = clock.now()
    row = await db.get(LoginThrottle, key)
    if row is None:
        row = LoginThrottle(key=key, window_start=now, failures=0)
        db.add(row)
    if now - row.window_start > WINDOW:
        row.window_start = now
        row.failures = 0
        row.locked_until = None
    row.failures += 1
    if row.failures >= LIMITS[kind]:
        row.locked_until = now + LOCK
    await db.flush()


async def clear(db: AsyncSession, kind: str, value: str) -> None:
    row = await db.get(LoginThrottle, _key(kind, value))
    if row is not None:
        await db.delete(row)
