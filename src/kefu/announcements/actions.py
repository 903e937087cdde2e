"""Sending and reading announcements (§15.2). The caller owns the transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.accounts.models import User
from kefu.announcements.models import Announcement, AnnouncementRecipient
from kefu.announcements.schemas import AnnouncementIn, AnnouncementOut, RecipientOption
from kefu.attachments.actions import attachment_view
from kefu.attachments.models import Attachment
from kefu.audit.actions import record
from kefu.core import clock
from kefu.core.config import Settings
from kefu.core.errors import ApiError, register_codes
from kefu.notifications.actions import notify
from kefu.routing.membership import member_ids
from kefu.routing.models import SkillGroup

register_codes(
    {
        "announcement_no_recipients": (
            422,
            "没有可接收通知的成员，请重新选择接收人",
            "nobody would receive this announcement; choose other recipients",
        ),
    }
)


async def _groups(db: AsyncSession, tenant_id: int, ids: list[int]) -> list[SkillGroup]:
    if not ids:
        return []
    rows = list(
        await db.scalars(
            select(SkillGroup).where(SkillGroup.tenant_id == tenant_id, SkillGroup.id.in_(ids))
        )
    )
    if len(rows) != len(set(ids)):
        raise ApiError("not_found")
    return rows


async def _users(db: AsyncSession, tenant_id: int, ids: list[int]) -> list[User]:
    if not ids:
        return []
    rows = list(await db.scalars(select(User).where(User.tenant_id == tenant_id, User.id.in_(ids))))
    if len(rows) != len(set(ids)):
        raise ApiError("not_found")
    return rows


async def _attachments(db: AsyncSession, principal: Principal, ids: list[int]) -> list[Attachment]:
    """The sender's own uploads that no conversation holds; anything else is as if unknown."""
    if not ids:
        return []
    rows = list(
        await db.scalars(
            select(Attachment).where(
                Attachment.tenant_id == principal.tenant_id,
                Attachment.id.in_(ids),
                Attachment.uploader_type == "agent",
                Attachment.uploader_id == principal.user.id,
                Attachment.conversation_id.is_(None),
                Attachment.removed_at.is_(None),
            )
        )
    )
    if len(rows) != len(set(ids)):
        raise ApiError("not_found")
    by_id = {a.id: a for a in rows}
    return [by_id[i] for i in dict.fromkeys(ids)]


async def _recipients(
    db: AsyncSession, tenant_id: int, body: AnnouncementIn
) -> tuple[set[int], list[str]]:
    """Enabled members the audience resolves to, and the chosen groups' and agents' names."""
    groups = await _groups(db, tenant_id, body.audience.skill_group_ids)
    users = await _users(db, tenant_id, body.audience.user_ids)
    chosen: set[int] = {u.id for u in users}
    for g in groups:
        chosen |= await member_ids(db, tenant_id, g)
    stmt = select(User.id).where(User.tenant_id == tenant_id, User.enabled.is_(True))
    if not body.audience.all:
        stmt = stmt.where(User.id.in_(chosen))
    ids = set(await db.scalars(stmt))
    names = [g.name for g in groups] + [u.nickname for u in users]
    return ids, names


