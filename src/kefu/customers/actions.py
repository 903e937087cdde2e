"""Customer center actions: the list, a profile and its edits, field and group settings,
interaction records and customer-level callback (§12.1–§12.3, §3.8). Nothing here commits."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.accounts.models import User
from kefu.audit.actions import record
from kefu.blacklist.actions import live_entry
from kefu.conversations.models import Conversation, Message, Segment
from kefu.core import clock
from kefu.core.errors import ApiError, register_codes
from kefu.core.i18n import pick
from kefu.csat.models import CsatRating
from kefu.customers import fields as fl
from kefu.customers import queries
from kefu.customers.access import Mode
from kefu.customers.models import CustomerField, CustomerGroup
from kefu.customers.schemas import (
    CustomerFieldIn,
    CustomerFieldOut,
    CustomerFieldPatch,
    CustomerGroupIn,
    CustomerGroupOut,
    CustomerGroupPatch,
    CustomerItemOut,
    CustomerListFilter,
    CustomerOut,
    GroupRefOut,
    LayoutIn,
    ProfileFieldOut,
    RatingOut,
    RecordOut,
)
from kefu.history.callback import callback
from kefu.tags import actions as tag_actions
from kefu.tags.models import VisitorTag, VisitorTagLink
from kefu.tags.schemas import VisitorTagOut
from kefu.visitors.models import Visitor

MAX_GROUPS = 10

register_codes(
    {
        "customer_group_limit": (
            409,
            "客户分组最多 {limit} 个",
            "You can have at most {limit} customer groups",
        ),
        "customer_group_name_taken": (
            409,
            "已有同名的客户分组",
            "A customer group with this name already exists",
        ),
        "customer_group_item_invalid": (
            422,
            "分组条件引用的字段不存在",
            "A group condition names a field that does not exist",
        ),
    }
)


def display_name(v: Visitor) -> str:
    return v.name or v.nickname or pick(f"访客{v.id}", f"Visitor {v.id}")


def _tag_out(t: VisitorTag) -> VisitorTagOut:
    return VisitorTagOut(id=t.id, name=t.name, color=t.color)


async def tags_by_visitor(
    db: AsyncSession, visitor_ids: list[int]
) -> dict[int, list[VisitorTagOut]]:
    out: dict[int, list[VisitorTagOut]] = defaultdict(list)
    if not visitor_ids:
        return out
    rows = await db.execute(
        select(VisitorTagLink.visitor_id, VisitorTag)
        .join(VisitorTag, VisitorTag.id == VisitorTagLink.tag_id)
        .where(VisitorTagLink.visitor_id.in_(visitor_ids))
        .order_by(VisitorTag.name, VisitorTag.id)
    )
    for vid, tag in rows.all():
        out[vid].append(_tag_out(tag))
    return out


# --- the list -----------------------------------------------------------------------------


async def group_for(
    db: AsyncSession, tenant_id: int, group_id: int | None, mode: Mode
) -> CustomerGroup | None:
    if group_id is None:
        return None
    for g in await queries.visible_groups(db, tenant_id, mode):
        if g.id == group_id:
            return g
    raise ApiError("not_found")


async def list_items(
    db: AsyncSession, tenant_id: int, rows: list[Any], mode: Mode
) -> list[CustomerItemOut]:
    visitors: list[Visitor] = [r[0] for r in rows]
    ids = [v.id for v in visitors]
    tags = await tags_by_visitor(db, ids)
    groups = await queries.groups_of(db, await queries.visible_groups(db, tenant_id, mode), ids)
    counts: dict[int, int] = {}
    if ids:
        res = await db.execute(
            select(Conversation.visitor_id, func.count())
            .where(Conversation.visitor_id.in_(ids))
            .group_by(Conversation.visitor_id)
        )
        counts = {vid: int(n) for vid, n in res.all()}
    return [
        CustomerItemOut(
            id=v.id,
            external_id=v.external_id,
            name=display_name(v),
            nickname=v.nickname,
            phone=v.phone,
            email=v.email,
            vip=v.vip,
            source=v.source,
            tags=tags.get(v.id, []),
            groups=[GroupRefOut(id=g.id, name=g.name) for g in groups.get(v.id, [])],
            created_at=created or v.created_at,
            last_conversation_at=last,
            conversation_count=counts.get(v.id, 0),
        )
        for v, created, last in rows
    ]


async def page(
    db: AsyncSession,
    principal: Principal,
    scope: Any,
    f: CustomerListFilter,
    mode: Mode,
    *,
    offset: int,
    limit: int,
) -> tuple[list[CustomerItemOut], int]:
    group = await group_for(db, principal.tenant_id, f.group_id, mode)
    stmt = queries.customer_query(principal.tenant_id, scope, f, group)
    total = await queries.count(db, stmt)
    rows = list((await db.execute(queries.ordered(stmt).offset(offset).limit(limit))).all())
    return await list_items(db, principal.tenant_id, rows, mode), total


# --- one profile --------------------------------------------------------------------------


async def profile(db: AsyncSession, visitor: Visitor, mode: Mode) -> CustomerOut:
    layout = await fl.layout(db, visitor.tenant_id)
    groups = await queries.groups_of(
        db, await queries.visible_groups(db, visitor.tenant_id, mode), [visitor.id]
    )
    first, last = (
        await db.execute(
            select(func.min(Conversation.created_at), func.max(Conversation.created_at)).where(
                Conversation.visitor_id == visitor.id
            )
        )
    ).one()
    return CustomerOut(
        id=visitor.id,
        external_id=visitor.external_id,
        display_name=display_name(visitor),
        vip=visitor.vip,
        source=visitor.source,
        mode=mode,
        fields=[
            ProfileFieldOut(
                key=f.key,
                system=f.system,
                name=f.name,
                type=f.type,
                options=f.options,
                readonly=f.readonly,
                value=fl.value_of(visitor, f),
            )
            for f in layout
            if f.visible(mode)
        ],
        tags=[_tag_out(t) for t in await tag_actions.visitor_tags(db, visitor)],
        groups=[GroupRefOut(id=g.id, name=g.name) for g in groups.get(visitor.id, [])],
        created_at=first or visitor.created_at,
        last_conversation_at=last,
        web_info=dict(visitor.web_info or {}),
        blacklisted=(await live_entry(db, visitor.tenant_id, visitor.id)) is not None,
    )


async def patch_profile(
    db: AsyncSession, principal: Principal, visitor: Visitor, changes: dict[str, Any], mode: Mode
) -> None:
    layout = await fl.layout(db, visitor.tenant_id)
    done = fl.apply(visitor, layout, changes, mode)
    if done:
        record(
            db,
            principal,
            tenant_id=visitor.tenant_id,
            action="customer.updated",
            target_type="visitor",
            target_id=visitor.id,
            detail={k: {"from": old, "to": new} for k, (old, new) in done.items()},
        )


# --- field settings (§12.2) ---------------------------------------------------------------


def field_out(f: fl.FieldDef) -> CustomerFieldOut:
    return CustomerFieldOut(
        key=f.key,
        system=f.system,
        id=None if f.system else f.id,
        name=f.name,
        type=f.type,
        options=f.options,
        agent_visible=f.agent_visible,
        readonly=f.readonly,
        shown=f.shown,
    )


async def _custom_field(db: AsyncSession, tenant_id: int, field_id: int) -> CustomerField:
    row = await db.scalar(
        select(CustomerField).where(
            CustomerField.id == field_id,
            CustomerField.tenant_id == tenant_id,
            CustomerField.system_key.is_(None),
        )
    )
    if row is None:
        raise ApiError("not_found")
    return row


async def _name_free(db: AsyncSession, tenant_id: int, name: str, exclude: int | None) -> None:
    names = {f.name for f in await fl.layout(db, tenant_id) if f.id != exclude or f.system}
    names |= {sf.zh for sf in fl.SYSTEM_FIELDS} | {sf.en for sf in fl.SYSTEM_FIELDS}
    if name in names:
        raise ApiError("customer_field_name_taken")


def _options(body_type: str, options: list[str]) -> list[str]:
    unique = list(dict.fromkeys(options))
    if body_type == "select" and not unique:
        raise ApiError("customer_field_options_required")
    return unique if body_type == "select" else []


async def create_field(
    db: AsyncSession, principal: Principal, body: CustomerFieldIn, ip: str
) -> CustomerFieldOut:
    tenant_id = principal.tenant_id
    rows = list(
        await db.scalars(
            select(CustomerField).where(CustomerField.tenant_id == tenant_id).with_for_update()
        )
    )
    if sum(1 for r in rows if r.system_key is None) >= fl.MAX_CUSTOM_FIELDS:
        raise ApiError("customer_field_limit", limit=fl.MAX_CUSTOM_FIELDS)
    await _name_free(db, tenant_id, body.name, None)
    top = max([len(fl.SYSTEM_FIELDS) - 1, *(r.position for r in rows)])
    row = CustomerField(
        tenant_id=tenant_id,
        system_key=None,
        name=body.name,
        type=body.type,
        options=_options(body.type, body.options),
        agent_visible=body.agent_visible,
        readonly=body.readonly,
        shown=body.shown,
        position=top + 1,
        created_at=clock.now(),
    )
    db.add(row)
    await db.flush()
    record(
        db,
        principal,
        tenant_id=tenant_id,
        action="customer_field.created",
        target_type="customer_field",
        target_id=row.id,
        detail={"name": row.name, "type": row.type},
        ip=ip,
    )
    return next(field_out(f) for f in await fl.layout(db, tenant_id) if f.id == row.id)


async def update_field(
    db: AsyncSession, principal: Principal, field_id: int, body: CustomerFieldPatch, ip: str
) -> CustomerFieldOut:
    row = await _custom_field(db, principal.tenant_id, field_id)
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] != row.name:
        await _name_free(db, principal.tenant_id, changes["name"], row.id)
    if "options" in changes:
        changes["options"] = _options(row.type, changes["options"])
    detail = {k: {"from": getattr(row, k), "to": v} for k, v in changes.items()}
    for k, v in changes.items():
        setattr(row, k, v)
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="customer_field.updated",
        target_type="customer_field",
        target_id=row.id,
        detail=detail,
        ip=ip,
    )
    await db.flush()
    return next(field_out(f) for f in await fl.layout(db, principal.tenant_id) if f.id == row.id)


async def delete_field(db: AsyncSession, principal: Principal, field_id: int, ip: str) -> None:
    """Delete a custom field; customers' values of it are left out from then on."""
    row = await _custom_field(db, principal.tenant_id, field_id)
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="customer_field.deleted",
        target_type="customer_field",
        target_id=row.id,
        detail={"name": row.name},
        ip=ip,
    )
    await db.delete(row)
    await db.flush()


