"""Visitor tags (§9.2): admins define them, staff apply them; VIP flag of a visitor (§3.3)."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.accounts.models import User
from kefu.audit.actions import record
from kefu.conversations.access import staff_can_see
from kefu.conversations.models import Conversation
from kefu.core import clock
from kefu.core.errors import ApiError, register_codes
from kefu.events.bus import emit
from kefu.events.types import VisitorTagsChanged
from kefu.notifications.actions import notify
from kefu.routing.models import DispatchSettings, RoutingRule
from kefu.tags.models import VisitorTag, VisitorTagLink
from kefu.tags.schemas import VisitorTagIn, VisitorTagPatch
from kefu.visitors.actions import update_profile
from kefu.visitors.models import Visitor
from kefu.visitors.schemas import VisitorPatch

MAX_TAGS_PER_TENANT = 1000

register_codes(
    {
        "visitor_tag_name_taken": (
            409,
            "已有同名的访客标签",
            "A visitor tag with this name already exists",
        ),
        "visitor_tag_limit": (
            409,
            "访客标签最多 {limit} 个，请先删除不用的标签",
            "You can have at most {limit} visitor tags; delete unused ones first",
        ),
    }
)


# --- definitions (admin.settings.visitor_tags) -------------------------------------------


async def list_tags(db: AsyncSession, tenant_id: int) -> list[VisitorTag]:
    rows = await db.scalars(
        select(VisitorTag)
        .where(VisitorTag.tenant_id == tenant_id)
        .order_by(VisitorTag.name, VisitorTag.id)
    )
    return list(rows)


async def get_tag(db: AsyncSession, principal: Principal, tag_id: int) -> VisitorTag:
    tag = await db.scalar(
        select(VisitorTag).where(
            VisitorTag.id == tag_id, VisitorTag.tenant_id == principal.tenant_id
        )
    )
    if tag is None:
        raise ApiError("not_found")
    return tag


async def _name_free(db: AsyncSession, tenant_id: int, name: str, exclude: int | None) -> None:
    query = select(VisitorTag.id).where(VisitorTag.tenant_id == tenant_id, VisitorTag.name == name)
    if exclude is not None:
        query = query.where(VisitorTag.id != exclude)
    if await db.scalar(query) is not None:
        raise ApiError("visitor_tag_name_taken")


async def create_tag(
    db: AsyncSession, principal: Principal, body: VisitorTagIn, ip: str
) -> VisitorTag:
    count = await db.scalar(
        select(func.count())
        .select_from(VisitorTag)
        .where(VisitorTag.tenant_id == principal.tenant_id)
    )
    if (count or 0) >= MAX_TAGS_PER_TENANT:
        raise ApiError("visitor_tag_limit", limit=MAX_TAGS_PER_TENANT)
    await _name_free(db, principal.tenant_id, body.name, None)
    tag = VisitorTag(
        tenant_id=principal.tenant_id, name=body.name, color=body.color, created_at=clock.now()
    )
    db.add(tag)
    await db.flush()
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="visitor_tag.created",
        target_type="visitor_tag",
        target_id=tag.id,
        detail={"name": tag.name, "color": tag.color},
        ip=ip,
    )
    return tag


async def update_tag(
    db: AsyncSession, principal: Principal, tag: VisitorTag, patch: VisitorTagPatch, ip: str
) -> None:
    changes = {
        k: v for k, v in patch.model_dump(exclude_unset=True).items() if getattr(tag, k) != v
    }
    if not changes:
        return
    if "name" in changes:
        await _name_free(db, principal.tenant_id, changes["name"], tag.id)
    detail = {k: {"from": getattr(tag, k), "to": v} for k, v in changes.items()}
    for field, value in changes.items():
        setattr(tag, field, value)
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="visitor_tag.updated",
        target_type="visitor_tag",
        target_id=tag.id,
        detail=detail,
        ip=ip,
    )


async def delete_tag(db: AsyncSession, principal: Principal, tag: VisitorTag, ip: str) -> None:
    """Delete the tag, take it off every visitor and out of the routing rules and levels."""
    tenant_id = principal.tenant_id
    # Visitors whose waiting conversation may move in the queue once the tag is gone.
    waiting = await db.scalars(
        select(VisitorTagLink.visitor_id)
        .join(Conversation, Conversation.visitor_id == VisitorTagLink.visitor_id)
        .where(
            VisitorTagLink.tag_id == tag.id,
            Conversation.tenant_id == tenant_id,
            Conversation.state == "waiting",
        )
        .distinct()
    )
    affected = sorted(set(waiting))
    rules = await db.scalars(
        select(RoutingRule).where(RoutingRule.tenant_id == tenant_id).with_for_update()
    )
    touched_rules = []
    for rule in rules:
        if tag.id in (rule.tag_ids or []):
            rule.tag_ids = [t for t in rule.tag_ids if t != tag.id]
            rule.updated_at = clock.now()
            touched_rules.append(rule.id)
    settings = await db.scalar(
        select(DispatchSettings).where(DispatchSettings.tenant_id == tenant_id).with_for_update()
    )
    in_levels = False
    if settings is not None and any(tag.id in (lvl or []) for lvl in settings.priority_levels):
        settings.priority_levels = [
            [t for t in (lvl or []) if t != tag.id] for lvl in settings.priority_levels
        ]
        settings.updated_at = clock.now()
        in_levels = True
    record(
        db,
        principal,
        tenant_id=tenant_id,
        action="visitor_tag.deleted",
        target_type="visitor_tag",
        target_id=tag.id,
        detail={"name": tag.name, "routing_rules": touched_rules, "priority_levels": in_levels},
        ip=ip,
    )
    await db.execute(delete(VisitorTagLink).where(VisitorTagLink.tag_id == tag.id))
    await db.delete(tag)
    for visitor_id in affected:
        emit(db, VisitorTagsChanged(tenant_id=tenant_id, visitor_id=visitor_id))


# --- a visitor's tags and VIP flag (staff who see the visitor) ----------------------------


async def visitor_for_staff(db: AsyncSession, principal: Principal, visitor_id: int) -> Visitor:
    """A visitor of the caller's tenant whose conversations the caller may see; else 404."""
    visitor = await db.scalar(
        select(Visitor).where(Visitor.id == visitor_id, Visitor.tenant_id == principal.tenant_id)
    )
    if visitor is None:
        raise ApiError("not_found")
    # Staff who can see one of the visitor's (recent) conversations (the customer center with
    # its own scopes comes later).
    convs = await db.scalars(
        select(Conversation)
        .where(Conversation.visitor_id == visitor.id, Conversation.tenant_id == visitor.tenant_id)
        .order_by(Conversation.id.desc())
        .limit(50)
    )
    for conv in list(convs):
        if await staff_can_see(db, principal, conv):
            return visitor
    raise ApiError("not_found")


