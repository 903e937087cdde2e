"""The agent list as an export (§1.2, §14): what Members > Agents shows, with its filter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.accounts.models import User
from kefu.conversations.models import Conversation
from kefu.exports.registry import Cell, ExportKind, Sheet, register_export
from kefu.presence.actions import statuses
from kefu.roles.models import Role

CHUNK = 500

STATUS_WORDS = {
    "idle": ("空闲", "Idle"),
    "busy": ("忙碌", "Busy"),
    "away": ("离开", "Away"),
    "invisible": ("隐身", "Invisible"),
    "offline": ("离线", "Offline"),
}
TYPE_WORDS = {
    "online": ("在线客服", "Online agent"),
    "ticket": ("工单客服", "Ticket agent"),
    "call_center": ("呼叫中心客服", "Call-centre agent"),
    "omni": ("全渠道客服", "Omni-channel agent"),
}


class AgentsParams(BaseModel):
    """The agent list's filter (GET /users): exact search, role, enabled, team."""

    model_config = ConfigDict(extra="forbid")

    q: Annotated[str | None, Field(max_length=254)] = None
    role_id: Annotated[int | None, Field(ge=1, le=2**53)] = None
    enabled: bool | None = None
    team_id: Annotated[int | None, Field(ge=1, le=2**53)] = None


def _query(principal: Principal, p: AgentsParams) -> Select[Any]:
    stmt = select(User).where(User.tenant_id == principal.tenant_id)
    if p.q and p.q.strip():
        term = p.q.strip()
        stmt = stmt.where(
            or_(
                User.nickname == term,
                User.email == term.lower(),
                User.real_name == term,
                User.mobile == term,
                User.employee_number == term,
            )
        )
    if p.role_id is not None:
        stmt = stmt.where(User.role_id == p.role_id)
    if p.enabled is not None:
        stmt = stmt.where(User.enabled == p.enabled)
    if p.team_id is not None:
        stmt = stmt.where(User.team_id == p.team_id)
    return stmt


async def _count(db: AsyncSession, principal: Principal, p: AgentsParams) -> int:
    q = _query(principal, p)
    return int(await db.scalar(select(func.count()).select_from(q.subquery())) or 0)


def _words(lang: str, pair: tuple[str, str]) -> str:
    return pair[1] if lang == "en" else pair[0]


def _sheets(
    db: AsyncSession,
    principal: Principal,
    p: AgentsParams,
    lang: str,
    progress: Callable[[int], None],
) -> list[Sheet]:
    en = lang == "en"

    def w(zh: str, english: str) -> str:
        return english if en else zh

    async def rows() -> AsyncIterator[list[Cell]]:
        after = 0
        while True:
            users = list(
                await db.scalars(
                    _query(principal, p).where(User.id > after).order_by(User.id).limit(CHUNK)
                )
            )
            if not users:
                return
            after = users[-1].id
            ids = [u.id for u in users]
            roles = {
                r.id: r
                for r in await db.scalars(
                    select(Role).where(Role.id.in_({u.role_id for u in users}))
                )
            }
            status = await statuses(db, tenant_id=principal.tenant_id, user_ids=ids)
            serving = dict(
                (
                    await db.execute(
                        select(Conversation.agent_id, func.count())
                        .where(
                            Conversation.tenant_id == principal.tenant_id,
                            Conversation.state == "ongoing",
                            Conversation.agent_id.in_(ids),
                        )
                        .group_by(Conversation.agent_id)
                    )
                ).all()
            )
            for u in users:
                role = roles.get(u.role_id)
                yield [
                    u.nickname,
                    u.email,
                    u.real_name,
                    u.mobile,
                    u.employee_number or "",
                    _words(lang, TYPE_WORDS.get(u.agent_type, (u.agent_type, u.agent_type))),
                    role.display_name if role else "",
                    _words(lang, STATUS_WORDS.get(status[u.id], ("", ""))),
                    int(serving.get(u.id, 0)),
                    u.max_concurrent,
                    w("启用", "Enabled") if u.enabled else w("停用", "Disabled"),
                    u.created_at,
                ]
                progress(1)

    headers = [
        w("昵称", "Nickname"),
        w("邮箱", "Email"),
        w("真实姓名", "Real name"),
        w("手机", "Phone"),
        w("工号", "Employee number"),
        w("客服类型", "Agent type"),
        w("角色", "Role"),
        w("当前状态", "Current status"),
        w("当前接待数", "Serving now"),
        w("最大接待数", "Max concurrent"),
        w("账号状态", "Account"),
        w("创建时间", "Created"),
    ]
    return [Sheet(name=w("客服", "Agents"), headers=headers, rows=rows())]


AGENTS = register_export(
    ExportKind(
        kind="agents",
        pages=("admin.members.agents",),
        params_model=AgentsParams,
        title=lambda lang: "Agents" if lang == "en" else "客服信息",
        count=_count,
        sheets=_sheets,
    )
)