async def publish(
    db: AsyncSession, principal: Principal, body: AnnouncementIn, ip: str
) -> Announcement:
    """Store the announcement and put it in every recipient's message center."""
    author = principal.user
    recipients, names = await _recipients(db, principal.tenant_id, body)
    recipients.discard(author.id)
    if not recipients:
        raise ApiError("announcement_no_recipients")
    files = await _attachments(db, principal, body.attachment_ids)
    audience = body.audience.model_dump()
    audience["names"] = names
    ann = Announcement(
        tenant_id=principal.tenant_id,
        author_id=author.id,
        author_name=author.nickname,
        subject=body.subject.strip(),
        body=body.body,
        audience=audience,
        attachment_ids=[a.id for a in files],
        recipient_count=len(recipients),
        created_at=clock.now(),
    )
    db.add(ann)
    await db.flush()
    db.add_all(AnnouncementRecipient(announcement_id=ann.id, user_id=uid) for uid in recipients)
    data = {
        "announcement_id": ann.id,
        "subject": ann.subject,
        "author_id": author.id,
        "author_name": author.nickname,
        "recipients": len(recipients),
        "attachments": len(files),
    }
    for uid in sorted(recipients):
        await notify(
            db,
            tenant_id=principal.tenant_id,
            user_id=uid,
            kind="announcement_received",
            data=data,
        )
    # The author's own record of what went out (§15.1: admins see published announcements).
    await notify(
        db,
        tenant_id=principal.tenant_id,
        user_id=author.id,
        kind="announcement_published",
        data=data,
    )
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="announcement.publish",
        target_type="announcement",
        target_id=ann.id,
        detail={"subject": ann.subject, "recipients": len(recipients)},
        ip=ip,
    )
    return ann


async def readable(db: AsyncSession, principal: Principal, announcement_id: int) -> Announcement:
    """Its author and its recipients read it; to anyone else it does not exist."""
    ann = await db.get(Announcement, announcement_id)
    if ann is None or ann.tenant_id != principal.tenant_id:
        raise ApiError("not_found")
    if ann.author_id == principal.user.id:
        return ann
    got = await db.get(
        AnnouncementRecipient, {"announcement_id": ann.id, "user_id": principal.user.id}
    )
    if got is None:
        raise ApiError("not_found")
    return ann


async def view(db: AsyncSession, settings: Settings, ann: Announcement) -> AnnouncementOut:
    files: list[dict[str, Any]] = []
    if ann.attachment_ids:
        rows = {
            a.id: a
            for a in await db.scalars(
                select(Attachment).where(Attachment.id.in_(ann.attachment_ids))
            )
        }
        files = [attachment_view(settings, rows[i]) for i in ann.attachment_ids if i in rows]
    audience = dict(ann.audience or {})
    names = list(audience.pop("names", []))
    return AnnouncementOut(
        id=ann.id,
        subject=ann.subject,
        body=ann.body,
        author_id=ann.author_id,
        author_name=ann.author_name,
        audience=audience,
        audience_names=names,
        recipient_count=ann.recipient_count,
        attachments=files,
        created_at=ann.created_at,
    )


async def published(
    db: AsyncSession, tenant_id: int, *, offset: int, limit: int
) -> tuple[list[Announcement], int]:
    base = select(Announcement).where(Announcement.tenant_id == tenant_id)
    total = int(await db.scalar(select(func.count()).select_from(base.subquery())) or 0)
    rows = await db.scalars(base.order_by(Announcement.id.desc()).offset(offset).limit(limit))
    return list(rows), total


async def recipient_options(db: AsyncSession, tenant_id: int, q: str) -> list[RecipientOption]:
    """Groups (with member counts) and enabled agents whose names contain `q`."""
    needle = q.strip().lower()
    out: list[RecipientOption] = []
    groups = await db.scalars(
        select(SkillGroup).where(SkillGroup.tenant_id == tenant_id).order_by(SkillGroup.id)
    )
    for g in groups:
        if needle and needle not in g.name.lower():
            continue
        count = len(await member_ids(db, tenant_id, g))
        out.append(RecipientOption(kind="group", id=g.id, name=g.name, detail=str(count)))
    users = await db.scalars(
        select(User)
        .where(User.tenant_id == tenant_id, User.enabled.is_(True))
        .order_by(User.nickname, User.id)
    )
    for u in users:
        hay = f"{u.nickname} {u.real_name or ''} {u.email}".lower()
        if needle and needle not in hay:
            continue
        out.append(
            RecipientOption(kind="agent", id=u.id, name=u.nickname, detail=u.real_name or "")
        )
    return out[:200]
