"""Keyword search over the messages of ended conversations (§13.1).

`search()` is the whole query (importable for benchmarks); `matching_messages()` is the statement
of every matching message, shared by the page, its counts and the export. What may be seen is
History's rule (§3.10): agent mode, the conversations I took part in; admin mode, every
conversation of the agents in my History data scope. Only ended conversations are searched:
a result opens the History detail, which shows ended conversations only.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, literal_column, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.access.scopes import visible_agent_ids
from kefu.accounts.models import User
from kefu.attachments.models import Attachment
from kefu.conversations.models import Conversation, Message, Segment
from kefu.conversations.presenters import visitor_name
from kefu.core import clock
from kefu.core.errors import ApiError, register_codes
from kefu.csat.models import CsatRating
from kefu.history import actions as history
from kefu.history.access import took_part
from kefu.search import fts
from kefu.search.schemas import SearchItemOut, SearchMode, SearchOut, SearchParams, SnippetOut
from kefu.session_tags.models import ConversationTag, SessionTag
from kefu.visitors.models import Visitor

register_codes(
    {
        "search_bad_range": (
            422,
            "开始时间必须早于结束时间",
            "The start of the time range must be before its end",
        ),
    }
)

AGENT_PAGE = "agent.search"
ADMIN_PAGE = "admin.search"
DEFAULT_WINDOW = timedelta(days=30)
SNIPPETS = 3
SNIPPET_BEFORE = 30
SNIPPET_LENGTH = 120


def default_mode(principal: Principal) -> SearchMode:
    return "admin" if ADMIN_PAGE in principal.pages else "agent"


async def visibility(
    db: AsyncSession, principal: Principal, mode: SearchMode
) -> ColumnElement[bool] | None:
    """History's visibility (§3.10) behind the Search pages; None: every conversation of the
    tenant. A mode whose page the caller lacks is refused."""
    if mode == "admin":
        if ADMIN_PAGE not in principal.pages:
            raise ApiError("forbidden")
        agents = await visible_agent_ids(db, principal, "history")
        return None if agents is None else took_part(agents | {principal.user.id})
    if AGENT_PAGE not in principal.pages:
        raise ApiError("forbidden")
    return took_part({principal.user.id})


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


def window(p: SearchParams) -> Window:
    end = p.to or clock.now()
    start = p.from_ or end - DEFAULT_WINDOW
    if start >= end:
        raise ApiError("search_bad_range")
    return Window(start, end)


def _like(text: str) -> str:
    return fts.like_pattern(text)


def _unindexed(dialect: str, col: ColumnElement[Any]) -> ColumnElement[Any]:
    """SQLite: the column behind a unary `+`, which keeps the planner from using its indexes
    (SQLite's documented hint), so that the plan starts from the full-text hits and looks the
    messages and conversations up by primary key, instead of walking the whole time window and
    probing the hits once per message. PostgreSQL plans this well on its own."""
    if dialect != "sqlite":
        return col
    table = col.table.name
    return literal_column(f"+{table}.{col.name}", type_=col.type)


def matching_messages(
    dialect: str,
    tenant_id: int,
    visible: ColumnElement[bool] | None,
    p: SearchParams,
    w: Window,
) -> Select[int, int, datetime]:
    """Every matching message: (id, conversation_id, created_at) rows."""
    created_at = _unindexed(dialect, Message.__table__.c.created_at)
    stmt = (
        select(Message.id, Message.conversation_id, Message.created_at)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            fts.matches(dialect, p.q, (w.start, w.end)),
            _unindexed(dialect, Message.__table__.c.tenant_id) == tenant_id,
            created_at >= w.start,
            created_at < w.end,
            Message.whisper.is_(False),
            Message.recalled_at.is_(None),
            _unindexed(dialect, Conversation.__table__.c.tenant_id) == tenant_id,
            _unindexed(dialect, Conversation.__table__.c.state) == "ended",
        )
    )
    if visible is not None:
        stmt = stmt.where(visible)
    if p.channel:
        stmt = stmt.where(Conversation.channel == p.channel)
    if p.association_id is not None:
        stmt = stmt.where(Conversation.association_id == p.association_id)
    if p.session_tag_id is not None:
        tags = select(SessionTag.id).where(
            SessionTag.tenant_id == tenant_id,
            or_(SessionTag.id == p.session_tag_id, SessionTag.parent_id == p.session_tag_id),
        )
        stmt = stmt.where(
            exists(
                select(ConversationTag.id).where(
                    ConversationTag.conversation_id == Conversation.id,
                    ConversationTag.tag_id.in_(tags),
                )
            )
        )
    if p.agent_name:
        agents = select(User.id).where(
            User.tenant_id == tenant_id,
            or_(
                User.nickname.ilike(_like(p.agent_name), escape="\\"),
                User.real_name.ilike(_like(p.agent_name), escape="\\"),
            ),
        )
        stmt = stmt.where(
            exists(
                select(Segment.id).where(
                    Segment.conversation_id == Conversation.id, Segment.agent_id.in_(agents)
                )
            )
        )
    if p.visitor_name:
        names = select(Visitor.id).where(
            Visitor.tenant_id == tenant_id,
            Visitor.name.ilike(_like(p.visitor_name), escape="\\"),
        )
        stmt = stmt.where(Conversation.visitor_id.in_(names))
    if p.rating is not None:
        stmt = stmt.where(
            exists(
                select(CsatRating.id).where(
                    CsatRating.conversation_id == Conversation.id, CsatRating.score == p.rating
                )
            )
        )
    return stmt


def _dialect(db: AsyncSession) -> str:
    return db.get_bind().dialect.name


async def custom_plans(db: AsyncSession) -> None:
    """PostgreSQL: plan every search statement for its own parameters, for the rest of this
    transaction. asyncpg prepares its statements, and after five runs PostgreSQL may switch to
    a generic plan, which knows neither the query text nor the window and scans the window
    instead of using the search indexes."""
    if _dialect(db) == "postgresql":
        await db.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


async def search(
    db: AsyncSession,
    principal: Principal,
    p: SearchParams,
    *,
    page: int = 1,
    page_size: int = 20,
) -> SearchOut:
    """One page of matching conversations, the one with the latest matching message first."""
    mode = p.mode or default_mode(principal)
    visible = await visibility(db, principal, mode)
    w = window(p)
    await custom_plans(db)
    hits = matching_messages(_dialect(db), principal.tenant_id, visible, p, w).subquery()
    grouped = (
        select(
            hits.c.conversation_id,
            func.count().label("n"),
            func.max(hits.c.created_at).label("last"),
        )
        .group_by(hits.c.conversation_id)
        .subquery()
    )
    # One pass: the page and, with window functions, the totals of the whole result.
    rows = (
        await db.execute(
            select(
                grouped.c.conversation_id,
                grouped.c.n,
                grouped.c.last,
                func.count().over(),
                func.sum(grouped.c.n).over(),
            )
            .order_by(grouped.c.last.desc(), grouped.c.conversation_id.desc())
            .offset((page - 1) * page_size)
            .limit(page_size)
        )
    ).all()
    if rows:
        total, total_messages = rows[0][3], rows[0][4]
    else:  # past the last page (or nothing found): count without the page
        total, total_messages = (
            await db.execute(select(func.count(), func.coalesce(func.sum(grouped.c.n), 0)))
        ).one()
    found = [(r[0], int(r[1]), r[2]) for r in rows]
    items = await _items(db, principal, mode, visible, p, w, found)
    return SearchOut(
        items=items,
        total=int(total),
        total_messages=int(total_messages),
        page=page,
        page_size=page_size,
        window_from=w.start,
        window_to=w.end,
    )


async def _items(
    db: AsyncSession,
    principal: Principal,
    mode: SearchMode,
    visible: ColumnElement[bool] | None,
    p: SearchParams,
    w: Window,
    rows: list[tuple[int, int, datetime]],
) -> list[SearchItemOut]:
    if not rows:
        return []
    ids = [cid for cid, _, _ in rows]
    convs = {
        c.id: c for c in await db.scalars(select(Conversation).where(Conversation.id.in_(ids)))
    }
    listed = {
        i.id: i
        for i in await history.items(
            db, [convs[cid] for cid in ids], mode=mode, me=principal.user.id
        )
    }
    # The first matching messages of each conversation on the page.
    hits = (
        matching_messages(_dialect(db), principal.tenant_id, visible, p, w)
        .where(Message.conversation_id.in_(ids))
        .add_columns(
            func.row_number()
            .over(partition_by=Message.conversation_id, order_by=Message.seq)
            .label("rn")
        )
        .subquery()
    )
    first = select(hits.c.id).where(hits.c.rn <= SNIPPETS)
    messages = list(
        await db.scalars(select(Message).where(Message.id.in_(first)).order_by(Message.seq))
    )
    names = await attachment_names(db, messages)
    snippets: dict[int, list[SnippetOut]] = defaultdict(list)
    for m in messages:
        snippets[m.conversation_id].append(snippet(m, names.get(m.id), p.q))
    return [
        SearchItemOut(
            conversation=listed[cid], match_count=n, last_match_at=last, snippets=snippets[cid]
        )
        for cid, n, last in rows
    ]


async def attachment_names(db: AsyncSession, messages: list[Message]) -> dict[int, str]:
    """message id → the file name of its attachment (file and image messages)."""
    wanted = {
        m.id: int(m.body["attachment_id"])
        for m in messages
        if m.kind in ("file", "image") and isinstance(m.body.get("attachment_id"), int)
    }
    if not wanted:
        return {}
    rows = await db.execute(
        select(Attachment.id, Attachment.name).where(Attachment.id.in_(set(wanted.values())))
    )
    by_id = {aid: name for aid, name in rows.all()}
    return {mid: by_id[aid] for mid, aid in wanted.items() if aid in by_id}


def find_all(text: str, query: str) -> list[tuple[int, int]]:
    """[start, end) of every non-overlapping occurrence, A–Z folded like the index."""
    folded, needle = fts.fold(text), fts.fold(query)
    return [(m.start(), m.end()) for m in re.finditer(re.escape(needle), folded)]


def snippet(m: Message, attachment_name: str | None, query: str) -> SnippetOut:
    doc = fts.document(m.kind, m.body, attachment_name)
    found = find_all(doc, query)
    start = 0
    if found and len(doc) > SNIPPET_LENGTH:
        start = max(0, min(found[0][0] - SNIPPET_BEFORE, len(doc) - SNIPPET_LENGTH))
    end = min(len(doc), start + SNIPPET_LENGTH)
    text = doc[start:end]
    return SnippetOut(
        message_id=m.id,
        seq=m.seq,
        created_at=m.created_at,
        sender_type=m.sender_type,
        sender_name=m.sender_name
        or (visitor_name(None, m.sender_id) if m.sender_type == "visitor" and m.sender_id else ""),
        kind=m.kind,
        text=text,
        cut_start=start > 0,
        cut_end=end < len(doc),
        highlights=[[a - start, b - start] for a, b in found if a >= start and b <= end],
    )
