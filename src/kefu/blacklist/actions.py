"""Blacklisting visitors (§3.9): add (or request), decide, remove, and the send-time check.

A blacklisted visitor may still send: the message is accepted and kept in
`blacklist_messages` for audit, the widget shows it sent, and no conversation opens. The visitor
is never told. Removing the entry restores normal behaviour for the next message.
The caller owns the transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal, role_pages
from kefu.accounts.models import User
from kefu.audit.actions import record
from kefu.blacklist.models import BlacklistEntry, BlockedMessage
from kefu.blacklist.schemas import BlacklistEntryOut, PersonRef
from kefu.conversations import actions as conv_actions
from kefu.conversations.models import Conversation, Message
from kefu.conversations.presenters import visitor_name
from kefu.core import clock
from kefu.core.errors import ApiError, field_error, register_codes
from kefu.notifications.actions import notify
from kefu.roles.models import Role
from kefu.tenants.actions import DEFAULT_SWITCHES
from kefu.visitors.actions import VisitorPrincipal
from kefu.visitors.models import Visitor

register_codes(
    {
        "visitor_blacklisted": (
            409,
            "该访客已在黑名单中",
            "This visitor is on the blacklist",
        ),
        "blacklist_request_pending": (
            409,
            "该访客已有一个等待审批的黑名单申请",
            "A blacklist request for this visitor is already waiting for approval",
        ),
        "blacklist_request_closed": (
            409,
            "该黑名单申请已处理",
            "This blacklist request was already decided",
        ),
        "blacklist_not_active": (
            409,
            "该记录不在黑名单中（未生效或已移除）",
            "This entry is not in effect (pending, rejected or already removed)",
        ),
    }
)

# Deciding requests and removing entries: the Customer center admin page (Blacklist tab).
DECIDER_PAGE = "admin.customers"
SWITCH = "blacklist_approval"
# Message ids shown to a blacklisted visitor's widget: far above any real message id, so the
# widget keeps them in order after its messages and never confuses them with real ones.
SHOWN_ID_BASE = 2**52


def is_decider(principal: Principal) -> bool:
    """Admins (and roles with the Customer center admin page) apply additions at once."""
    return principal.is_admin or DECIDER_PAGE in principal.pages


def needs_approval(principal: Principal) -> bool:
    switches = principal.tenant.switches or {}
    return bool(switches.get(SWITCH, DEFAULT_SWITCHES[SWITCH])) and not is_decider(principal)


async def live_entry(db: AsyncSession, tenant_id: int, visitor_id: int) -> BlacklistEntry | None:
    """The visitor's pending or active entry."""
    return await db.scalar(
        select(BlacklistEntry).where(
            BlacklistEntry.tenant_id == tenant_id,
            BlacklistEntry.visitor_id == visitor_id,
            BlacklistEntry.state.in_(("pending", "active")),
        )
    )


async def active_entry(db: AsyncSession, tenant_id: int, visitor_id: int) -> BlacklistEntry | None:
    entry = await live_entry(db, tenant_id, visitor_id)
    return entry if entry is not None and entry.state == "active" else None


async def ensure_not_blacklisted(db: AsyncSession, tenant_id: int, visitor_id: int) -> None:
    """For staff-made conversations (callback, reassign): refuse a blacklisted visitor."""
    if await active_entry(db, tenant_id, visitor_id) is not None:
        raise ApiError("visitor_blacklisted")


async def decider_ids(db: AsyncSession, *, tenant_id: int) -> list[int]:
    rows = await db.execute(
        select(User.id, Role)
        .join(Role, Role.id == User.role_id)
        .where(User.tenant_id == tenant_id, User.enabled.is_(True))
        .order_by(User.id)
    )
    return [uid for uid, role in rows.all() if DECIDER_PAGE in role_pages(role)]


async def _end_open(
    db: AsyncSession, tenant_id: int, visitor_id: int, actor: User, *, admin: bool
) -> int | None:
    """End the visitor's waiting or ongoing conversation, reason `blacklist`: by its holder,
    an admin, or else the system (an agent blacklisting from history)."""
    conv = await conv_actions.open_conversation_of(db, visitor_id)
    if conv is None or conv.tenant_id != tenant_id:
        return None
    by = "agent" if conv.agent_id == actor.id else "admin" if admin else "system"
    await conv_actions.end(db, conv, by=by, actor_id=actor.id, reason="blacklist")
    return conv.id


