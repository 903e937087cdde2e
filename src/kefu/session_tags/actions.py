"""Session tags (§9.1): the tenant's tag tree, applying tags to conversations, suggestions.

Validate, write, emit; never commit (the unit of work does)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.accounts.models import User
from kefu.audit.actions import record
from kefu.conversations.models import Conversation
from kefu.core import clock
from kefu.core.errors import ApiError, register_codes
from kefu.notifications.actions import notify
from kefu.session_tags.models import ConversationTag, ConversationTagNote, SessionTag
from kefu.tenants.models import Tenant
from kefu.visitors.models import Visitor

MAX_LEVELS = 10
MAX_FIRST_LEVEL = 30
MAX_TOTAL = 1000
MAX_NAME = 30
MAX_REMARK = 200
MAX_TAGS_PER_CONVERSATION = 20
SUGGESTED = 5

register_codes(
    {
        "session_tag_not_found": (
            404,
            "会话标签不存在或已删除",
            "The session tag does not exist or was deleted",
        ),
        "session_tag_name_taken": (
            409,
            "同级下已有同名的会话标签",
            "A sibling session tag already has this name",
        ),
        "session_tag_first_level_limit": (
            409,
            "一级会话标签最多 {limit} 个",
            "There can be at most {limit} first-level session tags",
        ),
        "session_tag_total_limit": (
            409,
            "会话标签最多 {limit} 个，请先删除不用的标签",
            "There can be at most {limit} session tags; delete unused ones first",
        ),
        "session_tag_depth_limit": (
            409,
            "会话标签最多 {limit} 级",
            "Session tags can be at most {limit} levels deep",
        ),
        "session_tag_move_into_self": (
            409,
            "不能把标签移动到它自己或它的下级标签下",
            "A tag cannot be moved under itself or one of its descendants",
        ),
        "session_tag_order_mismatch": (
            409,
            "排序列表必须恰好包含该层级下的全部标签，请刷新后重试",
            "The order must list exactly the tags of that level; refresh and try again",
        ),
        "session_tag_too_many": (
            422,
            "一个会话最多添加 {limit} 个标签",
            "A conversation can carry at most {limit} session tags",
        ),
        "session_tag_remark_too_long": (
            422,
            "备注最多 {limit} 个字",
            "The remark can be at most {limit} characters",
        ),
        "session_tag_required": (
            409,
            "已开启“会话结束时强制添加会话标签”，请先为该会话添加至少一个标签再结束",
            "A session tag is required to end this conversation: add at least one tag first",
        ),
    }
)


# --- the tree ----------------------------------------------------------------------------


@dataclass
class Tree:
    """The tenant's live (not deleted) tags, indexed for path, depth and subtree queries."""

    by_id: dict[int, SessionTag]
    children: dict[int | None, list[SessionTag]] = field(default_factory=dict)

    @classmethod
    def of(cls, tags: Iterable[SessionTag]) -> Tree:
        tree = cls(by_id={t.id: t for t in tags})
        for tag in sorted(tree.by_id.values(), key=lambda t: (t.position, t.id)):
            tree.children.setdefault(tag.parent_id, []).append(tag)
        return tree

    def kids(self, parent_id: int | None) -> list[SessionTag]:
        return self.children.get(parent_id, [])

    def level(self, tag_id: int) -> int:
        """1 for a first-level tag."""
        depth, current = 0, self.by_id.get(tag_id)
        while current is not None and depth <= MAX_LEVELS + 1:
            depth += 1
            current = self.by_id.get(current.parent_id) if current.parent_id else None
        return depth

    def height(self, tag_id: int) -> int:
        """Levels in the subtree rooted at the tag (1 for a leaf)."""
        kids = self.kids(tag_id)
        return 1 + max((self.height(k.id) for k in kids), default=0)

    def subtree_ids(self, tag_id: int) -> list[int]:
        out = [tag_id]
        for kid in self.kids(tag_id):
            out.extend(self.subtree_ids(kid.id))
        return out

    def path(self, tag_id: int) -> list[str]:
        names: list[str] = []
        current = self.by_id.get(tag_id)
        while current is not None and len(names) <= MAX_LEVELS:
            names.append(current.name)
            current = self.by_id.get(current.parent_id) if current.parent_id else None
        return list(reversed(names))


async def load_tree(db: AsyncSession, tenant_id: int) -> Tree:
    rows = await db.scalars(
        select(SessionTag).where(SessionTag.tenant_id == tenant_id, SessionTag.deleted_at.is_(None))
    )
    return Tree.of(rows)


async def _lock_tenant(db: AsyncSession, tenant_id: int) -> None:
    """Serialise tree edits of one tenant, so limits and sibling names hold under concurrency."""
    await db.scalar(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())


