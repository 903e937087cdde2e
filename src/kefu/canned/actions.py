"""Canned replies (§8.1): the two sets, ordering, search and suggestions, usage and pins.

The caller owns the transaction: nothing here commits. A public set has `owner_id` NULL; a
personal set is one agent's (`owner_id` = the agent).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.audit.actions import record
from kefu.canned.access import get_category, owner_of
from kefu.canned.models import CannedCategory, CannedMark, CannedPrefs, CannedReply
from kefu.canned.schemas import (
    CannedCategoryOut,
    CannedCategoryPatch,
    CannedReplyIn,
    CannedReplyOut,
    CannedReplyPatch,
    CannedSuggestionOut,
    SortMode,
)
from kefu.core import clock
from kefu.core.errors import ApiError, register_codes

# Per set (the public set of a tenant, or one agent's personal set).
MAX_CATEGORIES = 500
MAX_REPLIES = 5000
SUGGEST_DEFAULT = 5
SUGGEST_MAX = 10

register_codes(
    {
        "canned_category_name_taken": (
            409,
            "同一级下已有同名分类",
            "A category with this name already exists at this level",
        ),
        "canned_category_depth": (
            422,
            "常用语分类最多两级：只能在一级分类下添加子分类",
            "Canned-reply categories have two levels: sub-categories go under a first-level one",
        ),
        "canned_category_required": (
            422,
            "公共常用语必须放在某个分类下",
            "A public canned reply must belong to a category",
        ),
        "canned_category_limit": (
            409,
            "分类最多 {limit} 个，请先删除不用的分类",
            "At most {limit} categories; delete unused ones first",
        ),
        "canned_reply_limit": (
            409,
            "常用语最多 {limit} 条，请先删除不用的常用语",
            "At most {limit} canned replies; delete unused ones first",
        ),
    }
)


# --- views --------------------------------------------------------------------------------


def category_out(c: CannedCategory) -> CannedCategoryOut:
    return CannedCategoryOut(id=c.id, name=c.name, parent_id=c.parent_id)


def reply_out(r: CannedReply, mark: CannedMark | None) -> CannedReplyOut:
    return CannedReplyOut(
        id=r.id,
        scope="public" if r.owner_id is None else "personal",
        category_id=r.category_id,
        text=r.text,
        created_at=r.created_at,
        updated_at=r.updated_at,
        use_count=mark.use_count if mark else 0,
        pinned=bool(mark and mark.pinned_at),
        pinned_at=mark.pinned_at if mark else None,
    )


def _set_filter(
    model: type[CannedCategory] | type[CannedReply], owner: int | None
) -> ColumnElement[bool]:
    """The public set (no owner) or one agent's own."""
    return model.owner_id.is_(None) if owner is None else model.owner_id == owner


