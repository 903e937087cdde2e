"""Leave messages as the console sees them (names resolved in one query per kind)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import User
from kefu.conversations.presenters import visitor_name
from kefu.leave_messages.models import LeaveMessage, LeaveMessageComment
from kefu.leave_messages.schemas import (
    CommentOut,
    LeaveMessageDetail,
    LeaveMessageOut,
    UserRef,
    VisitorRef,
)
from kefu.visitors.models import Visitor


async def _users(db: AsyncSession, ids: set[int]) -> dict[int, User]:
    if not ids:
        return {}
    return {u.id: u for u in await db.scalars(select(User).where(User.id.in_(ids)))}


async def views(db: AsyncSession, msgs: list[LeaveMessage]) -> list[LeaveMessageOut]:
    users = await _users(db, {m.assignee_id for m in msgs if m.assignee_id is not None})
    visitor_ids = {m.visitor_id for m in msgs if m.visitor_id is not None}
    visitors = (
        {v.id: v for v in await db.scalars(select(Visitor).where(Visitor.id.in_(visitor_ids)))}
        if visitor_ids
        else {}
    )
    ids = [m.id for m in msgs]
    counts: dict[int, int] = {}
    if ids:
        rows = await db.execute(
            select(LeaveMessageComment.leave_message_id, func.count(LeaveMessageComment.id))
            .where(LeaveMessageComment.leave_message_id.in_(ids))
            .group_by(LeaveMessageComment.leave_message_id)
        )
        counts = {mid: int(n) for mid, n in rows.all()}
    out = []
    for m in msgs:
        user = users.get(m.assignee_id) if m.assignee_id is not None else None
        out.append(
            LeaveMessageOut(
                id=m.id,
                number=m.number,
                status=m.status,
                assignee=UserRef(id=user.id, nickname=user.nickname) if user else None,
                visitor=(
                    VisitorRef(
                        id=m.visitor_id, name=visitor_name(visitors.get(m.visitor_id), m.visitor_id)
                    )
                    if m.visitor_id is not None
                    else None
                ),
                conversation_id=m.conversation_id,
                channel=m.channel,
                origin=m.origin,
                widget_id=m.widget_id,
                association_id=m.association_id,
                subject=m.subject,
                content=m.content,
                name=m.name,
                phone=m.phone,
                email=m.email,
                comments=counts.get(m.id, 0),
                created_at=m.created_at,
                updated_at=m.updated_at,
            )
        )
    return out


async def detail(db: AsyncSession, msg: LeaveMessage) -> LeaveMessageDetail:
    [base] = await views(db, [msg])
    comments = list(
        await db.scalars(
            select(LeaveMessageComment)
            .where(LeaveMessageComment.leave_message_id == msg.id)
            .order_by(LeaveMessageComment.id)
        )
    )
    authors = await _users(db, {c.author_id for c in comments if c.author_id is not None})
    return LeaveMessageDetail(
        **base.model_dump(),
        comment_list=[
            CommentOut(
                id=c.id,
                author=(
                    UserRef(id=a.id, nickname=a.nickname)
                    if c.author_id is not None and (a := authors.get(c.author_id)) is not None
                    else None
                ),
                author_name=c.author_name,
                text=c.text,
                created_at=c.created_at,
            )
            for c in comments
        ],
    )
