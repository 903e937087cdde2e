"""Knowledge base operations (§8.2): categories, items, their files, send-mode settings."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import UploadFile
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.attachments.actions import EXPIRE_TIMER, accept_upload, signed_url
from kefu.attachments.models import Attachment
from kefu.audit.actions import record
from kefu.core import clock
from kefu.core.config import Settings
from kefu.core.db import settings_of
from kefu.core.errors import ApiError, register_codes
from kefu.core.security import new_token
from kefu.knowledge import content
from kefu.knowledge.models import KnowledgeCategory, KnowledgeItem
from kefu.knowledge.schemas import (
    KnowledgeCategoryIn,
    KnowledgeCategoryPatch,
    KnowledgeItemIn,
    KnowledgeItemPatch,
)
from kefu.workers.scheduler import cancel_timer, schedule_timer

MAX_DEPTH = 10
MAX_ITEMS = 1000
MAX_CATEGORIES = 1000
UPLOADER = "knowledge"
# An upload no saved item claims within a day is removed by the attachments' expiry timer.
UNCLAIMED_TTL = timedelta(days=1)

register_codes(
    {
        "knowledge_depth_limit": (
            409,
            "知识库分类最多 {limit} 级",
            "Knowledge categories go at most {limit} levels deep",
        ),
        "knowledge_item_limit": (
            409,
            "知识库最多 {limit} 条知识，请先删除不用的",
            "The knowledge base holds at most {limit} items; delete unused ones first",
        ),
        "knowledge_category_limit": (
            409,
            "知识库分类最多 {limit} 个",
            "You can have at most {limit} knowledge categories",
        ),
        "knowledge_category_name_taken": (
            409,
            "同级已有同名分类",
            "A category with this name already exists at this level",
        ),
        "knowledge_category_not_empty": (
            409,
            "分类下还有子分类或知识，不能删除",
            "The category still has subcategories or items",
        ),
        "knowledge_category_cycle": (
            409,
            "不能把分类移到它自己或它的子分类下",
            "A category cannot move under itself or its subcategories",
        ),
        "knowledge_file_not_found": (
            422,
            "附件不存在或已失效，请重新上传",
            "The attachment does not exist or is gone; upload it again",
        ),
    }
)


# --- categories -------------------------------------------------------------------------------


async def all_categories(db: AsyncSession, tenant_id: int) -> list[KnowledgeCategory]:
    rows = await db.scalars(
        select(KnowledgeCategory)
        .where(KnowledgeCategory.tenant_id == tenant_id)
        .order_by(KnowledgeCategory.position, KnowledgeCategory.id)
    )
    return list(rows)


def depths(cats: list[KnowledgeCategory]) -> dict[int, int]:
    """Depth of each category (1 = root)."""
    parent = {c.id: c.parent_id for c in cats}
    out: dict[int, int] = {}

    def depth(cid: int) -> int:
        if cid not in out:
            p = parent.get(cid)
            out[cid] = 1 if p is None or p not in parent else depth(p) + 1
        return out[cid]

    for c in cats:
        depth(c.id)
    return out


def paths(cats: list[KnowledgeCategory]) -> dict[int, list[str]]:
    by_id = {c.id: c for c in cats}
    out: dict[int, list[str]] = {}

    def path(cid: int) -> list[str]:
        if cid not in out:
            c = by_id[cid]
            out[cid] = ([*path(c.parent_id)] if c.parent_id in by_id else []) + [c.name]
        return out[cid]

    for c in cats:
        path(c.id)
    return out


def subtree(cats: list[KnowledgeCategory], root: int) -> set[int]:
    children: dict[int | None, list[int]] = {}
    for c in cats:
        children.setdefault(c.parent_id, []).append(c.id)
    out, stack = set(), [root]
    while stack:
        cid = stack.pop()
        out.add(cid)
        stack.extend(children.get(cid, []))
    return out


async def get_category(db: AsyncSession, tenant_id: int, category_id: int) -> KnowledgeCategory:
    cat = await db.scalar(
        select(KnowledgeCategory).where(
            KnowledgeCategory.id == category_id, KnowledgeCategory.tenant_id == tenant_id
        )
    )
    if cat is None:
        raise ApiError("not_found")
    return cat


def _name_free(cats: list[KnowledgeCategory], parent_id: int | None, name: str, me: int) -> None:
    if any(c.parent_id == parent_id and c.name == name and c.id != me for c in cats):
        raise ApiError("knowledge_category_name_taken")


async def create_category(
    db: AsyncSession, principal: Principal, body: KnowledgeCategoryIn, ip: str
) -> KnowledgeCategory:
    cats = await all_categories(db, principal.tenant_id)
    if len(cats) >= MAX_CATEGORIES:
        raise ApiError("knowledge_category_limit", limit=MAX_CATEGORIES)
    depth = 0
    if body.parent_id is not None:
        await get_category(db, principal.tenant_id, body.parent_id)
        depth = depths(cats)[body.parent_id]
    if depth + 1 > MAX_DEPTH:
        raise ApiError("knowledge_depth_limit", limit=MAX_DEPTH)
    _name_free(cats, body.parent_id, body.name, 0)
    siblings = [c.position for c in cats if c.parent_id == body.parent_id]
    cat = KnowledgeCategory(
        tenant_id=principal.tenant_id,
        parent_id=body.parent_id,
        name=body.name,
        position=max(siblings, default=-1) + 1,
        created_at=clock.now(),
    )
    db.add(cat)
    await db.flush()
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="knowledge_category.created",
        target_type="knowledge_category",
        target_id=cat.id,
        detail={"name": cat.name, "parent_id": cat.parent_id},
        ip=ip,
    )
    return cat


async def update_category(
    db: AsyncSession,
    principal: Principal,
    cat: KnowledgeCategory,
    patch: KnowledgeCategoryPatch,
    ip: str,
) -> None:
    changes = {
        k: v for k, v in patch.model_dump(exclude_unset=True).items() if getattr(cat, k) != v
    }
    if not changes:
        return
    cats = await all_categories(db, principal.tenant_id)
    parent_id = changes.get("parent_id", cat.parent_id)
    if "parent_id" in changes:
        if parent_id is not None:
            await get_category(db, principal.tenant_id, parent_id)
            if parent_id in subtree(cats, cat.id):
                raise ApiError("knowledge_category_cycle")
        # The moved subtree's deepest level must stay within the limit.
        d = depths(cats)
        moved = subtree(cats, cat.id)
        height = max(d[c] for c in moved) - d[cat.id] + 1
        base = d[parent_id] if parent_id is not None else 0
        if base + height > MAX_DEPTH:
            raise ApiError("knowledge_depth_limit", limit=MAX_DEPTH)
        siblings = [c.position for c in cats if c.parent_id == parent_id]
        cat.position = max(siblings, default=-1) + 1
    _name_free(cats, parent_id, changes.get("name", cat.name), cat.id)
    detail = {k: {"from": getattr(cat, k), "to": v} for k, v in changes.items()}
    for field, value in changes.items():
        setattr(cat, field, value)
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="knowledge_category.updated",
        target_type="knowledge_category",
        target_id=cat.id,
        detail=detail,
        ip=ip,
    )


async def delete_category(
    db: AsyncSession, principal: Principal, cat: KnowledgeCategory, ip: str
) -> None:
    """Only an empty category goes: items are never deleted by accident with their folder."""
    child = await db.scalar(
        select(KnowledgeCategory.id).where(KnowledgeCategory.parent_id == cat.id).limit(1)
    )
    item = await db.scalar(
        select(KnowledgeItem.id).where(KnowledgeItem.category_id == cat.id).limit(1)
    )
    if child is not None or item is not None:
        raise ApiError("knowledge_category_not_empty")
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="knowledge_category.deleted",
        target_type="knowledge_category",
        target_id=cat.id,
        detail={"name": cat.name},
        ip=ip,
    )
    await db.delete(cat)


async def reorder_categories(
    db: AsyncSession, principal: Principal, parent_id: int | None, ids: list[int]
) -> None:
    """Set the order of one parent's children: `ids` must be exactly those children."""
    cats = await all_categories(db, principal.tenant_id)
    if parent_id is not None and parent_id not in {c.id for c in cats}:
        raise ApiError("not_found")
    siblings = {c.id: c for c in cats if c.parent_id == parent_id}
    if len(ids) != len(set(ids)) or set(ids) != set(siblings):
        raise ApiError("not_found")
    for position, cid in enumerate(ids):
        siblings[cid].position = position


