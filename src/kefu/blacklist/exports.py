"""The blacklist as an export job (§3.9, §14): what the admin list shows, for its state filter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.blacklist.actions import listing, views
from kefu.blacklist.models import BlacklistEntry
from kefu.exports.registry import Cell, ExportKind, Sheet, register_export

CHUNK = 500
STATE_WORDS = {
    "pending": ("待审批", "Pending"),
    "active": ("已生效", "In effect"),
    "rejected": ("已拒绝", "Rejected"),
    "removed": ("已移除", "Removed"),
}


class BlacklistParams(BaseModel):
    """The list's state filter (GET /blacklist?state=...)."""

    model_config = ConfigDict(extra="forbid")

    state: Literal["active", "pending", "rejected", "removed", "all"] = "active"


def _query(principal: Principal, p: BlacklistParams):  # type: ignore[no-untyped-def]
    stmt = listing(principal.tenant_id)
    if p.state != "all":
        stmt = stmt.where(BlacklistEntry.state == p.state)
    return stmt


async def _count(db: AsyncSession, principal: Principal, p: BlacklistParams) -> int:
    stmt = _query(principal, p)
    return int(await db.scalar(select(func.count()).select_from(stmt.subquery())) or 0)


def _sheets(
    db: AsyncSession,
    principal: Principal,
    p: BlacklistParams,
    lang: str,
    progress: Callable[[int], None],
) -> list[Sheet]:
    en = lang == "en"

    def w(zh: str, english: str) -> str:
        return english if en else zh

    async def rows() -> AsyncIterator[list[Cell]]:
        before: int | None = None
        while True:
            stmt = _query(principal, p)
            if before is not None:
                stmt = stmt.where(BlacklistEntry.id < before)
            entries = list(await db.scalars(stmt.order_by(BlacklistEntry.id.desc()).limit(CHUNK)))
            if not entries:
                return
            before = entries[-1].id
            for e in await views(db, entries):
                yield [
                    e.visitor_id,
                    e.visitor_name,
                    e.reason,
                    w(*STATE_WORDS[e.state]),
                    e.requested_by.nickname if e.requested_by else "",
                    e.requested_at,
                    e.decided_by.nickname if e.decided_by else "",
                    e.decided_at,
                    e.conversation_id,
                ]
                progress(1)

    headers = [
        w("访客ID", "Visitor ID"),
        w("访客", "Visitor"),
        w("原因", "Reason"),
        w("状态", "State"),
        w("添加人", "Added by"),
        w("添加时间", "Added at"),
        w("审批人", "Decided by"),
        w("审批时间", "Decided at"),
        w("会话ID", "Conversation ID"),
    ]
    return [Sheet(name=w("黑名单", "Blacklist"), headers=headers, rows=rows())]


BLACKLIST = register_export(
    ExportKind(
        kind="blacklist",
        pages=("admin.customers",),
        params_model=BlacklistParams,
        title=lambda lang: "Blacklist" if lang == "en" else "黑名单",
        count=_count,
        sheets=_sheets,
    )
)
