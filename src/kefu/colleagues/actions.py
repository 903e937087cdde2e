"""Sending and reading colleague messages; idempotent on the sender's client message id."""

from __future__ import annotations

from fastapi.encoders import jsonable_encoder
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import User
from kefu.colleagues.models import ColleagueMessage
from kefu.colleagues.schemas import ColleagueMessageOut
from kefu.core import clock
from kefu.core.errors import ApiError
from kefu.events.bus import emit
from kefu.events.types import ColleagueMessageSent


def view(m: ColleagueMessage, replayed: bool = False) -> ColleagueMessageOut:
    return ColleagueMessageOut(
        id=m.id,
        sender_id=m.sender_id,
        recipient_id=m.recipient_id,
        client_msg_id=m.client_msg_id,
        text=m.text,
        created_at=m.created_at,
        read=m.read_at is not None,
        replayed=replayed,
    )


async def send(
    db: AsyncSession, sender: User, recipient: User, *, client_msg_id: str, text: str
) -> tuple[ColleagueMessage, bool]:
    if recipient.id == sender.id:
        raise ApiError("bad_request")
    found = await db.scalar(
        select(ColleagueMessage).where(
            ColleagueMessage.sender_id == sender.id,
            ColleagueMessage.client_msg_id == client_msg_id,
        )
    )
    if found is not None:
        if found.text != text or found.recipient_id != recipient.id:
            raise ApiError("client_msg_id_conflict")
        return found, True
    msg = ColleagueMessage(
        tenant_id=sender.tenant_id,
        sender_id=sender.id,
        recipient_id=recipient.id,
        client_msg_id=client_msg_id,
        text=text,
        created_at=clock.now(),
    )
    db.add(msg)
    await db.flush()
    emit(
        db,
        ColleagueMessageSent(
            tenant_id=sender.tenant_id,
            user_ids=[sender.id, recipient.id],
            message=jsonable_encoder(view(msg)),
        ),
    )
    return msg, False


async def thread(
    db: AsyncSession, me: User, other: User, *, before_id: int | None, limit: int
) -> list[ColleagueMessage]:
    pair = or_(
        and_(ColleagueMessage.sender_id == me.id, ColleagueMessage.recipient_id == other.id),
        and_(ColleagueMessage.sender_id == other.id, ColleagueMessage.recipient_id == me.id),
    )
    query = select(ColleagueMessage).where(ColleagueMessage.tenant_id == me.tenant_id, pair)
    if before_id is not None:
        query = query.where(ColleagueMessage.id < before_id)
    rows = list(await db.scalars(query.order_by(ColleagueMessage.id.desc()).limit(limit)))
    rows.reverse()
    return rows


async def mark_read(db: AsyncSession, me: User, other: User) -> None:
    await db.execute(
        update(ColleagueMessage)
        .where(
            ColleagueMessage.recipient_id == me.id,
            ColleagueMessage.sender_id == other.id,
            ColleagueMessage.read_at.is_(None),
        )
        .values(read_at=clock.now())
    )


async def unread_counts(db: AsyncSession, me: User) -> dict[int, int]:
    rows = await db.execute(
        select(ColleagueMessage.sender_id, func.count())
        .where(ColleagueMessage.recipient_id == me.id, ColleagueMessage.read_at.is_(None))
        .group_by(ColleagueMessage.sender_id)
    )
    return {sender: n for sender, n in rows.all()}
