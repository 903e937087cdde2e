"""Conversation hooks of satisfaction (§10.1): the automatic invitation at the end (order 200,
after the end message) and keeping the attribution current when agents change."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.conversations.hooks import (
    Ending,
    NewSegment,
    after_assign,
    after_assign_many,
    after_end,
)
from kefu.conversations.models import Conversation, Segment


@after_end(order=200)
async def invite_on_end(db: AsyncSession, conv: Conversation, ending: Ending) -> None:
    from kefu.csat import actions

    await actions.invite_at_end(db, conv, ending)


@after_assign(order=200)
async def reattribute_on_assign(db: AsyncSession, conv: Conversation, segment: Segment) -> None:
    # A rating given before a transfer also belongs to the new agent when the score is shared
    # (or to them alone when it is not).
    from kefu.csat import actions

    await actions.reattribute(db, conv)


@after_assign_many(reattribute_on_assign)
async def reattribute_on_assign_many(
    db: AsyncSession, pairs: list[tuple[Conversation, NewSegment]]
) -> None:
    """`reattribute_on_assign` for a drain pass: the ratings are read in one query."""
    from sqlalchemy import select

    from kefu.csat import actions
    from kefu.csat.models import CsatRating

    by_id = {conv.id: conv for conv, _ in pairs}
    rated = await db.scalars(select(CsatRating).where(CsatRating.conversation_id.in_(by_id)))
    for rec in list(rated):
        if rec.score is not None:
            await actions.attribute(db, by_id[rec.conversation_id], rec)
