"""Template, export and import of canned replies as .xlsx (§8.1).

One row per reply: first-level category, second-level category (may be empty), reply text.
Row 1 is the header. An import is checked whole before anything is written: one bad row fails
it with a 422 naming the row, and nothing is added. Categories are matched by name (created when
missing); a reply already present with the same text in the same category is skipped.
Personal sets have one implicit first level: its column is ignored on import.
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass

from fastapi import UploadFile
from openpyxl import Workbook, load_workbook  # type: ignore[import-untyped,unused-ignore]
from openpyxl.styles import Alignment, Font, PatternFill  # type: ignore[import-untyped,unused-ignore]
from openpyxl.utils.exceptions import InvalidFileException  # type: ignore[import-untyped,unused-ignore]
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.audit.actions import record
from kefu.canned import actions
from kefu.canned.access import owner_of
from kefu.canned.models import CannedCategory, CannedReply
from kefu.canned.schemas import MAX_NAME, MAX_TEXT, CannedImportOut
from kefu.core import clock
from kefu.core.errors import ApiError, register_codes
from kefu.core.i18n import pick

MAX_FILE = 5 * 1024 * 1024
MAX_ROWS = actions.MAX_REPLIES
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

register_codes(
    {
        "canned_import_file": (
            422,
            "无法读取导入文件：请使用下载的 .xlsx 模板（不超过 5 MB）",
            "The import file cannot be read: use the downloaded .xlsx template (at most 5 MB)",
        ),
        "canned_import_row": (
            422,
            "导入失败，第 {row} 行：{problem}。未导入任何内容",
            "Import failed at row {row}: {problem}. Nothing was imported",
        ),
        "canned_import_empty": (
            422,
            "导入文件中没有常用语",
            "The import file contains no canned replies",
        ),
        "canned_import_too_many": (
            422,
            "导入后常用语将超过 {limit} 条，请分批或先删除不用的常用语",
            "The import would exceed {limit} canned replies; split it or delete unused ones",
        ),
    }
)

_PROBLEMS = {
    "level1_missing": ("一级分类不能为空", "the first-level category is empty"),
    "level1_too_long": (
        f"一级分类名称超过 {MAX_NAME} 个字",
        f"the first-level category name is longer than {MAX_NAME} characters",
    ),
    "level2_too_long": (
        f"二级分类名称超过 {MAX_NAME} 个字",
        f"the second-level category name is longer than {MAX_NAME} characters",
    ),
    "name_multiline": ("分类名称不能换行", "a category name must be one line"),
    "text_missing": ("常用语内容不能为空", "the reply text is empty"),
    "text_too_long": (
        f"常用语内容超过 {MAX_TEXT} 个字",
        f"the reply text is longer than {MAX_TEXT} characters",
    ),
    "control_chars": ("包含不可见的控制字符", "it contains invisible control characters"),
}


def _row_error(row: int, problem: str) -> ApiError:
    zh, en = _PROBLEMS[problem]
    message = pick(zh, en)
    return ApiError(
        "canned_import_row",
        row=row,
        problem=message,
        fields=[{"field": "file", "rule": problem, "row": str(row), "message": message}],
    )


def headers() -> tuple[str, str, str]:
    return (
        pick("一级分类", "Level-1 category"),
        pick("二级分类（可空）", "Level-2 category (optional)"),
        pick("常用语内容", "Reply text"),
    )


def _book(rows: list[tuple[str, str, str]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = pick("常用语", "Canned replies")
    ws.append(headers())
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="E8F0FE")
    for row in rows:
        ws.append(row)
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = 26
    ws.column_dimensions["C"].width = 80
    for line in ws.iter_rows(min_row=2):
        line[2].alignment = Alignment(wrap_text=True, vertical="top")
    ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def personal_root() -> str:
    return pick("个人常用语", "Personal")


def template(personal: bool) -> bytes:
    level1 = personal_root() if personal else pick("售后服务", "After-sales")
    return _book(
        [
            (
                level1,
                pick("退换货", "Returns"),
                pick(
                    "您好，收到商品 7 天内可申请无理由退货，请在订单页点击“申请售后”。",
                    "Hello! You can return an item within 7 days of receipt: "
                    "open the order and choose “After-sales”.",
                ),
            ),
            (
                level1,
                "",
                pick("感谢您的耐心等待，还有什么可以帮您？", "Thanks for waiting. Anything else?"),
            ),
        ]
    )


async def export(db: AsyncSession, principal: Principal, *, personal: bool) -> bytes:
    owner = owner_of(principal, personal)
    cats = await actions.categories_of(db, principal.tenant_id, owner)
    by_id = {c.id: c for c in cats}
    stmt = select(CannedReply).where(CannedReply.tenant_id == principal.tenant_id)
    stmt = stmt.where(
        CannedReply.owner_id.is_(None) if owner is None else CannedReply.owner_id == owner
    )
    replies = list(await db.scalars(stmt.order_by(CannedReply.id)))
    order = {c.id: i for i, c in enumerate(cats)}
    replies.sort(key=lambda r: (order.get(r.category_id or 0, -1), r.id))
    rows: list[tuple[str, str, str]] = []
    for r in replies:
        cat = by_id.get(r.category_id) if r.category_id is not None else None
        if personal:
            rows.append((personal_root(), cat.name if cat else "", r.text))
        elif cat is not None:
            parent = by_id.get(cat.parent_id) if cat.parent_id is not None else None
            rows.append((parent.name, cat.name, r.text) if parent else (cat.name, "", r.text))
    return _book(rows)


@dataclass(frozen=True)
class Row:
    number: int
    level1: str
    level2: str
    text: str


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFC", str(value))


def _name(row: int, raw: str, which: str) -> str:
    name = raw.strip()
    if _CONTROL.search(name):
        raise _row_error(row, "control_chars")
    if "\n" in name or "\r" in name:
        raise _row_error(row, "name_multiline")
    if len(name) > MAX_NAME:
        raise _row_error(row, f"{which}_too_long")
    return name


async def read_rows(upload: UploadFile, *, personal: bool) -> list[Row]:
    data = await upload.read(MAX_FILE + 1)
    if not data or len(data) > MAX_FILE:
        raise ApiError("canned_import_file")
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, OSError, KeyError, ValueError, TypeError, IndexError) as exc:
        raise ApiError("canned_import_file") from exc
    except Exception as exc:  # a corrupt zip or XML: the file, not the server
        raise ApiError("canned_import_file") from exc
    ws = wb.worksheets[0] if wb.worksheets else None
    if ws is None:
        raise ApiError("canned_import_file")
    rows: list[Row] = []
    for number, values in enumerate(ws.iter_rows(values_only=True), start=1):
        if number == 1:
            continue  # the header
        cells = [_cell(v) for v in [*values, None, None, None][:3]]
        if not any(c.strip() for c in cells):
            continue
        if len(rows) >= MAX_ROWS:
            raise ApiError("canned_import_too_many", limit=MAX_ROWS)
        level1 = "" if personal else _name(number, cells[0], "level1")
        if not personal and not level1:
            raise _row_error(number, "level1_missing")
        level2 = _name(number, cells[1], "level2")
        text = cells[2].strip()
        if not text:
            raise _row_error(number, "text_missing")
        if _CONTROL.search(text):
            raise _row_error(number, "control_chars")
        if len(text) > MAX_TEXT:
            raise _row_error(number, "text_too_long")
        rows.append(Row(number, level1, level2, text))
    wb.close()
    if not rows:
        raise ApiError("canned_import_empty")
    return rows


async def import_rows(
    db: AsyncSession, principal: Principal, rows: list[Row], *, personal: bool, ip: str
) -> CannedImportOut:
    """Write the checked rows: all of them or, on any error, none (the request rolls back)."""
    owner = owner_of(principal, personal)
    tenant_id = principal.tenant_id
    cats = await actions.categories_of(db, tenant_id, owner)
    # (parent id or None, name) -> category
    by_key: dict[tuple[int | None, str], CannedCategory] = {(c.parent_id, c.name): c for c in cats}
    count_cats = len(cats)
    existing = await db.execute(
        select(CannedReply.category_id, CannedReply.text).where(
            CannedReply.tenant_id == tenant_id,
            CannedReply.owner_id.is_(None) if owner is None else CannedReply.owner_id == owner,
        )
    )
    seen: set[tuple[int | None, str]] = {(c, t) for c, t in existing.all()}
    total_replies = len(seen)
    now = clock.now()
    created_cats = created_replies = skipped = 0

    async def category(parent: CannedCategory | None, name: str) -> CannedCategory:
        nonlocal count_cats, created_cats
        key = (parent.id if parent else None, name)
        cat = by_key.get(key)
        if cat is None:
            if count_cats >= actions.MAX_CATEGORIES:
                raise ApiError("canned_category_limit", limit=actions.MAX_CATEGORIES)
            cat = CannedCategory(
                tenant_id=tenant_id,
                owner_id=owner,
                parent_id=key[0],
                name=name,
                created_at=now,
            )
            db.add(cat)
            await db.flush()
            by_key[key] = cat
            count_cats += 1
            created_cats += 1
        return cat

    for row in rows:
        target: CannedCategory | None = None
        if not personal:
            target = await category(None, row.level1)
        if row.level2:
            target = await category(target, row.level2)
        key = (target.id if target else None, row.text)
        if key in seen:
            skipped += 1
            continue
        if total_replies >= actions.MAX_REPLIES:
            raise ApiError("canned_import_too_many", limit=actions.MAX_REPLIES)
        db.add(
            CannedReply(
                tenant_id=tenant_id,
                owner_id=owner,
                category_id=key[0],
                text=row.text,
                created_at=now,
                updated_at=now,
            )
        )
        seen.add(key)
        total_replies += 1
        created_replies += 1
    await db.flush()
    if not personal:
        record(
            db,
            principal,
            tenant_id=tenant_id,
            action="canned.imported",
            target_type="canned_reply",
            detail={
                "categories": created_cats,
                "replies": created_replies,
                "skipped": skipped,
            },
            ip=ip,
        )
    return CannedImportOut(
        categories_created=created_cats,
        replies_created=created_replies,
        duplicates_skipped=skipped,
    )
