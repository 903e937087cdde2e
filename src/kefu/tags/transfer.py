"""Visitor tag import and export (§9.2): import adds new names only, silently skipping ones
that already exist (or repeat in the file)."""

from __future__ import annotations

import re

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.audit.actions import record
from kefu.core import clock
from kefu.core.errors import ApiError
from kefu.tags.actions import MAX_TAGS_PER_TENANT, list_tags
from kefu.tags.models import VisitorTag
from kefu.tags.xlsx import bad_name, read_rows, rows_error

HEADERS = ["标签名称 name", "颜色 colour (#RRGGBB)"]
SHEET = "访客标签"
MAX_NAME = 20
DEFAULT_COLOR = "#409eff"
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


class VisitorTagImportOut(BaseModel):
    rows: int
    created: int
    skipped: int


async def export_rows(db: AsyncSession, tenant_id: int) -> list[list[str]]:
    return [[t.name, t.color] for t in await list_tags(db, tenant_id)]


async def import_tags(
    db: AsyncSession, principal: Principal, data: bytes, ip: str
) -> VisitorTagImportOut:
    rows = read_rows(data, 2)
    errors: list[tuple[int, str]] = []
    parsed: list[tuple[str, str]] = []
    for number, (name, color) in rows:
        if not name:
            errors.append((number, "缺少标签名称 / the name is missing"))
            continue
        problem = bad_name(name, MAX_NAME)
        if problem:
            errors.append((number, problem))
            continue
        if color and not _COLOR.match(color):
            errors.append((number, "颜色须为 #RRGGBB / the colour must be #RRGGBB"))
            continue
        parsed.append((name, (color or DEFAULT_COLOR).lower()))
    if errors:
        raise rows_error(errors)
    tenant_id = principal.tenant_id
    existing = set(
        await db.scalars(select(VisitorTag.name).where(VisitorTag.tenant_id == tenant_id))
    )
    count = len(existing)
    new: dict[str, str] = {}
    for name, color in parsed:
        if name not in existing and name not in new:
            new[name] = color
    if count + len(new) > MAX_TAGS_PER_TENANT:
        raise ApiError("visitor_tag_limit", limit=MAX_TAGS_PER_TENANT)
    now = clock.now()
    for name, color in new.items():
        db.add(VisitorTag(tenant_id=tenant_id, name=name, color=color, created_at=now))
    await db.flush()
    record(
        db,
        principal,
        tenant_id=tenant_id,
        action="visitor_tag.imported",
        target_type="visitor_tag",
        detail={"rows": len(rows), "created": len(new)},
        ip=ip,
    )
    return VisitorTagImportOut(rows=len(rows), created=len(new), skipped=len(rows) - len(new))
