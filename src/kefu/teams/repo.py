"""Team tree queries."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.teams.models import Team


async def all_teams(db: AsyncSession, *, tenant_id: int) -> list[Team]:
    rows = await db.scalars(
        select(Team).where(Team.tenant_id == tenant_id).order_by(Team.sort, Team.id)
    )
    return list(rows.all())


def descendants(teams: list[Team], root_id: int) -> set[int]:
    """The team and every team below it: what a member of that team may see (SPEC §1.4)."""
    children: dict[int | None, list[int]] = {}
    for t in teams:
        children.setdefault(t.parent_id, []).append(t.id)
    out, stack = set(), [root_id]
    while stack:
        tid = stack.pop()
        if tid in out:
            continue
        out.add(tid)
        stack.extend(children.get(tid, []))
    return out
