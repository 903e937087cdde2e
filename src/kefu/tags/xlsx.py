"""Small xlsx helpers for tag import/export (session tags §9.1, visitor tags §9.2)."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

from fastapi import Response, UploadFile
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils.exceptions import InvalidFileException

from kefu.core.errors import ApiError, register_codes

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_ROWS = 5000
ROWS_LISTED = 20
XLSX_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}}
}

register_codes(
    {
        "import_file_invalid": (
            422,
            "无法读取文件，请上传由模板填写的 .xlsx 文件",
            "The file cannot be read; upload an .xlsx file filled in from the template",
        ),
        "import_file_too_large": (
            413,
            "文件过大，最大 {limit}",
            "The file is too large; the maximum is {limit}",
        ),
        "import_too_many_rows": (
            422,
            "文件行数过多，最多 {limit} 行",
            "The file has too many rows; at most {limit}",
        ),
        "import_rows_invalid": (
            422,
            "导入失败，第 {rows} 行有误，请修改后重新导入",
            "Import failed: rows {rows} are invalid; fix them and import again",
        ),
    }
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def workbook_response(
    title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]], filename: str
) -> Response:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = title
    ws.append(list(headers))
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="EEF2F7")
    for row in rows:
        ws.append(list(row))
        for cell in ws[ws.max_row]:
            # A name like "=x" stays text: stored as a string cell, never as a formula.
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"
    for i, _ in enumerate(headers, start=1):
        ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = 18
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return Response(
        content=buf.getvalue(),
        media_type=XLSX,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
            "Cache-Control": "no-store",
        },
    )


async def read_upload(file: UploadFile) -> bytes:
    data = await file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ApiError("import_file_too_large", limit="2 MB")
    return data


def read_rows(data: bytes, columns: int) -> list[tuple[int, list[str]]]:
    """The first sheet's rows after the header: (row number, first `columns` cells as trimmed
    texts). Entirely empty rows are left out."""
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError):
        raise ApiError("import_file_invalid") from None
    try:
        ws = wb.worksheets[0] if wb.worksheets else None
        if ws is None:
            raise ApiError("import_file_invalid")
        out: list[tuple[int, list[str]]] = []
        for number, row in enumerate(ws.iter_rows(min_row=2, values_only=True), start=2):
            cells = [_text(v) for v in list(row)[:columns]]
            cells += [""] * (columns - len(cells))
            if not any(cells):
                continue
            if len(out) >= MAX_ROWS:
                raise ApiError("import_too_many_rows", limit=MAX_ROWS)
            out.append((number, cells))
        return out
    finally:
        wb.close()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def bad_name(name: str, max_len: int) -> str | None:
    """Why a tag name from a file is refused (zh / en joined), or None."""
    if len(name) > max_len:
        return f"名称超过 {max_len} 个字 / name longer than {max_len} characters"
    if _CONTROL.search(name):
        return "名称含有换行或控制字符 / name contains line breaks or control characters"
    return None


def rows_error(errors: list[tuple[int, str]]) -> ApiError:
    listed = errors[:ROWS_LISTED]
    rows = ", ".join(str(r) for r, _ in listed) + (" …" if len(errors) > ROWS_LISTED else "")
    return ApiError(
        "import_rows_invalid",
        fields=[{"field": f"row {r}", "rule": "row", "message": m} for r, m in listed],
        rows=rows,
    )
