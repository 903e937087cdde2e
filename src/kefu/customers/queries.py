"""The customer list's query: scope, filters and automatic groups (§12.1, §12.3).

A group is a saved filter: its items become SQL conditions evaluated when the list or a profile
is read, so customers join and leave groups as their data changes, with nothing to keep in
step.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    exists,
    false,
    func,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.conversations.models import Conversation
from kefu.core import clock
from kefu.core.db import UTCDateTime
from kefu.customers.fields import SYSTEM_BY_KEY
from kefu.customers.models import CustomerGroup
from kefu.customers.schemas import CustomerListFilter
from kefu.tags.models import VisitorTagLink
from kefu.visitors.models import Visitor


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def first_conversation_at() -> Any:
    return (
        select(func.min(Conversation.created_at))
        .where(Conversation.visitor_id == Visitor.id)
        .correlate(Visitor)
        .scalar_subquery()
    )


def last_conversation_at() -> Any:
    return type_coerce(
        select(func.max(Conversation.created_at))
        .where(Conversation.visitor_id == Visitor.id)
        .correlate(Visitor)
        .scalar_subquery(),
        UTCDateTime(),
    )


def created_at() -> Any:
    """Created (创建时间) = the first consultation; imported customers: the import time."""
    return type_coerce(func.coalesce(first_conversation_at(), Visitor.created_at), UTCDateTime())


def _item_condition(item: dict[str, Any], now: datetime) -> ColumnElement[bool]:
    kind = item.get("kind")
    if kind == "created_within_days":
        cond: ColumnElement[bool] = created_at() >= now - timedelta(days=int(item["days"]))
        return cond
    if kind == "last_conversation_within_days":
        cutoff = now - timedelta(days=int(item["days"]))
        return exists(
            select(Conversation.id).where(
                Conversation.visitor_id == Visitor.id, Conversation.created_at >= cutoff
            )
        )
    if kind == "tag":
        return exists(
            select(VisitorTagLink.id).where(
                VisitorTagLink.visitor_id == Visitor.id, VisitorTagLink.tag_id == item["tag_id"]
            )
        )
    if kind == "vip":
        return Visitor.vip.is_(bool(item.get("value", True)))
    if kind == "imported":
        imported = Visitor.source == "import"
        return imported if item.get("value", True) else Visitor.source != "import"
    if kind == "channel":
        return exists(
            select(Conversation.id).where(
                Conversation.visitor_id == Visitor.id, Conversation.channel == item["channel"]
            )
        )
    if kind == "field_equals":
        key = str(item["key"])
        value = str(item["value"])
        if key == "external_id":
            return Visitor.external_id == value
        if key in SYSTEM_BY_KEY:
            return getattr(Visitor, key) == value  # type: ignore[no-any-return]
        if key.startswith("custom_"):
            field: ColumnElement[bool] = (
                Visitor.fields[key.removeprefix("custom_")].as_string() == value
            )
            return field
    return false()


def group_condition(group: CustomerGroup) -> ColumnElement[bool]:
    now = clock.now()
    parts = [_item_condition(i, now) for i in group.items or []]
    if not parts:
        return false()
    return and_(*parts) if group.match == "all" else or_(*parts)


async def visible_groups(db: AsyncSession, tenant_id: int, mode: str) -> list[CustomerGroup]:
    stmt = select(CustomerGroup).where(CustomerGroup.tenant_id == tenant_id)
    if mode != "admin":
        stmt = stmt.where(CustomerGroup.agent_visible.is_(True))
    return list(await db.scalars(stmt.order_by(CustomerGroup.position, CustomerGroup.id)))


async def groups_of(
    db: AsyncSession, groups: Sequence[CustomerGroup], visitor_ids: Sequence[int]
) -> dict[int, list[CustomerGroup]]:
    """Which of `groups` each visitor belongs to now (one query per group)."""
    out: dict[int, list[CustomerGroup]] = defaultdict(list)
    if not visitor_ids:
        return out
    for g in groups:
        members = await db.scalars(
            select(Visitor.id).where(Visitor.id.in_(visitor_ids), group_condition(g))
        )
        for vid in members:
            out[vid].append(g)
    return out


def customer_query(
    tenant_id: int,
    scope: ColumnElement[bool],
    f: CustomerListFilter,
    group: CustomerGroup | None,
) -> Select[Any]:
    created = created_at()
    stmt = select(Visitor, created.label("created"), last_conversation_at().label("last")).where(
        Visitor.tenant_id == tenant_id, scope
    )
    if f.created_from is not None:
        stmt = stmt.where(created >= f.created_from)
    if f.created_to is not None:
        stmt = stmt.where(created < f.created_to)
    if f.tag_ids:
        stmt = stmt.where(
            exists(
                select(VisitorTagLink.id).where(
                    VisitorTagLink.visitor_id == Visitor.id, VisitorTagLink.tag_id.in_(f.tag_ids)
                )
            )
        )
    if f.q:
        like = _like(f.q)
        terms: list[ColumnElement[bool]] = [
            Visitor.name.ilike(like, escape="\\"),
            Visitor.nickname.ilike(like, escape="\\"),
            Visitor.external_id.ilike(like, escape="\\"),
        ]
        if f.q.isdigit() and len(f.q) <= 15:
            terms.append(Visitor.id == int(f.q))
        stmt = stmt.where(or_(*terms))
    for column, text in (
        (Visitor.nickname, f.nickname),
        (Visitor.phone, f.phone),
        (Visitor.email, f.email),
    ):
        if text:
            stmt = stmt.where(column.ilike(_like(text), escape="\\"))
    if group is not None:
        stmt = stmt.where(group_condition(group))
    return stmt


async def count(db: AsyncSession, stmt: Select[Any]) -> int:
    return int(await db.scalar(select(func.count()).select_from(stmt.subquery())) or 0)


def ordered(stmt: Select[Any]) -> Select[Any]:
    # Newest first by the time of the first consultation, then id.
    return stmt.order_by(created_at().desc(), Visitor.id.desc())
