"""Listing ended conversations and presenting one (§3.10, §13.2): filters, columns, detail,
search inside a conversation.

The list is a handful of queries per page whatever its size: one count, one page of
conversations, then one query each for segments, users, visitors, message counts, session tags,
ratings and skill groups of the whole page (no per-row queries).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, false, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.access.scopes import visible_agent_ids
from kefu.accounts.models import User
from kefu.blacklist import actions as blacklist
from kefu.channels.models import Association
from kefu.conversations import actions as conv_actions
from kefu.conversations.models import Conversation, Message, Segment
from kefu.conversations.presenters import messages_view, visitor_name
from kefu.conversations.schemas import AgentRefOut, MessageOut, PartyOut
from kefu.core.errors import ApiError, register_codes
from kefu.csat.models import CsatRating
from kefu.history.access import took_part
from kefu.history.schemas import (
    CsatRecordOut,
    GroupRefOut,
    HistoryDetailOut,
    HistoryFilterIn,
    HistoryItemOut,
    HistoryOptionsOut,
    MessageHitOut,
    MessageSearchOut,
    OptionGroupOut,
    OptionRefOut,
    SegmentOut,
    SessionType,
    TagRefOut,
    TransferRecordOut,
    VisitorInfoOut,
)
from kefu.routing.models import SkillGroup, SkillGroupMember
from kefu.session_tags.models import ConversationTag, SessionTag
from kefu.visitors.models import Visitor

register_codes(
    {
        "history_admin_filter": (
            422,
            "该筛选条件仅在管理员模式下可用：{field}",
            "This filter is only available in admin mode: {field}",
        ),
    }
)

# A search inside one conversation looks at its latest messages up to this many.
SEARCH_SCAN_LIMIT = 5000


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def check_filter(f: HistoryFilterIn, mode: str) -> None:
    """Field errors the model cannot express: an empty range, admin-only filters."""
    if mode != "admin":
        for name in ("agent_name", "rating"):
            if getattr(f, name) not in (None, ""):
                raise ApiError(
                    "history_admin_filter",
                    field=name,
                    fields=[{"field": name, "rule": "admin_only", "message": name}],
                )
    for lo, hi in (("time_from", "time_to"), ("ended_from", "ended_to")):
        a, b = getattr(f, lo), getattr(f, hi)
        if a is not None and b is not None and a >= b:
            raise ApiError(
                "validation_error",
                detail=f"{hi} <= {lo}",
                fields=[{"field": hi, "rule": "after", "message": f"{hi} must be after {lo}"}],
            )


def _has_segment(*conds: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists(select(Segment.id).where(Segment.conversation_id == Conversation.id, *conds))


def _callback() -> ColumnElement[bool]:
    return or_(
        Conversation.routed_by == "callback", _has_segment(Segment.start_reason == "callback")
    )


def _reassigned() -> ColumnElement[bool]:
    return or_(
        Conversation.routed_by == "reassign", _has_segment(Segment.start_reason == "reassigned")
    )


async def _group_condition(db: AsyncSession, tenant_id: int, group_id: int) -> ColumnElement[bool]:
    """Routed or transferred to the group and ended by an agent of the group (§13.2): the
    final participation was served in the group by one of its members. An unknown group (or
    another tenant's) matches nothing."""
    group = await db.scalar(
        select(SkillGroup).where(SkillGroup.id == group_id, SkillGroup.tenant_id == tenant_id)
    )
    if group is None:
        return false()
    if group.builtin is not None:
        # The Ungrouped pool: served outside any group by an agent of no group.
        member = not_(
            exists(
                select(SkillGroupMember.id).where(
                    SkillGroupMember.tenant_id == tenant_id,
                    SkillGroupMember.user_id == Segment.agent_id,
                )
            )
        )
        in_group: ColumnElement[bool] = Segment.skill_group_id.is_(None)
    else:
        member = Segment.agent_id.in_(
            select(SkillGroupMember.user_id).where(SkillGroupMember.skill_group_id == group.id)
        )
        in_group = Segment.skill_group_id == group.id
    return _has_segment(Segment.end_reason == "ended", in_group, member)


async def query(
    db: AsyncSession, tenant_id: int, visible: object, f: HistoryFilterIn, mode: str
) -> Select[Conversation]:
    stmt = select(Conversation).where(
        Conversation.tenant_id == tenant_id, Conversation.state == "ended"
    )
    if visible is not None:
        stmt = stmt.where(visible)  # type: ignore[arg-type]
    if f.conversation_id is not None:
        # Exact search by id: nothing else applies (visibility still does).
        return stmt.where(Conversation.id == f.conversation_id)
    column = Conversation.accepted_at if f.time_basis == "accepted" else Conversation.ended_at
    if f.time_from is not None:
        stmt = stmt.where(column >= f.time_from)
    if f.time_to is not None:
        stmt = stmt.where(column < f.time_to)
    if f.time_basis == "accepted":
        stmt = stmt.where(Conversation.accepted_at.is_not(None))
    if f.ended_from is not None:
        stmt = stmt.where(Conversation.ended_at >= f.ended_from)
    if f.ended_to is not None:
        stmt = stmt.where(Conversation.ended_at < f.ended_to)
    if f.channel:
        stmt = stmt.where(Conversation.channel == f.channel)
    if f.association_id is not None:
        stmt = stmt.where(Conversation.association_id == f.association_id)
    if f.session_tag_ids:
        stmt = stmt.where(
            exists(
                select(ConversationTag.id).where(
                    ConversationTag.conversation_id == Conversation.id,
                    ConversationTag.tenant_id == tenant_id,
                    ConversationTag.tag_id.in_(f.session_tag_ids),
                )
            )
        )
    if f.transferred is not None:
        moved = _has_segment(Segment.end_reason == "transferred_out")
        stmt = stmt.where(moved if f.transferred else not_(moved))
    if f.session_type == "unaccepted":
        stmt = stmt.where(Conversation.accepted_at.is_(None))
    elif f.session_type == "callback":
        stmt = stmt.where(Conversation.accepted_at.is_not(None), _callback())
    elif f.session_type == "reassigned":
        stmt = stmt.where(Conversation.accepted_at.is_not(None), not_(_callback()), _reassigned())
    elif f.session_type == "normal":
        stmt = stmt.where(
            Conversation.accepted_at.is_not(None), not_(_callback()), not_(_reassigned())
        )
    if f.visitor_id is not None:
        stmt = stmt.where(Conversation.visitor_id == f.visitor_id)
    if f.visitor_name:
        names = select(Visitor.id).where(
            Visitor.tenant_id == tenant_id, Visitor.name.ilike(_like(f.visitor_name), escape="\\")
        )
        stmt = stmt.where(Conversation.visitor_id.in_(names))
    if f.skill_group_id is not None:
        stmt = stmt.where(await _group_condition(db, tenant_id, f.skill_group_id))
    if f.agent_id is not None:
        stmt = stmt.where(took_part({f.agent_id}))
    if mode == "admin" and f.agent_name:
        pattern = _like(f.agent_name)
        agents = select(User.id).where(
            User.tenant_id == tenant_id,
            or_(
                User.nickname.ilike(pattern, escape="\\"),
                User.real_name.ilike(pattern, escape="\\"),
            ),
        )
        stmt = stmt.where(_has_segment(Segment.agent_id.in_(agents)))
    if mode == "admin" and f.rating is not None:
        if f.rating == 0:
            stmt = stmt.where(
                not_(
                    exists(
                        select(CsatRating.id).where(
                            CsatRating.conversation_id == Conversation.id,
                            CsatRating.score.is_not(None),
                        )
                    )
                )
            )
        else:
            stmt = stmt.where(
                exists(
                    select(CsatRating.id).where(
                        CsatRating.conversation_id == Conversation.id,
                        CsatRating.score == f.rating,
                    )
                )
            )
    return stmt


def order(stmt: Select[Conversation], f: HistoryFilterIn) -> Select[Conversation]:
    if f.time_basis == "accepted" and f.conversation_id is None:
        return stmt.order_by(Conversation.accepted_at.desc(), Conversation.id.desc())
    return stmt.order_by(Conversation.ended_at.desc(), Conversation.id.desc())


async def page(
    db: AsyncSession,
    *,
    tenant_id: int,
    visible: object,
    f: HistoryFilterIn,
    mode: str,
    me: int,
    offset: int,
    limit: int,
) -> tuple[list[HistoryItemOut], int]:
    """Ended conversations, most recently ended (or accepted) first."""
    stmt = await query(db, tenant_id, visible, f, mode)
    total = int(
        await db.scalar(
            select(func.count()).select_from(stmt.with_only_columns(Conversation.id).subquery())
        )
        or 0
    )
    rows = await db.scalars(order(stmt, f).offset(offset).limit(limit))
    return await items(db, list(rows), mode=mode, me=me), total


def session_type(conv: Conversation, segs: list[Segment]) -> SessionType:
    if conv.accepted_at is None:
        return "unaccepted"
    reasons = {s.start_reason for s in segs}
    if conv.routed_by == "callback" or "callback" in reasons:
        return "callback"
    if conv.routed_by == "reassign" or "reassigned" in reasons:
        return "reassigned"
    return "normal"


async def items(
    db: AsyncSession, convs: list[Conversation], *, mode: str, me: int
) -> list[HistoryItemOut]:
    if not convs:
        return []
    ids = [c.id for c in convs]
    segs = list(
        await db.scalars(
            select(Segment).where(Segment.conversation_id.in_(ids)).order_by(Segment.id)
        )
    )
    by_conv: dict[int, list[Segment]] = defaultdict(list)
    for s in segs:
        by_conv[s.conversation_id].append(s)
    user_ids = {s.agent_id for s in segs if s.agent_id} | {c.agent_id for c in convs if c.agent_id}
    users = (
        {u.id: u for u in await db.scalars(select(User).where(User.id.in_(user_ids)))}
        if user_ids
        else {}
    )
    visitors = {
        v.id: v
        for v in await db.scalars(
            select(Visitor).where(Visitor.id.in_({c.visitor_id for c in convs}))
        )
    }
    rows = await db.execute(
        select(Message.conversation_id, func.count())
        .where(Message.conversation_id.in_(ids), Message.whisper.is_(False))
        .group_by(Message.conversation_id)
    )
    counts: dict[int, int] = {cid: int(n) for cid, n in rows.all()}
    tag_rows = await db.execute(
        select(ConversationTag.conversation_id, SessionTag.id, SessionTag.name, SessionTag.color)
        .join(SessionTag, SessionTag.id == ConversationTag.tag_id)
        .where(ConversationTag.conversation_id.in_(ids))
        .order_by(ConversationTag.id)
    )
    tags: dict[int, list[TagRefOut]] = defaultdict(list)
    for cid, tid, name, color in tag_rows.all():
        tags[cid].append(TagRefOut(id=tid, name=name, color=color))
    ratings: dict[int, int] = {}
    if mode == "admin":
        score_rows = await db.execute(
            select(CsatRating.conversation_id, CsatRating.score).where(
                CsatRating.conversation_id.in_(ids), CsatRating.score.is_not(None)
            )
        )
        ratings = {cid: int(score or 0) for cid, score in score_rows.all()}

    def ref(uid: int | None) -> AgentRefOut | None:
        user = users.get(uid) if uid is not None else None
        return AgentRefOut(id=user.id, nickname=user.nickname) if user is not None else None

    out = []
    for c in convs:
        mine = by_conv[c.id]
        parts: list[AgentRefOut] = []
        for s in mine:
            r = ref(s.agent_id)
            if r is not None and all(p.id != r.id for p in parts):
                parts.append(r)
        own = [s for s in mine if s.agent_id == me] if mode == "agent" else []
        started = (own or mine)[0].started_at if (own or mine) else None
        out.append(
            HistoryItemOut(
                id=c.id,
                channel=c.channel,
                visitor=PartyOut(
                    id=c.visitor_id, name=visitor_name(visitors.get(c.visitor_id), c.visitor_id)
                ),
                agent=ref(c.agent_id),
                agents=parts,
                transferred=any(s.end_reason == "transferred_out" for s in mine),
                widget_id=c.widget_id,
                association_id=c.association_id,
                created_at=c.created_at,
                accepted_at=c.accepted_at,
                ended_at=c.ended_at,
                ended_by=c.ended_by,
                end_reason=c.end_reason,
                message_count=int(counts.get(c.id, 0)),
                started_at=started,
                session_type=session_type(c, mine),
                session_tags=tags.get(c.id, []),
                rating=ratings.get(c.id),
            )
        )
    return out


async def detail(
    db: AsyncSession, conv: Conversation, *, pages: frozenset[str] | set[str], me: int
) -> HistoryDetailOut:
    admin = "admin.history" in pages
    item = (await items(db, [conv], mode="admin" if admin else "agent", me=me))[0]
    visitor = await db.get(Visitor, conv.visitor_id)
    assert visitor is not None
    segs = list(
        await db.scalars(
            select(Segment).where(Segment.conversation_id == conv.id).order_by(Segment.id)
        )
    )
    agent_ids = {s.agent_id for s in segs if s.agent_id}
    users = (
        {u.id: u for u in await db.scalars(select(User).where(User.id.in_(agent_ids)))}
        if agent_ids
        else {}
    )
    group_ids = {s.skill_group_id for s in segs if s.skill_group_id}
    groups = (
        {
            g.id: GroupRefOut(id=g.id, name=g.name)
            for g in await db.scalars(
                select(SkillGroup).where(
                    SkillGroup.id.in_(group_ids), SkillGroup.tenant_id == conv.tenant_id
                )
            )
        }
        if group_ids
        else {}
    )

    def ref(uid: int | None) -> AgentRefOut | None:
        return (
            AgentRefOut(id=uid, nickname=users[uid].nickname)
            if uid is not None and uid in users
            else None
        )

    entry = await blacklist.live_entry(db, conv.tenant_id, conv.visitor_id)
    open_conv = await conv_actions.open_conversation_of(db, conv.visitor_id)
    csat: CsatRecordOut | None = None
    if admin and "admin.history.csat" in pages:
        rating = await db.scalar(select(CsatRating).where(CsatRating.conversation_id == conv.id))
        if rating is not None:
            csat = CsatRecordOut(
                invited_by=rating.invited_by,
                invited_at=rating.invited_at,
                score=rating.score,
                tags=list(rating.tags or []),
                comment=rating.comment,
                rated_at=rating.rated_at,
                rating_count=rating.rating_count,
            )
    transfers: list[TransferRecordOut] | None = None
    if admin and "admin.history.transfers" in pages:
        transfers = []
        for i, s in enumerate(segs):
            if s.end_reason != "transferred_out" or s.ended_at is None:
                continue
            nxt = segs[i + 1] if i + 1 < len(segs) else None
            transfers.append(
                TransferRecordOut(
                    at=s.ended_at,
                    from_agent=ref(s.agent_id),
                    to_agent=ref(nxt.agent_id) if nxt is not None else None,
                    skill_group=(
                        groups.get(nxt.skill_group_id)
                        if nxt is not None and nxt.skill_group_id
                        else None
                    ),
                )
            )
    return HistoryDetailOut(
        **item.model_dump(),
        visitor_info=VisitorInfoOut(
            id=visitor.id,
            name=visitor_name(visitor, visitor.id),
            phone=visitor.phone,
            email=visitor.email,
            remark=visitor.remark,
            vip=visitor.vip,
        ),
        web_info=dict(conv.web_info or {}),
        segments=[
            SegmentOut(
                agent=ref(s.agent_id),
                start_reason=s.start_reason,
                started_at=s.started_at,
                ended_at=s.ended_at,
                end_reason=s.end_reason,
                skill_group=groups.get(s.skill_group_id) if s.skill_group_id else None,
            )
            for s in segs
        ],
        blacklist=await blacklist.view(db, entry) if entry is not None else None,
        open_conversation_id=open_conv.id if open_conv is not None else None,
        csat=csat,
        transfers=transfers,
    )


def message_text(body: dict[str, Any]) -> str:
    """The searchable text of a message body (text, or a file's name)."""
    text = body.get("text")
    if isinstance(text, str):
        return text
    name = body.get("name")
    return name if isinstance(name, str) else ""


def find_offsets(text: str, q: str) -> list[tuple[int, int]]:
    """[start, end) of each case-insensitive, non-overlapping occurrence of `q` in `text`."""
    if not q:
        return []
    hay, needle = text.casefold(), q.casefold()
    if len(hay) != len(text):
        # Case folding changed lengths (e.g. ß): fall back to an exact-case search.
        hay, needle = text, q
    out: list[tuple[int, int]] = []
    start = 0
    while True:
        at = hay.find(needle, start)
        if at < 0:
            return out
        out.append((at, at + len(needle)))
        start = at + len(needle)


async def search_messages(db: AsyncSession, conv: Conversation, q: str) -> MessageSearchOut:
    """Messages of the conversation whose text holds `q` (any case), oldest first."""
    rows = list(
        await db.scalars(
            select(Message)
            .where(
                Message.conversation_id == conv.id,
                Message.recalled_at.is_(None),
            )
            .order_by(Message.seq.desc())
            .limit(SEARCH_SCAN_LIMIT)
        )
    )
    rows.reverse()
    matched: list[tuple[Message, list[tuple[int, int]]]] = []
    for m in rows:
        offsets = find_offsets(message_text(m.body or {}), q)
        if offsets:
            matched.append((m, offsets))
    views = await messages_view(db, [m for m, _ in matched], "staff")
    hits = [
        MessageHitOut(message=MessageOut(**v), offsets=[list(o) for o in offsets])
        for v, (_, offsets) in zip(views, matched, strict=True)
    ]
    return MessageSearchOut(q=q, count=sum(len(h.offsets) for h in hits), hits=hits)


async def options(db: AsyncSession, principal: Principal, mode: str) -> HistoryOptionsOut:
    tenant_id = principal.tenant_id
    groups = list(
        await db.scalars(
            select(SkillGroup).where(SkillGroup.tenant_id == tenant_id).order_by(SkillGroup.id)
        )
    )
    members: dict[int, list[int]] = defaultdict(list)
    for gid, uid in (
        await db.execute(
            select(SkillGroupMember.skill_group_id, SkillGroupMember.user_id).where(
                SkillGroupMember.tenant_id == tenant_id
            )
        )
    ).all():
        members[gid].append(uid)
    assocs = await db.scalars(
        select(Association).where(Association.tenant_id == tenant_id).order_by(Association.id)
    )
    agents: list[OptionRefOut] = []
    if mode == "admin":
        scope = await visible_agent_ids(db, principal, "history")
        stmt = select(User).where(User.tenant_id == tenant_id).order_by(User.nickname, User.id)
        if scope is not None:
            stmt = stmt.where(User.id.in_(scope | {principal.user.id}))
        agents = [OptionRefOut(id=u.id, name=u.nickname) for u in await db.scalars(stmt)]
    return HistoryOptionsOut(
        skill_groups=[
            OptionGroupOut(id=g.id, name=g.name, builtin=g.builtin, member_ids=members[g.id])
            for g in groups
        ],
        associations=[OptionRefOut(id=a.id, name=a.name) for a in assocs],
        agents=agents,
    )