async def add(
    db: AsyncSession,
    principal: Principal,
    visitor: Visitor,
    reason: str,
    *,
    conversation: Conversation | None,
    ip: str,
) -> tuple[BlacklistEntry, int | None]:
    """Blacklist `visitor`, or file a request when the approval switch says so.

    Returns the entry and the id of the conversation that ended because of it, if any."""
    reason = reason.strip()
    if not reason:
        raise field_error("reason", "required", "请填写原因", "give a reason")
    existing = await live_entry(db, principal.tenant_id, visitor.id)
    if existing is not None:
        raise ApiError(
            "visitor_blacklisted" if existing.state == "active" else "blacklist_request_pending"
        )
    user = principal.user
    now = clock.now()
    pending = needs_approval(principal)
    entry = BlacklistEntry(
        tenant_id=principal.tenant_id,
        visitor_id=visitor.id,
        reason=reason,
        state="pending" if pending else "active",
        conversation_id=conversation.id if conversation is not None else None,
        requested_by=user.id,
        requested_at=now,
        decided_by=None if pending else user.id,
        decided_at=None if pending else now,
        comment="",
    )
    db.add(entry)
    await db.flush()
    ended = None
    if pending:
        for admin_id in await decider_ids(db, tenant_id=principal.tenant_id):
            await notify(
                db,
                tenant_id=principal.tenant_id,
                user_id=admin_id,
                kind="blacklist_requested",
                data={
                    "entry_id": entry.id,
                    "visitor_id": visitor.id,
                    "visitor_name": visitor_name(visitor, visitor.id),
                    "requester_id": user.id,
                    "requester_name": user.nickname,
                    "reason": reason,
                },
            )
    else:
        ended = await _end_open(
            db, principal.tenant_id, visitor.id, user, admin=is_decider(principal)
        )
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="blacklist.requested" if pending else "blacklist.added",
        target_type="visitor",
        target_id=visitor.id,
        detail={"entry_id": entry.id, "reason": reason},
        ip=ip,
    )
    return entry, ended


async def decide(
    db: AsyncSession,
    principal: Principal,
    entry: BlacklistEntry,
    *,
    approve: bool,
    comment: str,
    ip: str,
) -> BlacklistEntry:
    """An admin accepts (the blacklisting applies now) or rejects an agent's request."""
    if entry.state != "pending":
        raise ApiError("blacklist_request_closed")
    actor = principal.user
    entry.state = "active" if approve else "rejected"
    entry.decided_by = actor.id
    entry.decided_at = clock.now()
    entry.comment = comment
    if approve:
        await _end_open(db, entry.tenant_id, entry.visitor_id, actor, admin=True)
    visitor = await db.get(Visitor, entry.visitor_id)
    if entry.requested_by is not None:
        await notify(
            db,
            tenant_id=entry.tenant_id,
            user_id=entry.requested_by,
            kind="blacklist_decided",
            data={
                "entry_id": entry.id,
                "visitor_id": entry.visitor_id,
                "visitor_name": visitor_name(visitor, entry.visitor_id),
                "decision": "approved" if approve else "rejected",
                "comment": comment,
                "actor_id": actor.id,
                "actor_name": actor.nickname,
            },
        )
    record(
        db,
        principal,
        tenant_id=entry.tenant_id,
        action="blacklist.approved" if approve else "blacklist.rejected",
        target_type="visitor",
        target_id=entry.visitor_id,
        detail={"entry_id": entry.id, "comment": comment},
        ip=ip,
    )
    return entry


async def remove(
    db: AsyncSession, principal: Principal, entry: BlacklistEntry, *, ip: str
) -> BlacklistEntry:
    """Take the visitor off the blacklist: their next message opens a conversation again."""
    if entry.state != "active":
        raise ApiError("blacklist_not_active")
    entry.state = "removed"
    entry.removed_by = principal.user.id
    entry.removed_at = clock.now()
    record(
        db,
        principal,
        tenant_id=entry.tenant_id,
        action="blacklist.removed",
        target_type="visitor",
        target_id=entry.visitor_id,
        detail={"entry_id": entry.id},
        ip=ip,
    )
    return entry


