"""The blacklist as an Excel workbook (§3.9, §14): what the admin list shows."""

from __future__ import annotations

import io
from datetime import datetime

from openpyxl import Workbook  # type: ignore[import-untyped,unused-ignore]

from kefu.blacklist.schemas import BlacklistEntryOut
from kefu.core.i18n import pick

STATE_WORDS = {
    "pending": ("待审批", "Pending"),
    "active": ("已生效", "In effect"),
    "rejected": ("已拒绝", "Rejected"),
    "removed": ("已移除", "Removed"),
}


def _cell(value: str) -> str:
    # A text starting with = + - @ would be read as a formula by spreadsheet programs.
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


def workbook(entries: list[BlacklistEntryOut]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = pick("黑名单", "Blacklist")
    ws.append(
        [
            pick("访客ID", "Visitor ID"),
            pick("访客", "Visitor"),
            pick("原因", "Reason"),
            pick("状态", "State"),
            pick("添加人", "Added by"),
            pick("添加时间", "Added at"),
            pick("审批人", "Decided by"),
            pick("审批时间", "Decided at"),
            pick("会话ID", "Conversation ID"),
        ]
    )
    for e in entries:
        ws.append(
            [
                e.visitor_id,
                _cell(e.visitor_name),
                _cell(e.reason),
                pick(*STATE_WORDS[e.state]),
                _cell(e.requested_by.nickname) if e.requested_by else "",
                _time(e.requested_at),
                _cell(e.decided_by.nickname) if e.decided_by else "",
                _time(e.decided_at),
                e.conversation_id or "",
            ]
        )
    for col, width in zip("ABCDEFGHI", (12, 20, 40, 10, 16, 20, 16, 20, 14), strict=True):
        ws.column_dimensions[col].width = width
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
