"""Submitting a personal reply to the public set (§8.1, §15.4) and deciding on it.

Admins who keep the public set (page `admin.settings.canned`) are told of each submission
(`canned_submission_requested`); the requester hears the decision (`canned_submission_decided`).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from kefu.access.principal import Principal, role_pages
from kefu.accounts.models import User
from kefu.audit.actions import record
from kefu.canned import actions
from kefu.canned.access import get_category, get_reply
from kefu.canned.models import CannedCategory, CannedReply, CannedSubmission
from kefu.canned.schemas import (
    CannedAcceptIn,
    CannedRejectIn,
    CannedSubmissionIn,
    CannedSubmissionOut,
)
from kefu.core import clock
from kefu.core.errors import ApiError, register_codes
from kefu.notifications.actions import notify
from kefu.roles.models import Role

PUBLIC_PAGE = "admin.settings.canned"
MAX_PENDING_PER_AGENT = 50

register_codes(
    {
        "canned_submission_decided": (
            409,
            "该提交已处理",
            "This submission has already been decided",
        ),
        "canned_submission_pending": (
            409,
            "这条常用语已提交，正在等待审核",
            "This reply has already been submitted and awaits a decision",
        ),
        "canned_submission_limit": (
            409,
            "待审核的提交最多 {limit} 条，请等管理员处理",
            "At most {limit} submissions can wait at once; wait for an admin's decision",
        ),
    }
)


async def keeper_ids(db: AsyncSession, *, tenant_id: int) -> list[int]:
    """Enabled users whose role opens the public canned replies page (always the Admin)."""
    rows = await db.execute(
        select(User.id, Role)
        .join(Role, Role.id == User.role_id)
        .where(User.tenant_id == tenant_id, User.enabled.is_(True))
        .order_by(User.id)
    )
    return [uid for uid, role in rows.all() if PUBLIC_PAGE in role_pages(role)]


async def _path(db: AsyncSession, category_id: int | None) -> str:
    if category_id is None:
        return ""
    cat = await db.get(CannedCategory, category_id)
    if cat is None:
        return ""
    if cat.parent_id is None:
        return cat.name
    parent = await db.get(CannedCategory, cat.parent_id)
    return f"{parent.name} / {cat.name}" if parent else cat.name


async def submit(
    db: AsyncSession, principal: Principal, body: CannedSubmissionIn
) -> CannedSubmission:
    user = principal.user
    reply = await get_reply(db, principal, body.reply_id, personal=True)
    await get_category(db, principal, body.category_id, personal=False)
    pending = (
        select(func.count())
        .select_from(CannedSubmission)
        .where(
            CannedSubmission.tenant_id == user.tenant_id,
            CannedSubmission.requester_id == user.id,
            CannedSubmission.state == "pending",
        )
    )
    if await db.scalar(pending.where(CannedSubmission.source_reply_id == reply.id)):
        raise ApiError("canned_submission_pending")
    if int(await db.scalar(pending) or 0) >= MAX_PENDING_PER_AGENT:
        raise ApiError("canned_submission_limit", limit=MAX_PENDING_PER_AGENT)
    submission = CannedSubmission(
        tenant_id=user.tenant_id,
        requester_id=user.id,
        source_reply_id=reply.id,
        category_id=body.category_id,
        text=body.text if body.text is not None else reply.text,
        reason=body.reason,
        state="pending",
        comment="",
        created_at=clock.now(),
    )
    db.add(submission)
    await db.flush()
    path = await _path(db, submission.category_id)
    for admin_id in await keeper_ids(db, tenant_id=user.tenant_id):
        await notify(
            db,
            tenant_id=user.tenant_id,
            user_id=admin_id,
            kind="canned_submission_requested",
            data={
                "submission_id": submission.id,
                "requester_id": user.id,
                "requester_name": user.nickname,
                "category_path": path,
                "text": submission.text[:200],
                "reason": submission.reason,
            },
        )
    return submission


async def _tell_requester(
    db: AsyncSession, principal: Principal, submission: CannedSubmission
) -> None:
    actor = principal.user
    await notify(
        db,
        tenant_id=submission.tenant_id,
        user_id=submission.requester_id,
        kind="canned_submission_decided",
        data={
            "submission_id": submission.id,
            "decision": submission.state,
            "category_path": await _path(db, submission.category_id),
            "text": submission.text[:200],
            "comment": submission.comment,
            "actor_id": actor.id,
            "actor_name": actor.nickname,
        },
    )


async def accept(
    db: AsyncSession,
    principal: Principal,
    submission: CannedSubmission,
    body: CannedAcceptIn,
    ip: str,
) -> CannedSubmission:
    if submission.state != "pending":
        raise ApiError("canned_submission_decided")
    category_id = body.category_id if body.category_id is not None else submission.category_id
    if category_id is None:
        raise ApiError("canned_category_required")
    await get_category(db, principal, category_id, personal=False)
    if await actions.count_replies(db, submission.tenant_id, None) >= actions.MAX_REPLIES:
        raise ApiError("canned_reply_limit", limit=actions.MAX_REPLIES)
    now = clock.now()
    reply = CannedReply(
        tenant_id=submission.tenant_id,
        owner_id=None,
        category_id=category_id,
        text=body.text if body.text is not None else submission.text,
        created_at=now,
        updated_at=now,
    )
    db.add(reply)
    await db.flush()
    submission.state = "accepted"
    submission.category_id = category_id
    submission.text = reply.text
    submission.comment = body.comment
    submission.decided_by = principal.user.id
    submission.decided_at = now
    submission.public_reply_id = reply.id
    await _tell_requester(db, principal, submission)
    record(
        db,
        principal,
        tenant_id=submission.tenant_id,
        action="canned_submission.accepted",
        target_type="canned_submission",
        target_id=submission.id,
        detail={"requester_id": submission.requester_id, "reply_id": reply.id},
        ip=ip,
    )
    return submission


async def reject(
    db: AsyncSession,
    principal: Principal,
    submission: CannedSubmission,
    body: CannedRejectIn,
    ip: str,
) -> CannedSubmission:
    if submission.state != "pending":
        raise ApiError("canned_submission_decided")
    submission.state = "rejected"
    submission.comment = body.comment
    submission.decided_by = principal.user.id
    submission.decided_at = clock.now()
    await _tell_requester(db, principal, submission)
    record(
        db,
        principal,
        tenant_id=submission.tenant_id,
        action="canned_submission.rejected",
        target_type="canned_submission",
        target_id=submission.id,
        detail={"requester_id": submission.requester_id, "comment": body.comment},
        ip=ip,
    )
    return submission


async def listing(
    db: AsyncSession,
    tenant_id: int,
    *,
    state: str,
    requester_id: int | None,
    offset: int,
    limit: int,
) -> tuple[list[CannedSubmissionOut], int]:
    """Submissions of the tenant (or one requester's), newest first; `state` or `all`."""
    requester, decider = aliased(User), aliased(User)
    stmt = (
        select(CannedSubmission, requester.nickname, decider.nickname)
        .join(requester, requester.id == CannedSubmission.requester_id)
        .outerjoin(decider, decider.id == CannedSubmission.decided_by)
        .where(CannedSubmission.tenant_id == tenant_id)
    )
    if state != "all":
        stmt = stmt.where(CannedSubmission.state == state)
    if requester_id is not None:
        stmt = stmt.where(CannedSubmission.requester_id == requester_id)
    total = int(await db.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = (
        await db.execute(stmt.order_by(CannedSubmission.id.desc()).offset(offset).limit(limit))
    ).all()
    return [await view(db, s, req or "", dec or "") for s, req, dec in rows], total


async def view(
    db: AsyncSession, s: CannedSubmission, requester_name: str, decided_by_name: str
) -> CannedSubmissionOut:
    return CannedSubmissionOut(
        id=s.id,
        requester_id=s.requester_id,
        requester_name=requester_name,
        source_reply_id=s.source_reply_id,
        category_id=s.category_id,
        category_path=await _path(db, s.category_id),
        text=s.text,
        reason=s.reason,
        state=s.state,
        comment=s.comment,
        decided_by=s.decided_by,
        decided_by_name=decided_by_name,
        decided_at=s.decided_at,
        public_reply_id=s.public_reply_id,
        created_at=s.created_at,
    )


async def view_one(db: AsyncSession, s: CannedSubmission) -> CannedSubmissionOut:
    requester = await db.get(User, s.requester_id)
    decider = await db.get(User, s.decided_by) if s.decided_by else None
    return await view(
        db, s, requester.nickname if requester else "", decider.nickname if decider else ""
    )