async def intercept(
    db: AsyncSession,
    vp: VisitorPrincipal,
    *,
    client_msg_id: str,
    kind: str,
    body: dict[str, Any],
    content: str,
) -> tuple[Message, bool] | None:
    """Called by `visitor_send` when the visitor has no open conversation.

    For a blacklisted visitor (or a retry of a message kept while they were), keep the message
    and answer with an unsaved Message the widget shows as sent; otherwise None (carry on)."""
    kept = await db.scalar(
        select(BlockedMessage).where(
            BlockedMessage.tenant_id == vp.tenant_id,
            BlockedMessage.visitor_id == vp.visitor.id,
            BlockedMessage.client_msg_id == client_msg_id,
        )
    )
    if kept is not None:
        if kept.content_digest != content:
            raise ApiError("client_msg_id_conflict")
        return _shown(kept, vp), True
    entry = await active_entry(db, vp.tenant_id, vp.visitor.id)
    if entry is None:
        return None
    kept = BlockedMessage(
        tenant_id=vp.tenant_id,
        visitor_id=vp.visitor.id,
        entry_id=entry.id,
        client_msg_id=client_msg_id,
        kind=kind,
        body=body,
        content_digest=content,
        created_at=clock.now(),
    )
    db.add(kept)
    await db.flush()
    return _shown(kept, vp), False


def _shown(kept: BlockedMessage, vp: VisitorPrincipal) -> Message:
    """What the visitor's widget receives: a message of no conversation (id 0), never stored
    in `messages`."""
    return Message(
        id=SHOWN_ID_BASE + kept.id,
        tenant_id=kept.tenant_id,
        conversation_id=0,
        seq=0,
        sender_type="visitor",
        sender_id=vp.visitor.id,
        sender_name=vp.visitor.name,
        kind=kept.kind,
        body=dict(kept.body),
        whisper=False,
        client_msg_id=kept.client_msg_id,
        content_digest=kept.content_digest,
        created_at=kept.created_at,
        recalled_at=None,
    )


# --- reading -----------------------------------------------------------------------------------
def listing(tenant_id: int) -> Select[BlacklistEntry]:
    return select(BlacklistEntry).where(BlacklistEntry.tenant_id == tenant_id)


async def page(
    db: AsyncSession,
    *,
    tenant_id: int,
    state: str,
    visitor_id: int | None,
    offset: int,
    limit: int,
) -> tuple[list[BlacklistEntry], int]:
    stmt = listing(tenant_id)
    if state != "all":
        stmt = stmt.where(BlacklistEntry.state == state)
    if visitor_id is not None:
        stmt = stmt.where(BlacklistEntry.visitor_id == visitor_id)
    total = int(await db.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = await db.scalars(stmt.order_by(BlacklistEntry.id.desc()).offset(offset).limit(limit))
    return list(rows), total


async def views(db: AsyncSession, entries: list[BlacklistEntry]) -> list[BlacklistEntryOut]:
    if not entries:
        return []
    user_ids = {
        u for e in entries for u in (e.requested_by, e.decided_by, e.removed_by) if u is not None
    }
    users = (
        {u.id: u for u in await db.scalars(select(User).where(User.id.in_(user_ids)))}
        if user_ids
        else {}
    )
    visitors = {
        v.id: v
        for v in await db.scalars(
            select(Visitor).where(Visitor.id.in_({e.visitor_id for e in entries}))
        )
    }

    def ref(uid: int | None) -> PersonRef | None:
        user = users.get(uid) if uid is not None else None
        return PersonRef(id=user.id, nickname=user.nickname) if user is not None else None

    return [
        BlacklistEntryOut(
            id=e.id,
            visitor_id=e.visitor_id,
            visitor_name=visitor_name(visitors.get(e.visitor_id), e.visitor_id),
            reason=e.reason,
            state=e.state,
            conversation_id=e.conversation_id,
            requested_by=ref(e.requested_by),
            requested_at=e.requested_at,
            decided_by=ref(e.decided_by),
            decided_at=e.decided_at,
            comment=e.comment,
            removed_by=ref(e.removed_by),
            removed_at=e.removed_at,
        )
        for e in entries
    ]


async def view(db: AsyncSession, entry: BlacklistEntry) -> BlacklistEntryOut:
    return (await views(db, [entry]))[0]