async def get_tag(db: AsyncSession, tenant_id: int, tag_id: int) -> SessionTag:
    tag = await db.scalar(
        select(SessionTag).where(
            SessionTag.id == tag_id,
            SessionTag.tenant_id == tenant_id,
            SessionTag.deleted_at.is_(None),
        )
    )
    if tag is None:
        raise ApiError("not_found")
    return tag


def _check_name(tree: Tree, parent_id: int | None, name: str, exclude: int | None) -> None:
    folded = name.strip().casefold()
    for sib in tree.kids(parent_id):
        if sib.id != exclude and sib.name.strip().casefold() == folded:
            raise ApiError("session_tag_name_taken")


def _check_room(tree: Tree, parent_id: int | None, adding: int = 1) -> None:
    if len(tree.by_id) + adding > MAX_TOTAL:
        raise ApiError("session_tag_total_limit", limit=MAX_TOTAL)
    if parent_id is None and len(tree.kids(None)) + 1 > MAX_FIRST_LEVEL:
        raise ApiError("session_tag_first_level_limit", limit=MAX_FIRST_LEVEL)


def _audit(
    db: AsyncSession,
    principal: Principal,
    action: str,
    tag_id: object,
    detail: dict[str, Any],
    ip: str,
) -> None:
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action=f"session_tag.{action}",
        target_type="session_tag",
        target_id=tag_id,
        detail=detail,
        ip=ip,
    )


async def create_tag(
    db: AsyncSession,
    principal: Principal,
    *,
    name: str,
    parent_id: int | None,
    color: str | None,
    ip: str,
) -> SessionTag:
    tenant_id = principal.tenant_id
    await _lock_tenant(db, tenant_id)
    tree = await load_tree(db, tenant_id)
    if parent_id is not None:
        if parent_id not in tree.by_id:
            raise ApiError("session_tag_not_found")
        if tree.level(parent_id) + 1 > MAX_LEVELS:
            raise ApiError("session_tag_depth_limit", limit=MAX_LEVELS)
    _check_room(tree, parent_id)
    _check_name(tree, parent_id, name, None)
    siblings = tree.kids(parent_id)
    tag = SessionTag(
        tenant_id=tenant_id,
        parent_id=parent_id,
        name=name,
        color=color,
        position=(max((s.position for s in siblings), default=-1) + 1),
        created_at=clock.now(),
    )
    db.add(tag)
    await db.flush()
    _audit(db, principal, "created", tag.id, {"name": name, "parent_id": parent_id}, ip)
    return tag


async def update_tag(
    db: AsyncSession,
    principal: Principal,
    tag: SessionTag,
    changes: dict[str, Any],
    ip: str,
) -> None:
    """Rename / recolour (`name`, `color`) and move (`parent_id`, optional `position`)."""
    tenant_id = principal.tenant_id
    await _lock_tenant(db, tenant_id)
    tree = await load_tree(db, tenant_id)
    detail: dict[str, Any] = {}
    new_parent = changes.get("parent_id", tag.parent_id)
    moving = "parent_id" in changes and new_parent != tag.parent_id
    if moving:
        if new_parent is not None:
            if new_parent not in tree.by_id:
                raise ApiError("session_tag_not_found")
            if new_parent in tree.subtree_ids(tag.id):
                raise ApiError("session_tag_move_into_self")
        parent_level = tree.level(new_parent) if new_parent is not None else 0
        if parent_level + tree.height(tag.id) > MAX_LEVELS:
            raise ApiError("session_tag_depth_limit", limit=MAX_LEVELS)
        if new_parent is None and len(tree.kids(None)) + 1 > MAX_FIRST_LEVEL:
            raise ApiError("session_tag_first_level_limit", limit=MAX_FIRST_LEVEL)
    name = changes.get("name", tag.name)
    if moving or name != tag.name:
        _check_name(tree, new_parent, name, tag.id)
    if name != tag.name:
        detail["name"] = {"from": tag.name, "to": name}
        tag.name = name
    if "color" in changes and changes["color"] != tag.color:
        detail["color"] = {"from": tag.color, "to": changes["color"]}
        tag.color = changes["color"]
    if moving:
        detail["parent_id"] = {"from": tag.parent_id, "to": new_parent}
        old_siblings = [s for s in tree.kids(tag.parent_id) if s.id != tag.id]
        for i, sib in enumerate(old_siblings):
            sib.position = i
        siblings = list(tree.kids(new_parent))
        pos = changes.get("position")
        index = len(siblings) if pos is None else max(0, min(int(pos), len(siblings)))
        siblings.insert(index, tag)
        tag.parent_id = new_parent
        for i, sib in enumerate(siblings):
            sib.position = i
    elif changes.get("position") is not None:
        siblings = [s for s in tree.kids(tag.parent_id) if s.id != tag.id]
        index = max(0, min(int(changes["position"]), len(siblings)))
        siblings.insert(index, tag)
        for i, sib in enumerate(siblings):
            sib.position = i
        detail["position"] = index
    if detail:
        _audit(db, principal, "updated", tag.id, detail, ip)