async def visitor_tags(db: AsyncSession, visitor: Visitor) -> list[VisitorTag]:
    rows = await db.scalars(
        select(VisitorTag)
        .join(VisitorTagLink, VisitorTagLink.tag_id == VisitorTag.id)
        .where(VisitorTagLink.visitor_id == visitor.id, VisitorTag.tenant_id == visitor.tenant_id)
        .order_by(VisitorTag.name, VisitorTag.id)
    )
    return list(rows)


async def set_visitor_tags(db: AsyncSession, visitor: Visitor, tag_ids: list[int]) -> bool:
    """Replace the visitor's tags; an id that is not a tag of the tenant is a 404. Returns
    whether anything changed."""
    wanted = set(tag_ids)
    if wanted:
        found = set(
            await db.scalars(
                select(VisitorTag.id).where(
                    VisitorTag.tenant_id == visitor.tenant_id, VisitorTag.id.in_(wanted)
                )
            )
        )
        if found != wanted:
            raise ApiError("not_found")
    current = set(
        await db.scalars(
            select(VisitorTagLink.tag_id).where(VisitorTagLink.visitor_id == visitor.id)
        )
    )
    if current == wanted:
        return False
    gone = current - wanted
    if gone:
        await db.execute(
            delete(VisitorTagLink).where(
                VisitorTagLink.visitor_id == visitor.id, VisitorTagLink.tag_id.in_(gone)
            )
        )
    now = clock.now()
    for tag_id in sorted(wanted - current):
        db.add(
            VisitorTagLink(
                tenant_id=visitor.tenant_id, visitor_id=visitor.id, tag_id=tag_id, created_at=now
            )
        )
    await db.flush()
    emit(db, VisitorTagsChanged(tenant_id=visitor.tenant_id, visitor_id=visitor.id))
    return True


async def notify_visitor_tags_changed(db: AsyncSession, visitor: Visitor, actor: User) -> None:
    """§9.2, §15.1: when someone other than the agent holding the visitor's conversation (or,
    with none open, the agent of the last one) changes the visitor's tags, tell that agent."""
    conv = await db.scalar(
        select(Conversation)
        .where(
            Conversation.tenant_id == visitor.tenant_id,
            Conversation.visitor_id == visitor.id,
            Conversation.agent_id.is_not(None),
        )
        .order_by((Conversation.state == "ended").asc(), Conversation.id.desc())
        .limit(1)
    )
    if conv is None or conv.agent_id is None or conv.agent_id == actor.id:
        return
    await notify(
        db,
        tenant_id=visitor.tenant_id,
        user_id=conv.agent_id,
        kind="visitor_tags_changed",
        data={
            "visitor_id": visitor.id,
            "visitor_name": visitor.name,
            "conversation_id": conv.id,
            "tags": [t.name for t in await visitor_tags(db, visitor)],
            "actor_id": actor.id,
            "actor_name": actor.nickname,
        },
    )


def patch_visitor(db: AsyncSession, visitor: Visitor, patch: VisitorPatch) -> None:
    """Edit the profile; a change of the VIP flag may move the visitor in the queue."""
    was_vip = visitor.vip
    update_profile(visitor, patch)
    if visitor.vip != was_vip:
        emit(db, VisitorTagsChanged(tenant_id=visitor.tenant_id, visitor_id=visitor.id))
