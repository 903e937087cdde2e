"""Export kind "leave_messages" (§14): the list's current filter, in agent mode (the agent's
scope for that view) or admin mode (all). One sheet of messages, one of their comments."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.accounts.models import User
from kefu.conversations.presenters import visitor_name
from kefu.core.errors import ApiError
from kefu.exports.registry import Cell, ExportKind, Sheet, register_export
from kefu.leave_messages import actions
from kefu.leave_messages.models import LeaveMessage, LeaveMessageComment
from kefu.leave_messages.schemas import LeaveFilter
from kefu.visitors.models import Visitor

_STATUS = {
    "unhandled": ("未处理", "Unhandled"),
    "in_progress": ("处理中", "In progress"),
    "resolved": ("已解决", "Resolved"),
}
_ORIGIN = {
    "waiting": ("排队中留言", "While waiting"),
    "reminder": ("排队提醒留言", "Waiting reminder"),
    "off_hours": ("非工作时间", "Off hours"),
}
_HEADERS = {
    "zh-CN": [
        "编号",
        "状态",
        "处理人",
        "访客",
        "称呼",
        "电话",
        "邮箱",
        "主题",
        "内容",
        "渠道",
        "来源",
        "会话ID",
        "评论数",
        "创建时间",
        "更新时间",
    ],
    "en": [
        "Number",
        "Status",
        "Assignee",
        "Visitor",
        "Name",
        "Phone",
        "Email",
        "Subject",
        "Content",
        "Channel",
        "Origin",
        "Conversation ID",
        "Comments",
        "Created",
        "Updated",
    ],
}
_COMMENT_HEADERS = {
    "zh-CN": ["编号", "评论人", "时间", "评论内容"],
    "en": ["Number", "Author", "Time", "Comment"],
}
BATCH = 500


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


def _check(principal: Principal, f: LeaveFilter) -> None:
    page = actions.ADMIN_PAGE if f.mode == "admin" else actions.AGENT_PAGE
    if page not in principal.pages:
        raise ApiError("forbidden")


async def _count(db: AsyncSession, principal: Principal, f: LeaveFilter) -> int:
    _check(principal, f)
    stmt = actions.listing(principal, f)
    return int(await db.scalar(select(func.count()).select_from(stmt.subquery())) or 0)


async def _batches(
    db: AsyncSession, principal: Principal, f: LeaveFilter
) -> AsyncIterator[list[LeaveMessage]]:
    stmt = actions.listing(principal, f)
    offset = 0
    while True:
        rows = list(await db.scalars(stmt.offset(offset).limit(BATCH)))
        if not rows:
            return
        yield rows
        offset += BATCH
        if len(rows) < BATCH:
            return


def _sheets(
    db: AsyncSession,
    principal: Principal,
    f: LeaveFilter,
    lang: str,
    progress: Callable[[int], None],
) -> list[Sheet]:
    _check(principal, f)
    names: dict[int, str] = {}

    async def nickname(user_id: int | None) -> str:
        if user_id is None:
            return ""
        if user_id not in names:
            user = await db.get(User, user_id)
            names[user_id] = user.nickname if user is not None else ""
        return names[user_id]

    async def rows() -> AsyncIterator[list[Cell]]:
        async for batch in _batches(db, principal, f):
            ids = [m.id for m in batch]
            counts = dict(
                (
                    await db.execute(
                        select(LeaveMessageComment.leave_message_id, func.count())
                        .where(LeaveMessageComment.leave_message_id.in_(ids))
                        .group_by(LeaveMessageComment.leave_message_id)
                    )
                ).all()
            )
            vids = {m.visitor_id for m in batch if m.visitor_id is not None}
            visitors = {
                v.id: v for v in await db.scalars(select(Visitor).where(Visitor.id.in_(vids)))
            }
            for m in batch:
                yield [
                    f"#{m.number}",
                    _pick(_STATUS.get(m.status, (m.status, m.status)), lang),
                    await nickname(m.assignee_id),
                    visitor_name(visitors.get(m.visitor_id), m.visitor_id)
                    if m.visitor_id is not None
                    else "",
                    m.name,
                    m.phone,
                    m.email,
                    m.subject,
                    m.content,
                    m.channel,
                    _pick(_ORIGIN.get(m.origin, (m.origin, m.origin)), lang),
                    m.conversation_id,
                    int(counts.get(m.id, 0)),
                    m.created_at,
                    m.updated_at,
                ]
                progress(1)

    async def comment_rows() -> AsyncIterator[list[Cell]]:
        async for batch in _batches(db, principal, f):
            by_id = {m.id: m.number for m in batch}
            comments = await db.scalars(
                select(LeaveMessageComment)
                .where(LeaveMessageComment.leave_message_id.in_(list(by_id)))
                .order_by(LeaveMessageComment.leave_message_id.desc(), LeaveMessageComment.id)
            )
            for c in comments:
                yield [f"#{by_id[c.leave_message_id]}", c.author_name, c.created_at, c.text]

    en = lang == "en"
    return [
        Sheet("Leave messages" if en else "留言", _HEADERS["en" if en else "zh-CN"], rows()),
        Sheet(
            "Comments" if en else "评论", _COMMENT_HEADERS["en" if en else "zh-CN"], comment_rows()
        ),
    ]


def _title(lang: str) -> str:
    return "Leave messages" if lang == "en" else "留言"


async def _count_any(db: AsyncSession, principal: Principal, params: Any) -> int:
    return await _count(db, principal, params)


def _sheets_any(
    db: AsyncSession, principal: Principal, params: Any, lang: str, progress: Callable[[int], None]
) -> list[Sheet]:
    return _sheets(db, principal, params, lang, progress)


LEAVE_MESSAGES = register_export(
    ExportKind(
        kind="leave_messages",
        pages=(actions.AGENT_PAGE, actions.ADMIN_PAGE),
        params_model=LeaveFilter,
        title=_title,
        count=_count_any,
        sheets=_sheets_any,
    )
)