async def reorder(
    db: AsyncSession, principal: Principal, parent_id: int | None, ordered_ids: list[int], ip: str
) -> None:
    """Put the children of `parent_id` (None: the first level) in the given order."""
    tenant_id = principal.tenant_id
    await _lock_tenant(db, tenant_id)
    tree = await load_tree(db, tenant_id)
    if parent_id is not None and parent_id not in tree.by_id:
        raise ApiError("not_found")
    siblings = tree.kids(parent_id)
    if sorted(ordered_ids) != sorted(s.id for s in siblings) or len(set(ordered_ids)) != len(
        ordered_ids
    ):
        raise ApiError("session_tag_order_mismatch")
    for i, tag_id in enumerate(ordered_ids):
        tree.by_id[tag_id].position = i
    _audit(db, principal, "reordered", parent_id or "", {"order": ordered_ids}, ip)


async def delete_tag(db: AsyncSession, principal: Principal, tag: SessionTag, ip: str) -> int:
    """Delete the tag and its subtree (soft: conversations keep showing them). Returns how many
    tags were removed."""
    tenant_id = principal.tenant_id
    await _lock_tenant(db, tenant_id)
    tree = await load_tree(db, tenant_id)
    ids = tree.subtree_ids(tag.id)
    now = clock.now()
    for tag_id in ids:
        tree.by_id[tag_id].deleted_at = now
    remaining = [s for s in tree.kids(tag.parent_id) if s.id != tag.id]
    for i, sib in enumerate(remaining):
        sib.position = i
    _audit(db, principal, "deleted", tag.id, {"name": tag.name, "subtree": ids}, ip)
    return len(ids)


# --- applying tags to a conversation -----------------------------------------------------


@dataclass
class AppliedTag:
    id: int
    name: str
    path: list[str]
    color: str | None
    deleted: bool


@dataclass
class ConversationTags:
    tags: list[AppliedTag]
    remark: str
    updated_by: int | None
    updated_at: datetime | None


async def _path_index(db: AsyncSession, tenant_id: int, tag_ids: set[int]) -> dict[int, SessionTag]:
    """Every tag of the tenant including deleted ones (for paths of deleted tags)."""
    if not tag_ids:
        return {}
    rows = await db.scalars(select(SessionTag).where(SessionTag.tenant_id == tenant_id))
    return {t.id: t for t in rows}


def _full_path(index: dict[int, SessionTag], tag_id: int) -> list[str]:
    names: list[str] = []
    current = index.get(tag_id)
    while current is not None and len(names) <= MAX_LEVELS:
        names.append(current.name)
        current = index.get(current.parent_id) if current.parent_id else None
    return list(reversed(names))


async def conversation_tags(db: AsyncSession, conv: Conversation) -> ConversationTags:
    links = list(
        await db.scalars(
            select(ConversationTag)
            .where(ConversationTag.conversation_id == conv.id)
            .order_by(ConversationTag.id)
        )
    )
    note = await db.scalar(
        select(ConversationTagNote).where(ConversationTagNote.conversation_id == conv.id)
    )
    index = await _path_index(db, conv.tenant_id, {link.tag_id for link in links})
    tags = [
        AppliedTag(
            id=link.tag_id,
            name=index[link.tag_id].name,
            path=_full_path(index, link.tag_id),
            color=index[link.tag_id].color,
            deleted=index[link.tag_id].deleted_at is not None,
        )
        for link in links
        if link.tag_id in index
    ]
    return ConversationTags(
        tags=tags,
        remark=note.remark if note else "",
        updated_by=note.updated_by if note else None,
        updated_at=note.updated_at if note else None,
    )


async def has_tags(db: AsyncSession, conv: Conversation) -> bool:
    found = await db.scalar(
        select(ConversationTag.id).where(ConversationTag.conversation_id == conv.id).limit(1)
    )
    return found is not None


