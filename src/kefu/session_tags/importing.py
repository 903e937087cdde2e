"""Session tag import and export (§9.1): one row per tag, its path in columns level1..level10."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.core import clock
from kefu.core.errors import ApiError
from kefu.session_tags.actions import (
    MAX_FIRST_LEVEL,
    MAX_LEVELS,
    MAX_NAME,
    MAX_TOTAL,
    Tree,
    _audit,
    _lock_tenant,
    load_tree,
)
from kefu.session_tags.models import SessionTag
from kefu.session_tags.schemas import SessionTagImportOut
from kefu.tags.xlsx import bad_name, read_rows, rows_error

HEADERS = [f"{n}级标签 level{i}" for i, n in enumerate("一二三四五六七八九十", start=1)]
SHEET = "会话标签"


def export_rows(tree: Tree) -> list[list[str]]:
    rows: list[list[str]] = []

    def walk(parent_id: int | None, prefix: list[str]) -> None:
        for tag in tree.kids(parent_id):
            path = [*prefix, tag.name]
            rows.append(path + [""] * (MAX_LEVELS - len(path)))
            walk(tag.id, path)

    walk(None, [])
    return rows


def _key(name: str) -> str:
    return name.strip().casefold()


async def import_tags(
    db: AsyncSession, principal: Principal, data: bytes, ip: str
) -> SessionTagImportOut:
    """Add the file's new tags (and any missing ancestors); count duplicates. All or nothing:
    an invalid row or a broken limit refuses the whole file."""
    rows = read_rows(data, MAX_LEVELS + 5)
    errors: list[tuple[int, str]] = []
    paths: list[tuple[int, list[str]]] = []
    for number, cells in rows:
        if any(cells[MAX_LEVELS:]):
            errors.append((number, f"最多 {MAX_LEVELS} 级 / at most {MAX_LEVELS} levels"))
            continue
        filled = [c for c in cells[:MAX_LEVELS]]
        last = max(i for i, c in enumerate(filled) if c)
        path = filled[: last + 1]
        if any(not c for c in path):
            errors.append((number, "层级中间有空白单元格 / a level in the path is empty"))
            continue
        problem = next((p for p in (bad_name(c, MAX_NAME) for c in path) if p), None)
        if problem:
            errors.append((number, problem))
            continue
        paths.append((number, path))
    if errors:
        raise rows_error(errors)

    tenant_id = principal.tenant_id
    await _lock_tenant(db, tenant_id)
    tree = await load_tree(db, tenant_id)
    # Existing tree keyed by folded path.
    existing: dict[tuple[str, ...], int] = {}

    def index(parent_id: int | None, prefix: tuple[str, ...]) -> None:
        for tag in tree.kids(parent_id):
            key = (*prefix, _key(tag.name))
            existing[key] = tag.id
            index(tag.id, key)

    index(None, ())
    planned: dict[tuple[str, ...], str] = {}  # new folded path -> display name of last part
    seen_rows: set[tuple[str, ...]] = set()
    dup_existing = dup_file = 0
    dup_rows: list[int] = []
    for number, path in paths:
        key = tuple(_key(c) for c in path)
        if key in existing:
            dup_existing += 1
            dup_rows.append(number)
            continue
        if key in seen_rows or key in planned:
            dup_file += 1
            dup_rows.append(number)
            continue
        seen_rows.add(key)
        for depth in range(1, len(path) + 1):
            part = key[:depth]
            if part not in existing and part not in planned:
                planned[part] = path[depth - 1]
    new_first = sum(1 for k in planned if len(k) == 1)
    if len(tree.kids(None)) + new_first > MAX_FIRST_LEVEL:
        raise ApiError("session_tag_first_level_limit", limit=MAX_FIRST_LEVEL)
    if len(tree.by_id) + len(planned) > MAX_TOTAL:
        raise ApiError("session_tag_total_limit", limit=MAX_TOTAL)

    now = clock.now()
    ids: dict[tuple[str, ...], int] = dict(existing)
    next_pos: dict[int | None, int] = {}
    for key in sorted(planned, key=len):
        parent_id = ids[key[:-1]] if len(key) > 1 else None
        if parent_id not in next_pos:
            next_pos[parent_id] = max((t.position for t in tree.kids(parent_id)), default=-1) + 1
        tag = SessionTag(
            tenant_id=tenant_id,
            parent_id=parent_id,
            name=planned[key],
            color=None,
            position=next_pos[parent_id],
            created_at=now,
        )
        next_pos[parent_id] += 1
        db.add(tag)
        await db.flush()
        ids[key] = tag.id
    detail: dict[str, Any] = {
        "rows": len(rows),
        "created": len(planned),
        "duplicates_existing": dup_existing,
        "duplicates_in_file": dup_file,
    }
    _audit(db, principal, "imported", "", detail, ip)
    return SessionTagImportOut(
        rows=len(rows),
        created=len(planned),
        duplicates_existing=dup_existing,
        duplicates_in_file=dup_file,
        duplicate_rows=dup_rows[:200],
    )