async def item_counts(db: AsyncSession, tenant_id: int) -> dict[int, int]:
    rows = await db.execute(
        select(KnowledgeItem.category_id, func.count())
        .where(KnowledgeItem.tenant_id == tenant_id)
        .group_by(KnowledgeItem.category_id)
    )
    return {cid: n for cid, n in rows.all()}


# --- items ------------------------------------------------------------------------------------


async def count_items(db: AsyncSession, tenant_id: int) -> int:
    n = await db.scalar(
        select(func.count()).select_from(KnowledgeItem).where(KnowledgeItem.tenant_id == tenant_id)
    )
    return int(n or 0)


async def get_item(db: AsyncSession, tenant_id: int, item_id: int) -> KnowledgeItem:
    item = await db.scalar(
        select(KnowledgeItem).where(
            KnowledgeItem.id == item_id, KnowledgeItem.tenant_id == tenant_id
        )
    )
    if item is None:
        raise ApiError("not_found")
    return item


async def item_by_token(db: AsyncSession, token: str) -> KnowledgeItem | None:
    return await db.scalar(select(KnowledgeItem).where(KnowledgeItem.share_token == token))


async def search_items(
    db: AsyncSession,
    tenant_id: int,
    *,
    q: str = "",
    category_id: int | None = None,
    offset: int = 0,
    limit: int = 20,
) -> tuple[list[KnowledgeItem], int]:
    """Items by title or content words, optionally within a category and its subcategories."""
    query = select(KnowledgeItem).where(KnowledgeItem.tenant_id == tenant_id)
    if category_id is not None:
        cats = await all_categories(db, tenant_id)
        if category_id not in {c.id for c in cats}:
            raise ApiError("not_found")
        query = query.where(KnowledgeItem.category_id.in_(subtree(cats, category_id)))
    q = q.strip()
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(
                KnowledgeItem.title.ilike(like, escape="\\"),
                KnowledgeItem.content_text.ilike(like, escape="\\"),
            )
        )
    total = await db.scalar(select(func.count()).select_from(query.subquery()))
    rows = await db.scalars(
        query.order_by(KnowledgeItem.updated_at.desc(), KnowledgeItem.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(rows), int(total or 0)


async def _knowledge_files(
    db: AsyncSession, tenant_id: int, ids: list[int], kinds: tuple[str, ...]
) -> list[Attachment]:
    """The tenant's knowledge uploads with these ids, in order; anything else is refused."""
    if not ids:
        return []
    rows = await db.scalars(
        select(Attachment).where(
            Attachment.id.in_(set(ids)),
            Attachment.tenant_id == tenant_id,
            Attachment.uploader_type == UPLOADER,
            Attachment.removed_at.is_(None),
        )
    )
    found = {a.id: a for a in rows if a.kind in kinds}
    if set(ids) - set(found):
        raise ApiError("knowledge_file_not_found")
    return [found[i] for i in dict.fromkeys(ids)]


async def _claim(db: AsyncSession, atts: list[Attachment]) -> None:
    """Saved with an item: the file no longer expires (KB files live as long as the item)."""
    for att in atts:
        if att.expires_at is not None:
            att.expires_at = None
            await cancel_timer(db, kind=EXPIRE_TIMER, subject_id=att.id)


async def _release(db: AsyncSession, tenant_id: int, ids: set[int], keep_item: int | None) -> None:
    """Files no other item uses any more are removed (by the attachments' expiry timer, now)."""
    if not ids:
        return
    others = await db.scalars(
        select(KnowledgeItem).where(
            KnowledgeItem.tenant_id == tenant_id, KnowledgeItem.id != (keep_item or 0)
        )
    )
    used: set[int] = set()
    for other in others:
        used |= set(other.attachment_ids or []) | set(other.image_ids or [])
    now = clock.now()
    for att_id in ids - used:
        att = await db.get(Attachment, att_id)
        if att is not None and att.removed_at is None:
            att.expires_at = now
            await schedule_timer(
                db, tenant_id=tenant_id, kind=EXPIRE_TIMER, subject_id=att_id, due_at=now
            )


async def _content(db: AsyncSession, tenant_id: int, raw: str) -> tuple[str, str, list[int]]:
    """(sanitised HTML, plain text, image ids): images only of this tenant's KB uploads."""
    settings = settings_of(db)
    wanted = content.image_ids_in(raw)
    valid: list[int] = []
    if wanted:
        rows = await db.scalars(
            select(Attachment.id).where(
                Attachment.id.in_(wanted),
                Attachment.tenant_id == tenant_id,
                Attachment.uploader_type == UPLOADER,
                Attachment.kind == "image",
                Attachment.removed_at.is_(None),
            )
        )
        valid = list(rows)
    html = content.sanitise(raw, settings, tenant_id, valid)
    images = sorted(content.image_ids_in(html))
    return html, content.to_text(html), images


async def create_item(
    db: AsyncSession, principal: Principal, body: KnowledgeItemIn, ip: str, *, audit: bool = True
) -> KnowledgeItem:
    tenant_id = principal.tenant_id
    if await count_items(db, tenant_id) >= MAX_ITEMS:
        raise ApiError("knowledge_item_limit", limit=MAX_ITEMS)
    await get_category(db, tenant_id, body.category_id)
    files = await _knowledge_files(db, tenant_id, body.attachment_ids, ("image", "file"))
    html, text, images = await _content(db, tenant_id, body.content_html)
    await _claim(db, files)
    await _claim(db, await _knowledge_files(db, tenant_id, images, ("image",)))
    now = clock.now()
    item = KnowledgeItem(
        tenant_id=tenant_id,
        category_id=body.category_id,
        title=body.title,
        content_html=html,
        content_text=text,
        attachment_ids=[a.id for a in files],
        image_ids=images,
        share_token=new_token(24),
        author_id=principal.user.id,
        author_name=principal.user.nickname[:50],
        created_at=now,
        updated_at=now,
    )
    db.add(item)
    await db.flush()
    if audit:
        record(
            db,
            principal,
            tenant_id=tenant_id,
            action="knowledge_item.created",
            target_type="knowledge_item",
            target_id=item.id,
            detail={"title": item.title, "category_id": item.category_id},
            ip=ip,
        )
    return item


async def update_item(
    db: AsyncSession, principal: Principal, item: KnowledgeItem, patch: KnowledgeItemPatch, ip: str
) -> None:
    tenant_id = principal.tenant_id
    changes: dict[str, Any] = patch.model_dump(exclude_unset=True)
    before = set(item.attachment_ids or []) | set(item.image_ids or [])
    if "category_id" in changes:
        await get_category(db, tenant_id, changes["category_id"])
        item.category_id = changes["category_id"]
    if "title" in changes:
        item.title = changes["title"]
    if "attachment_ids" in changes:
        files = await _knowledge_files(db, tenant_id, changes["attachment_ids"], ("image", "file"))
        await _claim(db, files)
        item.attachment_ids = [a.id for a in files]
    if "content_html" in changes:
        html, text, images = await _content(db, tenant_id, changes["content_html"])
        await _claim(db, await _knowledge_files(db, tenant_id, images, ("image",)))
        item.content_html, item.content_text, item.image_ids = html, text, images
    if not changes:
        return
    after = set(item.attachment_ids or []) | set(item.image_ids or [])
    await _release(db, tenant_id, before - after, item.id)
    # The author is the admin who last edited the item.
    item.author_id = principal.user.id
    item.author_name = principal.user.nickname[:50]
    item.updated_at = clock.now()
    record(
        db,
        principal,
        tenant_id=tenant_id,
        action="knowledge_item.updated",
        target_type="knowledge_item",
        target_id=item.id,
        detail={"fields": sorted(changes), "title": item.title},
        ip=ip,
    )


async def delete_item(db: AsyncSession, principal: Principal, item: KnowledgeItem, ip: str) -> None:
    files = set(item.attachment_ids or []) | set(item.image_ids or [])
    await _release(db, principal.tenant_id, files, item.id)
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="knowledge_item.deleted",
        target_type="knowledge_item",
        target_id=item.id,
        detail={"title": item.title},
        ip=ip,
    )
    await db.delete(item)


async def upload_file(
    db: AsyncSession, settings: Settings, principal: Principal, upload: UploadFile, kind: str
) -> Attachment:
    """A KB upload (content image or item attachment), kept once an item saves it."""
    att = await accept_upload(
        db,
        settings,
        tenant_id=principal.tenant_id,
        upload=upload,
        kind=kind,
        uploader_type=UPLOADER,
        uploader_id=principal.user.id,
        conversation_id=None,
    )
    att.expires_at = clock.now() + UNCLAIMED_TTL
    await schedule_timer(
        db,
        tenant_id=principal.tenant_id,
        kind=EXPIRE_TIMER,
        subject_id=att.id,
        due_at=att.expires_at,
    )
    return att


def file_view(settings: Settings, att: Attachment) -> dict[str, Any]:
    url = (
        content.asset_url(settings, att.tenant_id, att.id)
        if att.kind == "image"
        else signed_url(settings, att.id)
    )
    return {
        "id": att.id,
        "kind": att.kind,
        "name": att.name,
        "size": att.size,
        "content_type": att.content_type,
        "url": url,
    }


async def item_files(db: AsyncSession, item: KnowledgeItem) -> list[Attachment]:
    ids = list(item.attachment_ids or [])
    if not ids:
        return []
    rows = await db.scalars(
        select(Attachment).where(
            Attachment.id.in_(ids),
            Attachment.tenant_id == item.tenant_id,
            Attachment.removed_at.is_(None),
        )
    )
    by_id = {a.id: a for a in rows}
    return [by_id[i] for i in ids if i in by_id]


async def public_image(db: AsyncSession, settings: Settings, asset: str) -> Attachment:
    """A content image by its asset name "<id>-<signature>" (the signature is the credential)."""
    raw_id, _, sig = asset.partition("-")
    att = await db.get(Attachment, int(raw_id))
    if (
        att is None
        or att.uploader_type != UPLOADER
        or att.kind != "image"
        or att.removed_at is not None
        or sig != content.asset_sig(settings, att.tenant_id, att.id)
    ):
        raise ApiError("not_found")
    return att