async def save_layout(
    db: AsyncSession, principal: Principal, body: LayoutIn, ip: str
) -> list[CustomerFieldOut]:
    tenant_id = principal.tenant_id
    rows = list(
        await db.scalars(
            select(CustomerField).where(CustomerField.tenant_id == tenant_id).with_for_update()
        )
    )
    current = await fl.layout(db, tenant_id)
    keys = [i.key for i in body.fields]
    if sorted(keys) != sorted(f.key for f in current) or len(set(keys)) != len(keys):
        raise ApiError("customer_field_layout_mismatch")
    by_system = {r.system_key: r for r in rows if r.system_key}
    by_custom = {fl.custom_key(r.id): r for r in rows if r.system_key is None}
    now = clock.now()
    for position, item in enumerate(body.fields):
        row = by_custom.get(item.key) or by_system.get(item.key)
        if row is None:
            row = CustomerField(
                tenant_id=tenant_id,
                system_key=item.key,
                name="",
                type="text",
                options=[],
                created_at=now,
            )
            db.add(row)
        row.position = position
        row.agent_visible = item.agent_visible
        row.shown = item.shown
        always = item.key in fl.SYSTEM_BY_KEY and fl.SYSTEM_BY_KEY[item.key].always_readonly
        row.readonly = True if always else item.readonly
    await db.flush()
    record(
        db,
        principal,
        tenant_id=tenant_id,
        action="customer_field.layout",
        target_type="customer_field",
        detail={"order": keys},
        ip=ip,
    )
    return [field_out(f) for f in await fl.layout(db, tenant_id)]


