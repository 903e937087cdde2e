"""Template import and export (xlsx): category path, title (≤ 20), content as plain text.

Content has no length limit but an xlsx cell holds 32,767 characters, so long content continues
in the next columns; the import joins every column from the third on. An import is all or
nothing: the first bad row answers 422 naming the row, and nothing is written.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

from fastapi import UploadFile
from openpyxl import Workbook, load_workbook  # type: ignore[import-untyped,unused-ignore]
from openpyxl.utils.exceptions import InvalidFileException  # type: ignore[import-untyped,unused-ignore]
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.audit.actions import record
from kefu.core import clock
from kefu.core.errors import ApiError, register_codes
from kefu.knowledge import actions, content
from kefu.knowledge.models import KnowledgeCategory, KnowledgeItem
from kefu.knowledge.schemas import KnowledgeItemIn

MAX_FILE = 20 * 1024 * 1024
CELL = 32_000
HEADER = ["分类 Category (a/b/c)", "标题 Title (≤20)", "内容 Content (text)"]
SEPARATOR = "/"

register_codes(
    {
        "knowledge_import_file": (
            400,
            "无法读取导入文件，请使用模板（.xlsx）",
            "The import file cannot be read; use the template (.xlsx)",
        ),
        "knowledge_import_row": (
            422,
            "第 {row} 行：{reason}",
            "Row {row}: {reason}",
        ),
    }
)

REASONS = {
    "category": ("分类不能为空", "the category is required"),
    "category_name": ("分类名称每级 1-30 个字", "each category level has 1-30 characters"),
    "depth": ("分类最多 10 级", "categories go at most 10 levels deep"),
    "title": ("标题不能为空且不超过 20 个字", "the title is required and at most 20 characters"),
    "control": ("包含控制字符", "contains control characters"),
    "content": ("内容过长", "the content is too long"),
}


def _row_error(row: int, reason: str) -> ApiError:
    from kefu.core.i18n import pick

    zh, en = REASONS[reason]
    return ApiError("knowledge_import_row", row=row, reason=pick(zh, en))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return str(value)


async def export_xlsx(db: AsyncSession, tenant_id: int, *, template: bool = False) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "knowledge"
    ws.append(HEADER)
    ws.column_dimensions["A"].width = 30
    ws.column_dimensions["B"].width = 24
    ws.column_dimensions["C"].width = 80
    if template:
        ws.append(["常见问题/退款", "如何申请退款", "在订单页点击“申请退款”，填写原因后提交。"])
    else:
        cats = await actions.all_categories(db, tenant_id)
        path = actions.paths(cats)
        rows = await db.scalars(
            select(KnowledgeItem)
            .where(KnowledgeItem.tenant_id == tenant_id)
            .order_by(KnowledgeItem.category_id, KnowledgeItem.id)
        )
        for item in rows:
            text = item.content_text
            parts = [text[i : i + CELL] for i in range(0, len(text), CELL)] or [""]
            ws.append([SEPARATOR.join(path.get(item.category_id, [])), item.title, *parts])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _rows(data: bytes) -> list[tuple[int, str, str, str]]:
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError):
        raise ApiError("knowledge_import_file") from None
    ws = wb.worksheets[0] if wb.worksheets else None
    if ws is None:
        raise ApiError("knowledge_import_file")
    out = []
    for n, row in enumerate(ws.iter_rows(values_only=True), start=1):
        if n == 1:
            continue  # the header
        cells = [_cell(v) for v in row]
        if not any(c.strip() for c in cells):
            continue
        if n > actions.MAX_ITEMS + 1 + 1000:
            break
        cells += [""] * (3 - len(cells))
        out.append((n, cells[0].strip(), cells[1].strip(), "".join(cells[2:])))
    wb.close()
    return out


def _bad_chars(text: str) -> bool:
    return any(ord(c) < 32 and c not in "\n\r\t" for c in text)


async def import_xlsx(
    db: AsyncSession, principal: Principal, upload: UploadFile, ip: str
) -> dict[str, int]:
    data = await upload.read(MAX_FILE + 1)
    if not data or len(data) > MAX_FILE:
        raise ApiError("knowledge_import_file")
    rows = _rows(data)
    tenant_id = principal.tenant_id
    # Check every row before writing anything.
    parsed: list[tuple[list[str], str, str]] = []
    for n, cat_path, title, text in rows:
        if not cat_path:
            raise _row_error(n, "category")
        names = [p.strip() for p in cat_path.split(SEPARATOR)]
        if any(not p or len(p) > 30 for p in names):
            raise _row_error(n, "category_name")
        if len(names) > actions.MAX_DEPTH:
            raise _row_error(n, "depth")
        if not title or len(title) > 20 or "\n" in title:
            raise _row_error(n, "title")
        if _bad_chars(cat_path) or _bad_chars(title) or _bad_chars(text):
            raise _row_error(n, "control")
        html = content.from_text(text)
        try:
            KnowledgeItemIn(category_id=1, title=title, content_html=html)
        except ValidationError:
            raise _row_error(n, "content") from None
        parsed.append((names, title, html))
    cats = await actions.all_categories(db, tenant_id)
    by_path = {tuple(p): cid for cid, p in actions.paths(cats).items()}
    existing = {
        (cid, title)
        for cid, title in (
            await db.execute(
                select(KnowledgeItem.category_id, KnowledgeItem.title).where(
                    KnowledgeItem.tenant_id == tenant_id
                )
            )
        ).all()
    }
    new_items = 0
    seen: set[tuple[tuple[str, ...], str]] = set()
    for names, title, _ in parsed:
        key = (tuple(names), title)
        cid = by_path.get(tuple(names))
        if key in seen or (cid is not None and (cid, title) in existing):
            continue
        seen.add(key)
        new_items += 1
    if await actions.count_items(db, tenant_id) + new_items > actions.MAX_ITEMS:
        raise ApiError("knowledge_item_limit", limit=actions.MAX_ITEMS)
    new_paths = {tuple(names[:i]) for names, _, _ in parsed for i in range(1, len(names) + 1)}
    if len(cats) + len(new_paths - set(by_path)) > actions.MAX_CATEGORIES:
        raise ApiError("knowledge_category_limit", limit=actions.MAX_CATEGORIES)
    # Write: missing categories, then items; skipped rows are (category, title) pairs that exist.
    categories_created = created = skipped = 0
    positions: dict[int | None, int] = {}
    for c in cats:
        positions[c.parent_id] = max(positions.get(c.parent_id, -1), c.position)
    for names, title, text in parsed:
        parent: int | None = None
        for i in range(1, len(names) + 1):
            prefix = tuple(names[:i])
            if prefix not in by_path:
                pos = positions.get(parent, -1) + 1
                positions[parent] = pos
                cat = KnowledgeCategory(
                    tenant_id=tenant_id,
                    parent_id=parent,
                    name=names[i - 1],
                    position=pos,
                    created_at=clock.now(),
                )
                db.add(cat)
                await db.flush()
                by_path[prefix] = cat.id
                categories_created += 1
            parent = by_path[prefix]
        assert parent is not None
        if (parent, title) in existing:
            skipped += 1
            continue
        existing.add((parent, title))
        await actions.create_item(
            db,
            principal,
            KnowledgeItemIn(category_id=parent, title=title, content_html=text),
            ip,
            audit=False,
        )
        created += 1
    record(
        db,
        principal,
        tenant_id=tenant_id,
        action="knowledge.imported",
        target_type="knowledge_item",
        detail={"created": created, "skipped": skipped, "categories": categories_created},
        ip=ip,
    )
    return {"created": created, "skipped": skipped, "categories_created": categories_created}
