"""History as an export job (§3.10, §14): the page's filter, in the page's mode, at most 30,000
conversations. Sheet 1 lists the conversations with the table's columns; sheet 2 their
messages (attachments as absolute download links)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.conversations.models import Conversation, Message
from kefu.conversations.presenters import messages_view
from kefu.core.db import settings_of
from kefu.exports.registry import Cell, ExportKind, Sheet, register_export
from kefu.history import actions
from kefu.history.access import default_mode, visibility
from kefu.history.schemas import HistoryExportParams, HistoryFilterIn, HistoryItemOut

CHUNK = 200
MAX_CONVERSATIONS = 30_000

CHANNEL_WORDS = {
    "web": ("网页", "Web"),
    "app": ("App", "App"),
    "wechat": ("微信", "WeChat"),
    "weibo": ("微博", "Weibo"),
    "phone": ("呼叫中心", "Call centre"),
    "api": ("REST API", "REST API"),
}
TYPE_WORDS = {
    "normal": ("普通会话", "Normal"),
    "callback": ("回呼会话", "Callback"),
    "reassigned": ("分配的会话", "Reassigned"),
    "unaccepted": ("排队中结束", "Ended while waiting"),
}
SENDER_WORDS = {
    "visitor": ("访客", "Visitor"),
    "agent": ("客服", "Agent"),
    "system": ("系统", "System"),
    "whisper": ("耳语", "Whisper"),
}


async def _query(db: AsyncSession, principal: Principal, p: HistoryFilterIn) -> Any:
    mode = p.mode or default_mode(principal)
    visible = await visibility(db, principal, mode)
    actions.check_filter(p, mode)
    return mode, await actions.query(db, principal.tenant_id, visible, p, mode)


async def _count(db: AsyncSession, principal: Principal, p: HistoryFilterIn) -> int:
    _, stmt = await _query(db, principal, p)
    sub = stmt.with_only_columns(Conversation.id).subquery()
    return int(await db.scalar(select(func.count()).select_from(sub)) or 0)


def message_cell(body: dict[str, Any], base_url: str) -> str:
    """A message as one text cell; files and images as absolute links."""
    att = body.get("attachment")
    text = body.get("text")
    if isinstance(att, dict):
        url = att.get("url")
        link = f"{base_url}{url}" if isinstance(url, str) and url.startswith("/") else ""
        name = str(att.get("name") or "")
        expired = "(expired)" if att.get("expired") else ""
        return " ".join(
            x for x in (name, link or expired, text if isinstance(text, str) else "") if x
        )
    if isinstance(text, str):
        return text
    return json.dumps(body, ensure_ascii=False)[:2000]


def _sheets(
    db: AsyncSession,
    principal: Principal,
    p: HistoryFilterIn,
    lang: str,
    progress: Callable[[int], None],
) -> list[Sheet]:
    en = lang == "en"

    def w(pair: tuple[str, str]) -> str:
        return pair[1] if en else pair[0]

    async def pages() -> AsyncIterator[tuple[str, list[Conversation]]]:
        mode, stmt = await _query(db, principal, p)
        offset = 0
        while offset < MAX_CONVERSATIONS:
            convs = list(await db.scalars(actions.order(stmt, p).offset(offset).limit(CHUNK)))
            if not convs:
                return
            yield mode, convs
            offset += CHUNK

    def row(i: HistoryItemOut) -> list[Cell]:
        return [
            i.id,
            i.visitor.name,
            "、".join(a.nickname for a in i.agents),
            i.started_at,
            i.ended_at,
            "、".join(t.name for t in i.session_tags),
            w(("是", "Yes")) if i.transferred else w(("否", "No")),
            w(CHANNEL_WORDS.get(i.channel, (i.channel, i.channel))),
            i.association_id,
            w(TYPE_WORDS[i.session_type]),
            i.rating,
            i.message_count,
        ]

    async def conversations() -> AsyncIterator[list[Cell]]:
        async for mode, convs in pages():
            for item in await actions.items(db, convs, mode=mode, me=principal.user.id):
                yield row(item)

    async def messages() -> AsyncIterator[list[Cell]]:
        base = settings_of(db).base_url
        async for _mode, convs in pages():
            ids = [c.id for c in convs]
            rows = list(
                await db.scalars(
                    select(Message)
                    .where(Message.conversation_id.in_(ids))
                    .order_by(Message.conversation_id, Message.seq)
                )
            )
            by_conv: dict[int, list[dict[str, Any]]] = {c: [] for c in ids}
            for view in await messages_view(db, rows, "staff"):
                by_conv[int(view["conversation_id"])].append(view)
            for cid in ids:
                for m in by_conv[cid]:
                    sender = m["sender"]
                    kind = "whisper" if m.get("whisper") else str(sender.get("type", ""))
                    text = (
                        w(("[已撤回]", "[recalled]"))
                        if m.get("recalled")
                        else message_cell(m["body"], base)
                    )
                    yield [
                        cid,
                        m["created_at"],
                        w(SENDER_WORDS.get(kind, (kind, kind))),
                        str(sender.get("name") or ""),
                        text,
                    ]
                progress(1)

    return [
        Sheet(
            name=w(("会话", "Conversations")),
            headers=[
                w(("会话ID", "Conversation ID")),
                w(("客户", "Customer")),
                w(("接待客服", "Agents")),
                w(("开始时间", "Started")),
                w(("结束时间", "Ended")),
                w(("会话标签", "Session tags")),
                w(("是否转接", "Transferred")),
                w(("渠道", "Channel")),
                w(("关联ID", "Association ID")),
                w(("会话类型", "Session type")),
                w(("满意度", "Rating")),
                w(("消息数", "Messages")),
            ],
            rows=conversations(),
        ),
        Sheet(
            name=w(("消息", "Messages")),
            headers=[
                w(("会话ID", "Conversation ID")),
                w(("时间", "Time")),
                w(("发送方类型", "Sender type")),
                w(("发送方", "Sender")),
                w(("内容", "Content")),
            ],
            rows=messages(),
        ),
    ]


HISTORY = register_export(
    ExportKind(
        kind="history",
        pages=("agent.history", "admin.history"),
        params_model=HistoryExportParams,
        title=lambda lang: "History" if lang == "en" else "历史会话",
        count=_count,
        sheets=_sheets,
        max_units=MAX_CONVERSATIONS,
    )
)