# --- automatic groups (§12.3) -------------------------------------------------------------


def group_out(g: CustomerGroup) -> CustomerGroupOut:
    return CustomerGroupOut(
        id=g.id, name=g.name, agent_visible=g.agent_visible, match=g.match, items=list(g.items)
    )


async def _check_items(db: AsyncSession, tenant_id: int, items: list[dict[str, Any]]) -> None:
    tag_ids = {int(i["tag_id"]) for i in items if i["kind"] == "tag"}
    if tag_ids:
        found = set(
            await db.scalars(
                select(VisitorTag.id).where(
                    VisitorTag.tenant_id == tenant_id, VisitorTag.id.in_(tag_ids)
                )
            )
        )
        if found != tag_ids:
            # Like every other id: another tenant's tag answers as an unknown one.
            raise ApiError("not_found")
    keys = {str(i["key"]) for i in items if i["kind"] == "field_equals"}
    if keys - {f.key for f in await fl.layout(db, tenant_id)}:
        raise ApiError("customer_group_item_invalid")


async def _group(db: AsyncSession, tenant_id: int, group_id: int) -> CustomerGroup:
    g = await db.scalar(
        select(CustomerGroup).where(
            CustomerGroup.id == group_id, CustomerGroup.tenant_id == tenant_id
        )
    )
    if g is None:
        raise ApiError("not_found")
    return g