def _like(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# --- preferences --------------------------------------------------------------------------


async def get_sort(db: AsyncSession, principal: Principal) -> SortMode:
    sort = await db.scalar(select(CannedPrefs.sort).where(CannedPrefs.user_id == principal.user.id))
    return "updated" if sort == "updated" else "smart"


async def set_sort(db: AsyncSession, principal: Principal, sort: SortMode) -> SortMode:
    prefs = await db.scalar(select(CannedPrefs).where(CannedPrefs.user_id == principal.user.id))
    if prefs is None:
        db.add(CannedPrefs(tenant_id=principal.tenant_id, user_id=principal.user.id, sort=sort))
    else:
        prefs.sort = sort
    await db.flush()
    return sort


# --- ordering -----------------------------------------------------------------------------


async def marks_of(
    db: AsyncSession, principal: Principal, reply_ids: Sequence[int]
) -> dict[int, CannedMark]:
    if not reply_ids:
        return {}
    rows = await db.scalars(
        select(CannedMark).where(
            CannedMark.user_id == principal.user.id, CannedMark.reply_id.in_(list(reply_ids))
        )
    )
    return {m.reply_id: m for m in rows}


def order_key(sort: SortMode, reply: CannedReply, mark: CannedMark | None) -> tuple[object, ...]:
    """Pinned first, newest pin first; then by use (smart) or by update time; newest id last."""
    pinned_at = mark.pinned_at if mark and mark.pinned_at else None
    pin_rank = (0, -pinned_at.timestamp()) if pinned_at else (1, 0.0)
    updated = -reply.updated_at.timestamp()
    if sort == "smart":
        return (*pin_rank, -(mark.use_count if mark else 0), updated, -reply.id)
    return (*pin_rank, updated, -reply.id)


# --- listing ------------------------------------------------------------------------------


async def categories_of(
    db: AsyncSession, tenant_id: int, owner: int | None
) -> list[CannedCategory]:
    rows = await db.scalars(
        select(CannedCategory)
        .where(CannedCategory.tenant_id == tenant_id, _set_filter(CannedCategory, owner))
        .order_by(CannedCategory.id)
    )
    # Parents before their children, each level in creation order.
    cats = list(rows)
    return [c for c in cats if c.parent_id is None] + [c for c in cats if c.parent_id is not None]


async def list_set(
    db: AsyncSession, principal: Principal, *, personal: bool, q: str = ""
) -> tuple[list[CannedCategory], list[CannedReplyOut], SortMode]:
    owner = owner_of(principal, personal)
    cats = await categories_of(db, principal.tenant_id, owner)
    stmt = select(CannedReply).where(
        CannedReply.tenant_id == principal.tenant_id, _set_filter(CannedReply, owner)
    )
    q = q.strip()
    if q:
        stmt = stmt.where(CannedReply.text.ilike(_like(q), escape="\\"))
    replies = list(await db.scalars(stmt))
    sort = await get_sort(db, principal)
    marks = await marks_of(db, principal, [r.id for r in replies])
    replies.sort(key=lambda r: order_key(sort, r, marks.get(r.id)))
    return cats, [reply_out(r, marks.get(r.id)) for r in replies], sort


def category_path(cat_id: int | None, by_id: dict[int, CannedCategory]) -> str:
    cat = by_id.get(cat_id) if cat_id is not None else None
    if cat is None:
        return ""
    parent = by_id.get(cat.parent_id) if cat.parent_id is not None else None
    return f"{parent.name} / {cat.name}" if parent else cat.name


async def suggest(
    db: AsyncSession, principal: Principal, q: str, limit: int = SUGGEST_DEFAULT
) -> list[CannedSuggestionOut]:
    """The best few replies of both sets whose text contains `q`: those that start with it
    first, then pinned, then the most used, then the most recently updated."""
    q = q.strip()
    if not q:
        return []
    user_id = principal.user.id
    rows = list(
        await db.scalars(
            select(CannedReply)
            .where(
                CannedReply.tenant_id == principal.tenant_id,
                or_(CannedReply.owner_id.is_(None), CannedReply.owner_id == user_id),
                CannedReply.text.ilike(_like(q), escape="\\"),
            )
            .order_by(CannedReply.updated_at.desc(), CannedReply.id.desc())
            .limit(300)
        )
    )
    marks = await marks_of(db, principal, [r.id for r in rows])
    lowered = q.casefold()

    def rank(r: CannedReply) -> tuple[object, ...]:
        m = marks.get(r.id)
        starts = 0 if r.text.casefold().lstrip().startswith(lowered) else 1
        pinned = 0 if m and m.pinned_at else 1
        return (starts, pinned, -(m.use_count if m else 0), -r.updated_at.timestamp(), -r.id)

    rows.sort(key=rank)
    picked = rows[:limit]
    cat_ids = {r.category_id for r in picked if r.category_id is not None}
    by_id: dict[int, CannedCategory] = {}
    if cat_ids:
        cats = list(await db.scalars(select(CannedCategory).where(CannedCategory.id.in_(cat_ids))))
        parents = {c.parent_id for c in cats if c.parent_id is not None}
        if parents:
            cats += list(
                await db.scalars(select(CannedCategory).where(CannedCategory.id.in_(parents)))
            )
        by_id = {c.id: c for c in cats}
    return [
        CannedSuggestionOut(
            id=r.id,
            scope="public" if r.owner_id is None else "personal",
            text=r.text,
            category_path=category_path(r.category_id, by_id),
        )
        for r in picked
    ]


# --- categories ---------------------------------------------------------------------------


async def _name_free(
    db: AsyncSession,
    tenant_id: int,
    owner: int | None,
    parent_id: int | None,
    name: str,
    exclude: int | None,
) -> None:
    stmt = select(CannedCategory.id).where(
        CannedCategory.tenant_id == tenant_id,
        _set_filter(CannedCategory, owner),
        CannedCategory.parent_id.is_(None)
        if parent_id is None
        else CannedCategory.parent_id == parent_id,
        CannedCategory.name == name,
    )
    if exclude is not None:
        stmt = stmt.where(CannedCategory.id != exclude)
    if await db.scalar(stmt) is not None:
        raise ApiError("canned_category_name_taken")


async def count_categories(db: AsyncSession, tenant_id: int, owner: int | None) -> int:
    n = await db.scalar(
        select(func.count())
        .select_from(CannedCategory)
        .where(CannedCategory.tenant_id == tenant_id, _set_filter(CannedCategory, owner))
    )
    return int(n or 0)


async def count_replies(db: AsyncSession, tenant_id: int, owner: int | None) -> int:
    n = await db.scalar(
        select(func.count())
        .select_from(CannedReply)
        .where(CannedReply.tenant_id == tenant_id, _set_filter(CannedReply, owner))
    )
    return int(n or 0)


async def create_category(
    db: AsyncSession,
    principal: Principal,
    *,
    personal: bool,
    name: str,
    parent_id: int | None,
    ip: str,
) -> CannedCategory:
    owner = owner_of(principal, personal)
    if parent_id is not None:
        parent = await get_category(db, principal, parent_id, personal=personal)
        if parent.parent_id is not None:
            raise ApiError("canned_category_depth")
    if await count_categories(db, principal.tenant_id, owner) >= MAX_CATEGORIES:
        raise ApiError("canned_category_limit", limit=MAX_CATEGORIES)
    await _name_free(db, principal.tenant_id, owner, parent_id, name, None)
    cat = CannedCategory(
        tenant_id=principal.tenant_id,
        owner_id=owner,
        parent_id=parent_id,
        name=name,
        created_at=clock.now(),
    )
    db.add(cat)
    await db.flush()
    if not personal:
        record(
            db,
            principal,
            tenant_id=principal.tenant_id,
            action="canned_category.created",
            target_type="canned_category",
            target_id=cat.id,
            detail={"name": name, "parent_id": parent_id},
            ip=ip,
        )
    return cat


async def rename_category(
    db: AsyncSession, principal: Principal, cat: CannedCategory, patch: CannedCategoryPatch, ip: str
) -> None:
    if patch.name is None or patch.name == cat.name:
        return
    await _name_free(db, cat.tenant_id, cat.owner_id, cat.parent_id, patch.name, cat.id)
    if cat.owner_id is None:
        record(
            db,
            principal,
            tenant_id=cat.tenant_id,
            action="canned_category.updated",
            target_type="canned_category",
            target_id=cat.id,
            detail={"name": {"from": cat.name, "to": patch.name}},
            ip=ip,
        )
    cat.name = patch.name


async def delete_category(
    db: AsyncSession, principal: Principal, cat: CannedCategory, ip: str
) -> None:
    """Delete a category with its sub-categories and every reply in them."""
    children = await db.scalars(select(CannedCategory.id).where(CannedCategory.parent_id == cat.id))
    ids = [cat.id, *children]
    gone = int(
        await db.scalar(
            select(func.count()).select_from(CannedReply).where(CannedReply.category_id.in_(ids))
        )
        or 0
    )
    reply_ids = select(CannedReply.id).where(CannedReply.category_id.in_(ids))
    await db.execute(delete(CannedMark).where(CannedMark.reply_id.in_(reply_ids)))
    await db.execute(delete(CannedReply).where(CannedReply.category_id.in_(ids)))
    await db.execute(delete(CannedCategory).where(CannedCategory.parent_id == cat.id))
    if cat.owner_id is None:
        record(
            db,
            principal,
            tenant_id=cat.tenant_id,
            action="canned_category.deleted",
            target_type="canned_category",
            target_id=cat.id,
            detail={"name": cat.name, "replies": gone},
            ip=ip,
        )
    await db.delete(cat)
    await db.flush()


# --- replies ------------------------------------------------------------------------------


async def _check_category(
    db: AsyncSession, principal: Principal, category_id: int | None, *, personal: bool
) -> None:
    if category_id is None:
        if not personal:
            raise ApiError("canned_category_required")
        return
    await get_category(db, principal, category_id, personal=personal)


async def create_reply(
    db: AsyncSession, principal: Principal, body: CannedReplyIn, *, personal: bool, ip: str
) -> CannedReply:
    owner = owner_of(principal, personal)
    await _check_category(db, principal, body.category_id, personal=personal)
    if await count_replies(db, principal.tenant_id, owner) >= MAX_REPLIES:
        raise ApiError("canned_reply_limit", limit=MAX_REPLIES)
    now = clock.now()
    reply = CannedReply(
        tenant_id=principal.tenant_id,
        owner_id=owner,
        category_id=body.category_id,
        text=body.text,
        created_at=now,
        updated_at=now,
    )
    db.add(reply)
    await db.flush()
    if not personal:
        record(
            db,
            principal,
            tenant_id=principal.tenant_id,
            action="canned_reply.created",
            target_type="canned_reply",
            target_id=reply.id,
            detail={"category_id": reply.category_id, "text": reply.text[:100]},
            ip=ip,
        )
    return reply


async def update_reply(
    db: AsyncSession, principal: Principal, reply: CannedReply, patch: CannedReplyPatch, ip: str
) -> None:
    personal = reply.owner_id is not None
    changes = {
        k: v for k, v in patch.model_dump(exclude_unset=True).items() if getattr(reply, k) != v
    }
    if not changes:
        return
    if "category_id" in changes:
        await _check_category(db, principal, changes["category_id"], personal=personal)
    if not personal:
        detail = {
            k: {"from": getattr(reply, k), "to": v}
            if k != "text"
            else {"from": reply.text[:100], "to": str(v)[:100]}
            for k, v in changes.items()
        }
        record(
            db,
            principal,
            tenant_id=reply.tenant_id,
            action="canned_reply.updated",
            target_type="canned_reply",
            target_id=reply.id,
            detail=detail,
            ip=ip,
        )
    for field, value in changes.items():
        setattr(reply, field, value)
    reply.updated_at = clock.now()


async def delete_reply(db: AsyncSession, principal: Principal, reply: CannedReply, ip: str) -> None:
    if reply.owner_id is None:
        record(
            db,
            principal,
            tenant_id=reply.tenant_id,
            action="canned_reply.deleted",
            target_type="canned_reply",
            target_id=reply.id,
            detail={"text": reply.text[:100]},
            ip=ip,
        )
    await db.execute(delete(CannedMark).where(CannedMark.reply_id == reply.id))
    await db.delete(reply)
    await db.flush()


# --- usage and pins (per agent) -----------------------------------------------------------


async def _mark(db: AsyncSession, principal: Principal, reply: CannedReply) -> CannedMark:
    mark = await db.scalar(
        select(CannedMark).where(
            CannedMark.user_id == principal.user.id, CannedMark.reply_id == reply.id
        )
    )
    if mark is None:
        mark = CannedMark(
            tenant_id=principal.tenant_id, user_id=principal.user.id, reply_id=reply.id, use_count=0
        )
        try:
            # Two clicks at once (double-click, two tabs): the second finds the first's row.
            async with db.begin_nested():
                db.add(mark)
        except IntegrityError:
            mark = await db.scalar(
                select(CannedMark).where(
                    CannedMark.user_id == principal.user.id, CannedMark.reply_id == reply.id
                )
            )
            assert mark is not None
    return mark


async def mark_used(db: AsyncSession, principal: Principal, reply: CannedReply) -> CannedMark:
    mark = await _mark(db, principal, reply)
    mark.use_count = (mark.use_count or 0) + 1
    mark.last_used_at = clock.now()
    await db.flush()
    return mark


async def set_pin(
    db: AsyncSession, principal: Principal, reply: CannedReply, pinned: bool
) -> CannedMark:
    mark = await _mark(db, principal, reply)
    if pinned:
        # Pinning again moves it to the top: pins are ordered by pin time, newest first.
        mark.pinned_at = clock.now()
    else:
        mark.pinned_at = None
    await db.flush()
    return mark
