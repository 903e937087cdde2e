"""Sending a knowledge item into a conversation (§4.2, §8.2).

Per the channel's send mode: a rich card (title, summary, link to the visitor-readable page
/kb/<token>) or the content as text (in parts of at most 5000 characters). The item's
attachments follow as separate file (or image) messages: copies owned by the conversation, so
they keep the 7 × 24 h retention of chat files while the KB's own stay. One send is one
transaction and idempotent: the first message carries the client's id, the others
"<id>:<n>", and a retry answers the messages already sent.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import User
from kefu.attachments.actions import EXPIRE_TIMER, FILE_TTL, storage_for
from kefu.attachments.models import Attachment
from kefu.conversations import actions as conversation_actions
from kefu.conversations.models import Conversation, Message
from kefu.core import clock
from kefu.core.config import Settings
from kefu.core.db import settings_of
from kefu.core.errors import ApiError
from kefu.knowledge import actions, content
from kefu.knowledge import settings as kb_settings
from kefu.knowledge.models import KnowledgeItem
from kefu.workers.scheduler import schedule_timer

TEXT_PART = 5000
MAX_TEXT_PARTS = 20


def share_path(item: KnowledgeItem) -> str:
    return f"/kb/{item.share_token}"


def card_body(item: KnowledgeItem) -> dict[str, Any]:
    """The rich (图文) message: title and summary; the link opens the whole content.

    The link is relative to the Kefu server (clients resolve it against their server's URL),
    so it stays right whatever address the server is reached by.
    """
    return {
        "title": item.title,
        "description": content.summary(item.content_text, 80),
        "url": share_path(item),
        "data": {"type": "knowledge", "item_id": item.id},
    }


def text_parts(item: KnowledgeItem, settings: Settings) -> list[str]:
    text = f"【{item.title}】\n{item.content_text}".strip()
    parts: list[str] = []
    while text:
        if len(text) <= TEXT_PART:
            parts.append(text)
            break
        cut = text.rfind("\n", 0, TEXT_PART)
        cut = cut if cut > TEXT_PART // 2 else TEXT_PART
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip("\n")
    if len(parts) > MAX_TEXT_PARTS:
        tail = f"\n…\n{settings.base_url}{share_path(item)}"
        parts = parts[:MAX_TEXT_PARTS]
        parts[-1] = parts[-1][: TEXT_PART - len(tail)] + tail
    return [p for p in parts if p.strip()]


async def _copy_for(
    db: AsyncSession, settings: Settings, att: Attachment, agent: User, conv: Conversation
) -> Attachment:
    storage = storage_for(settings)
    path = storage.path(att.storage_key)
    if path is None:
        raise ApiError("knowledge_file_not_found")
    key = storage.put(conv.tenant_id, path.read_bytes(), "." + att.storage_key.rsplit(".", 1)[-1])
    now = clock.now()
    copy = Attachment(
        tenant_id=conv.tenant_id,
        kind=att.kind,
        name=att.name,
        content_type=att.content_type,
        size=att.size,
        storage_key=key,
        uploader_type="agent",
        uploader_id=agent.id,
        conversation_id=conv.id,
        created_at=now,
        expires_at=now + FILE_TTL if att.kind == "file" else None,
    )
    db.add(copy)
    await db.flush()
    if copy.expires_at is not None:
        await schedule_timer(
            db,
            tenant_id=conv.tenant_id,
            kind=EXPIRE_TIMER,
            subject_id=copy.id,
            due_at=copy.expires_at,
        )
    return copy


async def _already_sent(
    db: AsyncSession, agent: User, conv: Conversation, client_msg_id: str
) -> list[Message] | None:
    first = await db.scalar(
        select(Message).where(
            Message.tenant_id == conv.tenant_id,
            Message.sender_type == "agent",
            Message.sender_id == agent.id,
            Message.client_msg_id == client_msg_id,
        )
    )
    if first is None:
        return None
    if first.conversation_id != conv.id:
        raise ApiError("client_msg_id_conflict")
    rows = await db.scalars(
        select(Message)
        .where(
            Message.conversation_id == conv.id,
            Message.sender_type == "agent",
            Message.sender_id == agent.id,
            Message.seq > first.seq,
        )
        .order_by(Message.seq)
    )
    rest = [m for m in rows if (m.client_msg_id or "").startswith(client_msg_id + ":")]
    return [first, *rest]


async def send_item(
    db: AsyncSession, agent: User, conv: Conversation, item: KnowledgeItem, client_msg_id: str
) -> tuple[list[Message], bool]:
    """Send the item as the holding agent; (messages, replayed)."""
    found = await _already_sent(db, agent, conv, client_msg_id)
    if found is not None:
        return found, True
    settings = settings_of(db)
    modes = await kb_settings.send_modes(db, conv.tenant_id)
    mode = modes.get(conv.channel, "card")
    sends: list[tuple[str, dict[str, Any]]]
    if mode == "text":
        sends = [("text", {"text": part}) for part in text_parts(item, settings)]
    else:
        sends = [("card", card_body(item))]
    out: list[Message] = []
    n = 0
    for kind, body in sends:
        msg, _ = await conversation_actions.agent_send(
            db,
            agent,
            conv,
            client_msg_id=client_msg_id if n == 0 else f"{client_msg_id}:{n}",
            kind=kind,
            body=body,
        )
        out.append(msg)
        n += 1
    for att in await actions.item_files(db, item):
        copy = await _copy_for(db, settings, att, agent, conv)
        msg, _ = await conversation_actions.agent_send(
            db,
            agent,
            conv,
            client_msg_id=f"{client_msg_id}:{n}",
            kind=copy.kind,
            body={"attachment_id": copy.id},
        )
        out.append(msg)
        n += 1
    return out, False
