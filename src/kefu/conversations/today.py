"""The agent's own figures for today (§2, §16.1): accepted, ended, ongoing, online time."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.conversations.dispatch import start_of_today
from kefu.conversations.models import Conversation, Segment
from kefu.core import clock
from kefu.presence.models import PresenceInterval


async def today_figures(db: AsyncSession, principal: Principal) -> dict[str, Any]:
    me = principal.user.id
    since = start_of_today(principal.tenant)
    now = clock.now()
    accepted = await db.scalar(
        select(func.count(func.distinct(Segment.conversation_id))).where(
            Segment.agent_id == me, Segment.started_at >= since
        )
    )
    ended = await db.scalar(
        select(func.count())
        .select_from(Segment)
        .where(Segment.agent_id == me, Segment.ended_at >= since, Segment.end_reason == "ended")
    )
    ongoing = await db.scalar(
        select(func.count())
        .select_from(Conversation)
        .where(
            Conversation.tenant_id == principal.tenant_id,
            Conversation.agent_id == me,
            Conversation.state == "ongoing",
        )
    )
    spans = await db.execute(
        select(PresenceInterval.started_at, PresenceInterval.ended_at).where(
            PresenceInterval.user_id == me,
            (PresenceInterval.ended_at.is_(None)) | (PresenceInterval.ended_at > since),
        )
    )
    online = 0.0
    for start, end in spans.all():
        online += max(0.0, ((end or now) - max(start, since)).total_seconds())
    return {
        "accepted": accepted or 0,
        "ended": ended or 0,
        "ongoing": ongoing or 0,
        "online_seconds": int(online),
    }
