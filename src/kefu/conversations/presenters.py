"""Turning rows into the Message and Conversation objects of docs/protocol.md."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal, Protocol

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import User
from kefu.attachments.actions import attachment_view
from kefu.attachments.models import Attachment
from kefu.channels.models import Widget
from kefu.conversations.models import Conversation, Message
from kefu.core.db import kept_get, settings_of
from kefu.core.i18n import pick
from kefu.tenants.models import Tenant
from kefu.visitors.models import Visitor

Audience = Literal["staff", "visitor"]


class _Named(Protocol):
    @property
    def name(self) -> str: ...


def visitor_name(visitor: _Named | None, visitor_id: int) -> str:
    if visitor is not None and visitor.name:
        return visitor.name
    return pick(f"访客{visitor_id}", f"Visitor {visitor_id}")


async def messages_view(
    db: AsyncSession,
    messages: Iterable[Message],
    audience: Audience,
    agent_alias: str | None = None,
) -> list[dict[str, Any]]:
    """Messages as clients see them; attachments resolved with fresh signed links.

    `agent_alias`: for visitors of a widget that hides agent nicknames, the name agents appear
    under (the company's), so no nickname or user id reaches the visitor's browser.
    """
    messages = list(messages)
    ids = {m.body.get("attachment_id") for m in messages if "attachment_id" in m.body}
    atts: dict[int, Attachment] = {}
    if ids:
        rows = await db.scalars(select(Attachment).where(Attachment.id.in_(ids)))
        atts = {a.id: a for a in rows}
    settings = settings_of(db)
    out = []
    for m in messages:
        body = dict(m.body)
        att_id = body.pop("attachment_id", None)
        if att_id is not None and att_id in atts:
            body["attachment"] = attachment_view(settings, atts[att_id])
        if audience == "visitor" and m.recalled_at is not None:
            body = {}
        name = m.sender_name
        if m.sender_type == "visitor" and not name and m.sender_id is not None:
            name = visitor_name(None, m.sender_id)
        sender = {"type": m.sender_type, "id": m.sender_id, "name": name}
        if audience == "visitor" and agent_alias is not None and m.sender_type == "agent":
            sender = {"type": "agent", "id": None, "name": agent_alias}
        out.append(
            {
                "id": m.id,
                "conversation_id": m.conversation_id,
                "seq": m.seq,
                "client_msg_id": m.client_msg_id,
                "kind": m.kind,
                "sender": sender,
                "body": body,
                "whisper": m.whisper,
                "recalled": m.recalled_at is not None,
                "created_at": m.created_at,
            }
        )
    return out


async def message_view(
    db: AsyncSession, message: Message, audience: Audience, agent_alias: str | None = None
) -> dict[str, Any]:
    return (await messages_view(db, [message], audience, agent_alias))[0]


async def agent_alias_for(db: AsyncSession, widget_id: int | None) -> str | None:
    """The company name when the widget hides agent nicknames from visitors, else None."""
    if widget_id is None:
        return None
    widget = await kept_get(db, Widget, widget_id)
    if widget is None or widget.show_agent_nickname:
        return None
    tenant = await db.get(Tenant, widget.tenant_id)
    return tenant.name if tenant is not None else ""


# Staff views: each conversation's visitor name and unread count (the visitor's messages after
# the agent's read mark), one statement for the lot, built once.
_STAFF_HEADS = (
    select(
        Conversation.id,
        Visitor.id.label("visitor_id"),
        Visitor.name,
        select(func.count())
        .select_from(Message)
        .where(
            Message.conversation_id == Conversation.id,
            Message.sender_type == "visitor",
            Message.seq > Conversation.agent_read_seq,
        )
        .correlate(Conversation)
        .scalar_subquery()
        .label("unread"),
    )
    .select_from(Conversation)
    .outerjoin(Visitor, Visitor.id == Conversation.visitor_id)
    .where(Conversation.id.in_(bindparam("ids", expanding=True)))
)


async def conversations_view(
    db: AsyncSession,
    convs: Iterable[Conversation],
    audience: Audience,
    *,
    known_agents: Mapping[int, User] | None = None,
) -> list[dict[str, Any]]:
    """`known_agents`: agent rows the caller already holds (not read again)."""
    convs = list(convs)
    if not convs:
        return []
    known: Mapping[int, Any] = known_agents or {}
    agent_ids = {c.agent_id for c in convs if c.agent_id is not None} - known.keys()
    # Only the columns shown: many conversations (a drain pass) would load whole rows.
    visitors: dict[int, Any] = {}
    unread: dict[int, int] = {}
    if audience == "staff":
        # The visitors' names and the unread counts in one statement.
        for row in await db.execute(_STAFF_HEADS, {"ids": [c.id for c in convs]}):
            if row.visitor_id is not None:
                visitors[row.visitor_id] = row
            unread[row.id] = row.unread
    else:
        visitor_ids = {c.visitor_id for c in convs}
        rows = await db.execute(select(Visitor.id, Visitor.name).where(Visitor.id.in_(visitor_ids)))
        visitors = {v.id: v for v in rows}
    agents = dict(known)
    if agent_ids:
        found = await db.execute(select(User.id, User.nickname).where(User.id.in_(agent_ids)))
        agents.update({u.id: u for u in found})
    out = []
    for c in convs:
        agent = agents.get(c.agent_id) if c.agent_id is not None else None
        last = None
        if c.last_message_at is not None:
            last = {
                "kind": c.last_message_kind or "text",
                "preview": c.last_message_preview,
                "at": c.last_message_at,
                "sender_type": c.last_message_sender or "system",
            }
        out.append(
            {
                "id": c.id,
                "state": c.state,
                "channel": c.channel,
                "seq": c.last_seq,
                "visitor": {
                    "id": c.visitor_id,
                    "name": visitor_name(visitors.get(c.visitor_id), c.visitor_id),
                },
                "agent": {"id": agent.id, "nickname": agent.nickname} if agent else None,
                "widget_id": c.widget_id,
                "association_id": c.association_id,
                "created_at": c.created_at,
                "accepted_at": c.accepted_at,
                "ended_at": c.ended_at,
                "last_message": last,
                "unread": unread.get(c.id, 0) if audience == "staff" else None,
                "queue_position": None,
            }
        )
    return out


async def conversation_view(
    db: AsyncSession, conv: Conversation, audience: Audience
) -> dict[str, Any]:
    return (await conversations_view(db, [conv], audience))[0]
