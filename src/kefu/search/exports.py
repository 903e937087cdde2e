"""Search results as an export (§13.1, §14): one row per matching message, admin mode only."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.accounts.models import User
from kefu.conversations.models import Conversation, Message, Segment
from kefu.conversations.presenters import visitor_name
from kefu.exports.registry import Cell, ExportKind, Sheet, register_export
from kefu.search import actions, fts
from kefu.search.reader import search_session
from kefu.search.schemas import SearchParams
from kefu.visitors.models import Visitor

CHUNK = 500


def _admin(p: SearchParams) -> SearchParams:
    return p.model_copy(update={"mode": "admin"})


async def _ids(db: AsyncSession, principal: Principal, p: SearchParams) -> list[int]:
    """Matching message ids, most recent first."""
    p = _admin(p)
    async with search_session(db) as reader:
        visible = await actions.visibility(reader, principal, "admin")
        await actions.custom_plans(reader)
        hits = actions.matching_messages(
            reader.get_bind().dialect.name, principal.tenant_id, visible, p, actions.window(p)
        ).subquery()
        rows = await reader.execute(
            select(hits.c.id).order_by(hits.c.created_at.desc(), hits.c.id.desc())
        )
        return [int(r[0]) for r in rows.all()]


async def _count(db: AsyncSession, principal: Principal, p: SearchParams) -> int:
    return len(await _ids(db, principal, p))


def _sheets(
    db: AsyncSession,
    principal: Principal,
    p: SearchParams,
    lang: str,
    progress: Callable[[int], None],
) -> list[Sheet]:
    en = lang == "en"

    def w(zh: str, english: str) -> str:
        return english if en else zh

    senders = {"visitor": w("访客", "Visitor"), "agent": w("客服", "Agent")}

    async def rows() -> AsyncIterator[list[Cell]]:
        ids = await _ids(db, principal, p)
        for at in range(0, len(ids), CHUNK):
            chunk = ids[at : at + CHUNK]
            msgs = {m.id: m for m in await db.scalars(select(Message).where(Message.id.in_(chunk)))}
            conv_ids = {m.conversation_id for m in msgs.values()}
            convs = {
                c.id: c
                for c in await db.scalars(select(Conversation).where(Conversation.id.in_(conv_ids)))
            }
            visitors = {
                v.id: v
                for v in await db.scalars(
                    select(Visitor).where(Visitor.id.in_({c.visitor_id for c in convs.values()}))
                )
            }
            agents: dict[int, list[str]] = defaultdict(list)
            segs = await db.execute(
                select(Segment.conversation_id, User.nickname)
                .join(User, User.id == Segment.agent_id)
                .where(Segment.conversation_id.in_(conv_ids))
                .order_by(Segment.id)
            )
            for cid, nickname in segs.all():
                if nickname not in agents[cid]:
                    agents[cid].append(nickname)
            names = await actions.attachment_names(db, list(msgs.values()))
            for mid in chunk:
                m = msgs.get(mid)
                if m is None:
                    continue
                c = convs[m.conversation_id]
                sender = senders.get(m.sender_type, m.sender_type)
                who = m.sender_name or (
                    visitor_name(visitors.get(c.visitor_id), c.visitor_id)
                    if m.sender_type == "visitor"
                    else ""
                )
                yield [
                    c.id,
                    m.created_at,
                    visitor_name(visitors.get(c.visitor_id), c.visitor_id),
                    ", ".join(agents[c.id]),
                    f"{sender}: {who}" if who else sender,
                    fts.document(m.kind, m.body, names.get(m.id)),
                ]
                progress(1)

    headers = [
        w("会话ID", "Conversation ID"),
        w("消息时间", "Message time"),
        w("访客", "Visitor"),
        w("客服", "Agent"),
        w("发送方", "Sender"),
        w("消息内容", "Message"),
    ]
    return [Sheet(name=w("搜索结果", "Search results"), headers=headers, rows=rows())]


SEARCH = register_export(
    ExportKind(
        kind="search",
        pages=(actions.ADMIN_PAGE,),
        params_model=SearchParams,
        title=lambda lang: "Search results" if lang == "en" else "搜索结果",
        count=_count,
        sheets=_sheets,
    )
)
