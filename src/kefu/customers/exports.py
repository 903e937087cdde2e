"""Customer basic data as an export job (§12.1 "export basic data", §14): admins only; the set
the admin-mode list shows for its current filter and group tab. Basic data = the system
fields; admin-defined custom fields are not exported (docs/customers.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.customers import queries
from kefu.customers.access import list_scope
from kefu.customers.actions import display_name, group_for, tags_by_visitor
from kefu.customers.schemas import CustomerListFilter
from kefu.exports.registry import Cell, ExportKind, Sheet, register_export
from kefu.visitors.models import Visitor

CHUNK = 500


async def _stmt(db: AsyncSession, principal: Principal, p: CustomerListFilter):  # type: ignore[no-untyped-def]
    scope = await list_scope(db, principal, "admin")
    group = await group_for(db, principal.tenant_id, p.group_id, "admin")
    return queries.customer_query(principal.tenant_id, scope, p, group)


async def _count(db: AsyncSession, principal: Principal, p: CustomerListFilter) -> int:
    return await queries.count(db, await _stmt(db, principal, p))


def _sheets(
    db: AsyncSession,
    principal: Principal,
    p: CustomerListFilter,
    lang: str,
    progress: Callable[[int], None],
) -> list[Sheet]:
    en = lang == "en"

    def w(zh: str, english: str) -> str:
        return english if en else zh

    headers = [
        w("访客编号", "Visitor number"),
        w("客户ID", "Customer ID"),
        w("姓名", "Name"),
        w("昵称", "Nickname"),
        w("手机", "Mobile"),
        "QQ",
        w("微信号", "WeChat ID"),
        w("邮箱", "Email"),
        w("公司", "Company"),
        w("描述", "Description"),
        "VIP",
        w("客户标签", "Customer tags"),
        w("客户分组", "Groups"),
        w("创建时间", "Created"),
        w("最近一次会话创建时间", "Last conversation created"),
        w("来源", "Source"),
    ]

    async def rows() -> AsyncIterator[list[Cell]]:
        stmt = await _stmt(db, principal, p)
        groups = await queries.visible_groups(db, principal.tenant_id, "admin")
        offset = 0
        while True:
            batch = list(
                (await db.execute(queries.ordered(stmt).offset(offset).limit(CHUNK))).all()
            )
            if not batch:
                return
            offset += len(batch)
            ids = [r[0].id for r in batch]
            tags = await tags_by_visitor(db, ids)
            member = await queries.groups_of(db, groups, ids)
            for v, created, last in batch:
                visitor: Visitor = v
                yield [
                    visitor.id,
                    visitor.external_id or "",
                    display_name(visitor),
                    visitor.nickname,
                    visitor.phone,
                    visitor.qq,
                    visitor.wechat,
                    visitor.email,
                    visitor.company,
                    visitor.description,
                    w("是", "Yes") if visitor.vip else "",
                    ", ".join(t.name for t in tags.get(visitor.id, [])),
                    ", ".join(g.name for g in member.get(visitor.id, [])),
                    created or visitor.created_at,
                    last,
                    w("导入", "Imported") if visitor.source == "import" else w("咨询", "Consulted"),
                ]
                progress(1)

    return [Sheet(name=w("客户", "Customers"), headers=headers, rows=rows())]


CUSTOMERS = register_export(
    ExportKind(
        kind="customers",
        pages=("admin.customers",),
        params_model=CustomerListFilter,
        title=lambda lang: "Customers" if lang == "en" else "客户资料",
        count=_count,
        sheets=_sheets,
    )
)
