"""Satisfaction (§10.1): settings, the agent's invitation, the automatic one at the end, the
visitor's rating and its attribution to agents. Validate, write, emit; never commit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.audit.actions import record
from kefu.conversations import actions as conversations
from kefu.conversations.access import shares_broadcast
from kefu.conversations.hooks import Ending
from kefu.conversations.models import Conversation, Message, Segment
from kefu.core import clock
from kefu.core.errors import ApiError, register_codes
from kefu.csat.models import CsatAttribution, CsatRating, CsatSettings
from kefu.csat.schemas import (
    DEFAULT_INVITE_TEXT,
    DEFAULT_STARS,
    AutoInvite,
    CsatSettingsIn,
    CsatSettingsOut,
    RateIn,
    RatingOut,
    StaffCsatOut,
    StarConfig,
    VisitorCsatOut,
)
from kefu.tenants.actions import DEFAULT_SWITCHES
from kefu.tenants.models import Tenant
from kefu.visitors.actions import VisitorPrincipal

# A visitor may rate a conversation until this long after it ended (docs/satisfaction.md).
RATE_WINDOW = timedelta(days=7)
# The one-side rule looks at this many latest messages after acceptance (§10.1).
ONE_SIDE_WINDOW = 50
# Automatic ends after which no invitation goes when csat_no_invite_on_auto_end is on.
SYSTEM_END_REASONS = ("visitor_timeout", "inactive")
# Ends that never get an invitation: the visitor was blacklisted or only left a message.
NO_INVITE_REASONS = ("blacklist", "leave_message", "waiting_timeout")
RESULTS_PAGE = "admin.history.csat"

register_codes(
    {
        "csat_already_invited": (
            409,
            "本次会话已经邀请过评价，每个会话只能邀请一次",
            "A rating invitation was already sent in this conversation (once per conversation)",
        ),
        "csat_already_rated": (
            409,
            "您已评价过本次服务，只保留第一次评价",
            "You already rated this conversation; only the first rating is kept",
        ),
        "csat_not_rateable": (
            409,
            "该会话还没有客服接待，暂时不能评价",
            "This conversation has not been served by an agent yet and cannot be rated",
        ),
        "csat_rating_expired": (
            409,
            "会话结束已超过 7 天，不能再评价",
            "The conversation ended more than 7 days ago and can no longer be rated",
        ),
        "csat_tag_invalid": (
            422,
            "所选标签不属于该星级",
            "A chosen tag does not belong to the chosen star",
        ),
    }
)


def switch(tenant: Tenant, key: str) -> bool:
    return bool((tenant.switches or {}).get(key, DEFAULT_SWITCHES[key]))


# --- settings ---------------------------------------------------------------------------------


async def _settings_row(db: AsyncSession, tenant_id: int) -> CsatSettings | None:
    return await db.scalar(select(CsatSettings).where(CsatSettings.tenant_id == tenant_id))


def _settings_out(row: CsatSettings | None) -> CsatSettingsOut:
    if row is None:
        return CsatSettingsOut(
            auto_invite=AutoInvite(),
            invite_text=DEFAULT_INVITE_TEXT,
            stars=[StarConfig(**s) for s in DEFAULT_STARS],
            updated_at=None,
        )
    return CsatSettingsOut(
        auto_invite=AutoInvite(**(row.auto_invite or {})),
        invite_text=row.invite_text,
        stars=[StarConfig(**s) for s in row.stars],
        updated_at=row.updated_at,
    )


async def get_settings(db: AsyncSession, tenant_id: int) -> CsatSettingsOut:
    return _settings_out(await _settings_row(db, tenant_id))


async def put_settings(
    db: AsyncSession, principal: Principal, body: CsatSettingsIn, ip: str
) -> CsatSettingsOut:
    tenant_id = principal.tenant_id
    row = await _settings_row(db, tenant_id)
    before = _settings_out(row).model_dump(exclude={"updated_at"})
    data = body.model_dump()
    if row is None:
        row = CsatSettings(tenant_id=tenant_id, updated_at=clock.now())
        db.add(row)
    row.auto_invite = data["auto_invite"]
    row.invite_text = data["invite_text"]
    row.stars = data["stars"]
    row.updated_at = clock.now()
    await db.flush()
    changed = {k: {"from": before[k], "to": data[k]} for k in data if before[k] != data[k]}
    if changed:
        record(
            db,
            principal,
            tenant_id=tenant_id,
            action="csat_settings.updated",
            target_type="csat_settings",
            target_id=row.id,
            detail=changed,
            ip=ip,
        )
    return _settings_out(row)


# --- the per-conversation record ----------------------------------------------------------------


async def rating_of(db: AsyncSession, conv: Conversation) -> CsatRating | None:
    return await db.scalar(select(CsatRating).where(CsatRating.conversation_id == conv.id))


def _new_record(conv: Conversation) -> CsatRating:
    return CsatRating(
        tenant_id=conv.tenant_id,
        conversation_id=conv.id,
        visitor_id=conv.visitor_id,
        channel=conv.channel,
        tags=[],
        comment="",
        rating_count=0,
    )


async def _served(db: AsyncSession, conv: Conversation) -> bool:
    """An agent accepted it at some point (or it was shared with a broadcast group)."""
    return conv.accepted_at is not None


async def _send_invite(
    db: AsyncSession, conv: Conversation, rec: CsatRating, by: str, inviter_id: int | None
) -> Message:
    settings = await get_settings(db, conv.tenant_id)
    msg = await conversations.system_message(db, conv, "csat_invite", settings.invite_text)
    rec.invited_by = by
    rec.inviter_id = inviter_id
    rec.invited_at = msg.created_at
    rec.invite_message_id = msg.id
    await db.flush()
    return msg


# --- the agent's invitation -------------------------------------------------------------------


async def invite(db: AsyncSession, principal: Principal, conv: Conversation) -> CsatRating:
    """The holding agent (or a broadcast member) invites the visitor to rate, once (§10.1)."""
    await db.refresh(conv, with_for_update=True)
    holder = conv.agent_id == principal.user.id or await shares_broadcast(db, principal, conv)
    if conv.state != "ongoing":
        raise ApiError("conversation_not_ongoing")
    if not holder:
        raise ApiError("conversation_not_yours")
    rec = await rating_of(db, conv)
    if rec is not None and rec.invited_at is not None:
        raise ApiError("csat_already_invited")
    if rec is None:
        rec = _new_record(conv)
        db.add(rec)
        await db.flush()
    await _send_invite(db, conv, rec, "agent", principal.user.id)
    return rec


# --- the automatic invitation at the end -------------------------------------------------------


async def _one_sided(db: AsyncSession, conv: Conversation) -> bool:
    """Among the last 50 messages since acceptance, not both the visitor and an agent spoke.
    System messages (welcome, greetings, prompts) and whispers belong to neither side."""
    if conv.accepted_at is None:
        return True
    rows = await db.scalars(
        select(Message.sender_type)
        .where(
            Message.conversation_id == conv.id,
            Message.whisper.is_(False),
            Message.created_at >= conv.accepted_at,
        )
        .order_by(Message.seq.desc())
        .limit(ONE_SIDE_WINDOW)
    )
    sides = {s for s in rows if s in ("visitor", "agent")}
    return len(sides) < 2


async def auto_invite_reason(db: AsyncSession, conv: Conversation, ending: Ending) -> str | None:
    """Why no automatic invitation goes out at this end, or None when it does."""
    if not await _served(db, conv):
        return "not_served"
    settings = await get_settings(db, conv.tenant_id)
    channel = getattr(settings.auto_invite, conv.channel, None)
    if channel is None or not channel.enabled:
        return "disabled"
    rec = await rating_of(db, conv)
    if rec is not None and rec.invited_at is not None:
        return "already_invited"
    if rec is not None and rec.rating_count > 0:
        return "already_rated"
    if ending.reason in NO_INVITE_REASONS:
        return "end_reason"
    tenant = await db.get(Tenant, conv.tenant_id)
    assert tenant is not None
    if switch(tenant, "csat_no_invite_on_auto_end") and ending.reason in SYSTEM_END_REASONS:
        return "system_end"
    if switch(tenant, "csat_one_side_no_invite") and await _one_sided(db, conv):
        return "one_side"
    return None


async def invite_at_end(db: AsyncSession, conv: Conversation, ending: Ending) -> None:
    if await auto_invite_reason(db, conv, ending) is not None:
        return
    rec = await rating_of(db, conv)
    if rec is None:
        rec = _new_record(conv)
        db.add(rec)
        await db.flush()
    await _send_invite(db, conv, rec, "auto", None)


# --- the visitor's rating ---------------------------------------------------------------------


def _not_rateable(conv: Conversation) -> str | None:
    if conv.accepted_at is None:
        return "not_served"
    if conv.ended_at is not None and clock.now() - conv.ended_at > RATE_WINDOW:
        return "expired"
    return None


async def rate(db: AsyncSession, vp: VisitorPrincipal, conv: Conversation, body: RateIn) -> None:
    """The visitor rates their conversation, invited or not; repeated ratings replace the
    counted one unless csat_first_rating_only keeps the first (§10.1)."""
    await db.refresh(conv, with_for_update=True)
    why = _not_rateable(conv)
    if why == "not_served":
        raise ApiError("csat_not_rateable")
    if why == "expired":
        raise ApiError("csat_rating_expired")
    settings = await get_settings(db, conv.tenant_id)
    star = next(s for s in settings.stars if s.score == body.score)
    if any(tag not in star.tags for tag in body.tags) or len(set(body.tags)) != len(body.tags):
        raise ApiError("csat_tag_invalid")
    rec = await rating_of(db, conv)
    if rec is None:
        rec = _new_record(conv)
        db.add(rec)
    elif rec.rating_count > 0 and switch(vp.tenant, "csat_first_rating_only"):
        raise ApiError("csat_already_rated")
    now = clock.now()
    rec.score = body.score
    rec.tags = list(body.tags)
    rec.comment = body.comment
    rec.rated_at = now
    rec.first_rated_at = rec.first_rated_at or now
    rec.rating_count += 1
    await db.flush()
    await attribute(db, conv, rec)
    await _tell_staff(db, conv, first=rec.rating_count == 1)


async def _tell_staff(db: AsyncSession, conv: Conversation, *, first: bool) -> None:
    """A staff-only note in the conversation: the visitor rated (never the score, §10.1)."""
    tenant = await db.get(Tenant, conv.tenant_id)
    assert tenant is not None
    text = "访客已提交满意度评价" if first else "访客更新了满意度评价"
    await conversations._store_message(
        db,
        conv,
        sender_type="system",
        sender_id=None,
        sender_name=conversations.dispatcher_name(tenant),
        kind="system",
        body={"code": "csat_rated", "text": text},
        whisper=True,
    )


# --- attribution --------------------------------------------------------------------------------


async def attribute(db: AsyncSession, conv: Conversation, rec: CsatRating) -> None:
    """Give the counted score to every agent with a segment (csat_shared on) or to the last
    agent only (off). Recomputed on each counted rating and when the conversation moves on."""
    if rec.score is None or rec.rated_at is None:
        return
    tenant = await db.get(Tenant, conv.tenant_id)
    assert tenant is not None
    rows = await db.execute(
        select(Segment.id, Segment.agent_id)
        .where(Segment.conversation_id == conv.id, Segment.agent_id.is_not(None))
        .order_by(Segment.started_at, Segment.id)
    )
    ordered: list[int] = []
    for _, agent_id in rows.all():
        if agent_id is None:
            continue
        if agent_id in ordered:
            ordered.remove(agent_id)
        ordered.append(agent_id)
    agents = ordered if switch(tenant, "csat_shared") else ordered[-1:]
    await db.execute(delete(CsatAttribution).where(CsatAttribution.conversation_id == conv.id))
    for agent_id in agents:
        db.add(
            CsatAttribution(
                tenant_id=conv.tenant_id,
                rating_id=rec.id,
                conversation_id=conv.id,
                agent_id=agent_id,
                score=rec.score,
                rated_at=rec.rated_at,
            )
        )
    await db.flush()


async def reattribute(db: AsyncSession, conv: Conversation) -> None:
    rec = await rating_of(db, conv)
    if rec is not None and rec.score is not None:
        await attribute(db, conv, rec)


async def attributed_agents(db: AsyncSession, conversation_id: int) -> list[dict[str, Any]]:
    rows = await db.execute(
        select(CsatAttribution.agent_id, CsatAttribution.score)
        .where(CsatAttribution.conversation_id == conversation_id)
        .order_by(CsatAttribution.agent_id)
    )
    return [{"agent_id": a, "score": s} for a, s in rows.all()]


# --- views ------------------------------------------------------------------------------------


async def visitor_view(
    db: AsyncSession, vp: VisitorPrincipal, conv: Conversation
) -> VisitorCsatOut:
    settings = await get_settings(db, conv.tenant_id)
    rec = await rating_of(db, conv)
    why = _not_rateable(conv)
    rated = rec is not None and rec.rating_count > 0
    if why is None and rated and switch(vp.tenant, "csat_first_rating_only"):
        why = "already_rated"
    rating = None
    if rec is not None and rated and rec.score is not None and rec.rated_at is not None:
        rating = RatingOut(
            score=rec.score, tags=list(rec.tags), comment=rec.comment, rated_at=rec.rated_at
        )
    return VisitorCsatOut(
        conversation_id=conv.id,
        invited=rec is not None and rec.invited_at is not None,
        can_rate=why is None,
        reason=why,
        rating=rating,
        invite_text=settings.invite_text,
        stars=settings.stars,
    )


async def staff_view(db: AsyncSession, principal: Principal, conv: Conversation) -> StaffCsatOut:
    rec = await rating_of(db, conv)
    holder = conv.agent_id == principal.user.id or await shares_broadcast(db, principal, conv)
    invited = rec is not None and rec.invited_at is not None
    rated = rec is not None and rec.rating_count > 0
    results = RESULTS_PAGE in principal.pages and rec is not None and rated
    return StaffCsatOut(
        conversation_id=conv.id,
        invited=invited,
        invited_by=rec.invited_by if rec is not None else None,
        invited_at=rec.invited_at if rec is not None else None,
        can_invite=holder and conv.state == "ongoing" and not invited,
        rated=rated,
        rated_at=rec.rated_at if rec is not None and rated else None,
        rating_count=rec.rating_count if rec is not None else 0,
        score=rec.score if results and rec is not None else None,
        tags=list(rec.tags) if results and rec is not None else None,
        comment=rec.comment if results and rec is not None else None,
        agent_ids=[a["agent_id"] for a in await attributed_agents(db, conv.id)]
        if results
        else None,
    )