async def _group_name_free(
    db: AsyncSession, tenant_id: int, name: str, exclude: int | None
) -> None:
    stmt = select(CustomerGroup.id).where(
        CustomerGroup.tenant_id == tenant_id, CustomerGroup.name == name
    )
    if exclude is not None:
        stmt = stmt.where(CustomerGroup.id != exclude)
    if await db.scalar(stmt) is not None:
        raise ApiError("customer_group_name_taken")


async def create_group(
    db: AsyncSession, principal: Principal, body: CustomerGroupIn, ip: str
) -> CustomerGroup:
    tenant_id = principal.tenant_id
    existing = list(
        await db.scalars(
            select(CustomerGroup).where(CustomerGroup.tenant_id == tenant_id).with_for_update()
        )
    )
    if len(existing) >= MAX_GROUPS:
        raise ApiError("customer_group_limit", limit=MAX_GROUPS)
    await _group_name_free(db, tenant_id, body.name, None)
    items = [i.model_dump() for i in body.items]
    await _check_items(db, tenant_id, items)
    now = clock.now()
    g = CustomerGroup(
        tenant_id=tenant_id,
        name=body.name,
        agent_visible=body.agent_visible,
        match=body.match,
        items=items,
        position=max([g.position for g in existing], default=0) + 1,
        created_at=now,
        updated_at=now,
    )
    db.add(g)
    await db.flush()
    record(
        db,
        principal,
        tenant_id=tenant_id,
        action="customer_group.created",
        target_type="customer_group",
        target_id=g.id,
        detail={"name": g.name, "match": g.match, "items": items},
        ip=ip,
    )
    return g


async def update_group(
    db: AsyncSession, principal: Principal, group_id: int, body: CustomerGroupPatch, ip: str
) -> CustomerGroup:
    g = await _group(db, principal.tenant_id, group_id)
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] != g.name:
        await _group_name_free(db, principal.tenant_id, changes["name"], g.id)
    if "items" in changes:
        await _check_items(db, principal.tenant_id, changes["items"])
    for k, v in changes.items():
        setattr(g, k, v)
    g.updated_at = clock.now()
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="customer_group.updated",
        target_type="customer_group",
        target_id=g.id,
        detail=changes,
        ip=ip,
    )
    await db.flush()
    return g