async def tag_conversation(
    db: AsyncSession,
    conv: Conversation,
    *,
    tag_ids: list[int],
    remark: str,
    actor: User | None,
) -> None:
    """Replace the conversation's session tags and remark.

    Any node of the tree may be applied (a category as well as a leaf). Ids must be live tags
    of the conversation's tenant; a deleted tag the conversation already carries may stay.
    `actor=None` is the system (the default tag of an automatic end, §7). When the actor is
    not the agent who holds / last held the conversation (an admin), that agent is notified.
    Raises `ApiError` (`session_tag_not_found`, `session_tag_too_many`,
    `session_tag_remark_too_long`) before writing anything."""
    wanted: list[int] = list(dict.fromkeys(int(t) for t in tag_ids))
    if len(wanted) > MAX_TAGS_PER_CONVERSATION:
        raise ApiError("session_tag_too_many", limit=MAX_TAGS_PER_CONVERSATION)
    remark = (remark or "").strip()
    if len(remark) > MAX_REMARK:
        raise ApiError("session_tag_remark_too_long", limit=MAX_REMARK)
    current_links = {
        link.tag_id: link
        for link in await db.scalars(
            select(ConversationTag).where(ConversationTag.conversation_id == conv.id)
        )
    }
    new_ids = [t for t in wanted if t not in current_links]
    if new_ids:
        live = set(
            await db.scalars(
                select(SessionTag.id).where(
                    SessionTag.tenant_id == conv.tenant_id,
                    SessionTag.id.in_(new_ids),
                    SessionTag.deleted_at.is_(None),
                )
            )
        )
        if live != set(new_ids):
            raise ApiError("session_tag_not_found")
    note = await db.scalar(
        select(ConversationTagNote).where(ConversationTagNote.conversation_id == conv.id)
    )
    old_remark = note.remark if note else ""
    gone = [t for t in current_links if t not in set(wanted)]
    changed = bool(new_ids or gone or remark != old_remark)
    if not changed:
        return
    now = clock.now()
    if gone:
        await db.execute(
            delete(ConversationTag).where(
                ConversationTag.conversation_id == conv.id, ConversationTag.tag_id.in_(gone)
            )
        )
    actor_id = actor.id if actor is not None else None
    for tag_id in new_ids:
        db.add(
            ConversationTag(
                tenant_id=conv.tenant_id,
                conversation_id=conv.id,
                tag_id=tag_id,
                actor_id=actor_id,
                created_at=now,
            )
        )
    if note is None:
        note = ConversationTagNote(tenant_id=conv.tenant_id, conversation_id=conv.id)
        db.add(note)
    note.remark = remark
    note.updated_by = actor_id
    note.updated_at = now
    await db.flush()
    if actor is not None and conv.agent_id is not None and conv.agent_id != actor.id:
        await _notify_holder(db, conv, actor)


async def _notify_holder(db: AsyncSession, conv: Conversation, actor: User) -> None:
    applied = await conversation_tags(db, conv)
    visitor = await db.get(Visitor, conv.visitor_id)
    assert conv.agent_id is not None
    await notify(
        db,
        tenant_id=conv.tenant_id,
        user_id=conv.agent_id,
        kind="session_tags_changed",
        data={
            "conversation_id": conv.id,
            "visitor_id": conv.visitor_id,
            "visitor_name": visitor.name if visitor else "",
            "tags": [" / ".join(t.path) for t in applied.tags],
            "remark": applied.remark,
            "actor_id": actor.id,
            "actor_name": actor.nickname,
        },
    )


async def suggested(db: AsyncSession, user: User, limit: int = SUGGESTED) -> list[int]:
    """The user's most-used live tags, most frequent first (ties: most recently used)."""
    uses = func.count(ConversationTag.id)
    rows = await db.execute(
        select(ConversationTag.tag_id, uses, func.max(ConversationTag.id))
        .join(SessionTag, SessionTag.id == ConversationTag.tag_id)
        .where(
            ConversationTag.tenant_id == user.tenant_id,
            ConversationTag.actor_id == user.id,
            SessionTag.deleted_at.is_(None),
        )
        .group_by(ConversationTag.tag_id)
        .order_by(uses.desc(), func.max(ConversationTag.id).desc())
        .limit(limit)
    )
    return [int(r[0]) for r in rows]


async def _switch_on(db: AsyncSession, tenant_id: int) -> bool:
    from kefu.tenants.actions import DEFAULT_SWITCHES

    tenant = await db.get(Tenant, tenant_id)
    switches = (tenant.switches if tenant else None) or {}
    return bool(switches.get("session_tag_required", DEFAULT_SWITCHES["session_tag_required"]))


async def require_tag_to_end(db: AsyncSession, conv: Conversation, *, by: str) -> None:
    """§3.7: with the switch on, a manual end by staff needs at least one session tag."""
    if by not in ("agent", "admin") or conv.state != "ongoing":
        return
    if not await _switch_on(db, conv.tenant_id):
        return
    if not await has_tags(db, conv):
        raise ApiError("session_tag_required")