async def delete_group(db: AsyncSession, principal: Principal, group_id: int, ip: str) -> None:
    g = await _group(db, principal.tenant_id, group_id)
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="customer_group.deleted",
        target_type="customer_group",
        target_id=g.id,
        detail={"name": g.name},
        ip=ip,
    )
    await db.delete(g)
    await db.flush()


# --- interaction records and callback (§12.1, §3.10, §3.8) -------------------------------


async def records(db: AsyncSession, visitor: Visitor, visible: Any) -> list[RecordOut]:
    """The customer's conversations the caller may read, oldest first."""
    stmt = select(Conversation).where(
        Conversation.tenant_id == visitor.tenant_id, Conversation.visitor_id == visitor.id
    )
    if visible is not None:
        stmt = stmt.where(visible)
    convs = list(await db.scalars(stmt.order_by(Conversation.created_at, Conversation.id)))
    if not convs:
        return []
    ids = [c.id for c in convs]
    segs = list(
        await db.scalars(
            select(Segment).where(Segment.conversation_id.in_(ids)).order_by(Segment.id)
        )
    )
    user_ids = {s.agent_id for s in segs if s.agent_id}
    users = (
        {u.id: u.nickname for u in await db.scalars(select(User).where(User.id.in_(user_ids)))}
        if user_ids
        else {}
    )
    agents: dict[int, list[str]] = defaultdict(list)
    for s in segs:
        name = users.get(s.agent_id or 0)
        if name and name not in agents[s.conversation_id]:
            agents[s.conversation_id].append(name)
    res = await db.execute(
        select(Message.conversation_id, func.count())
        .where(Message.conversation_id.in_(ids), Message.whisper.is_(False))
        .group_by(Message.conversation_id)
    )
    counts = {cid: int(n) for cid, n in res.all()}
    ratings = {
        r.conversation_id: r
        for r in await db.scalars(
            select(CsatRating).where(
                CsatRating.conversation_id.in_(ids), CsatRating.score.is_not(None)
            )
        )
    }
    out = []
    for c in convs:
        r = ratings.get(c.id)
        out.append(
            RecordOut(
                id=c.id,
                channel=c.channel,
                state=c.state,
                agents=agents.get(c.id, []),
                created_at=c.created_at,
                started_at=c.accepted_at,
                ended_at=c.ended_at,
                message_count=counts.get(c.id, 0),
                rating=RatingOut(
                    score=r.score, comment=r.comment, tags=list(r.tags or []), rated_at=r.rated_at
                )
                if r is not None
                else None,
            )
        )
    return out


async def record_conversation(
    db: AsyncSession, visitor: Visitor, visible: Any, conversation_id: int
) -> Conversation:
    stmt = select(Conversation).where(
        Conversation.id == conversation_id,
        Conversation.tenant_id == visitor.tenant_id,
        Conversation.visitor_id == visitor.id,
    )
    if visible is not None:
        stmt = stmt.where(visible)
    conv = await db.scalar(stmt)
    if conv is None:
        raise ApiError("not_found")
    return conv


async def call_back(db: AsyncSession, principal: Principal, visitor: Visitor) -> Conversation:
    """A new conversation of the caller's with the customer (§3.8): from their latest
    conversation's channel and entry, or, for an imported customer who never consulted, a
    web conversation without a widget (the customer sees it once they sign in on the site)."""
    latest = await db.scalar(
        select(Conversation)
        .where(Conversation.visitor_id == visitor.id, Conversation.tenant_id == visitor.tenant_id)
        .order_by(Conversation.id.desc())
        .limit(1)
    )
    if latest is not None and latest.state != "ended":
        raise ApiError(
            "callback_visitor_busy",
            conversation_id=latest.id,
            fields=[{"field": "conversation_id", "rule": "open", "message": str(latest.id)}],
        )
    template = latest or Conversation(
        tenant_id=visitor.tenant_id,
        visitor_id=visitor.id,
        widget_id=visitor.first_widget_id,
        association_id=None,
        skill_group_id=None,
        channel="web",
        state="ended",
        entry={},
        web_info={},
    )
    return await callback(db, principal, template)
