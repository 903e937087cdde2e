"""Customer import (§12.5): an XLSX template; each valid row becomes a customer who may never
have consulted (callback, §3.8), each invalid row is rejected with its number and reason.

The Easemob AppKey / association columns are left out: customers here are identified by the
customer ID the site signs for its users (docs/protocol.md, `identity.user_id`), which belongs to
the tenant, not to one widget.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.audit.actions import record
from kefu.core import clock
from kefu.core.errors import ApiError
from kefu.customers import fields as fl
from kefu.customers.schemas import CustomerImportOut, ImportRejectOut
from kefu.tags.models import VisitorTag, VisitorTagLink
from kefu.tags.xlsx import read_rows
from kefu.visitors.models import Visitor

SHEET = "客户 Customers"
# (system key, header); the ID is required, the rest optional.
COLUMNS: list[tuple[str, str]] = [
    ("external_id", "客户ID ID (必填 required)"),
    ("nickname", "昵称 Nickname"),
    ("name", "姓名 Name"),
    ("qq", "QQ"),
    ("phone", "手机 Mobile"),
    ("wechat", "微信号 WeChat ID"),
    ("email", "邮箱 Email"),
    ("company", "公司 Company"),
    ("description", "描述 Description"),
    ("tags", "客户标签 Tags (英文逗号分隔 comma-separated)"),
]
HEADERS = [h for _, h in COLUMNS]
EXAMPLE = [
    "user-10001",
    "小王",
    "王小明",
    "123456",
    "13800000000",
    "wxid_demo",
    "demo@example.com",
    "示例公司",
    "重要客户",
    "",
]
_ID = re.compile(r"^[A-Za-z0-9_.@:\-]{1,64}$")
_TAG_SPLIT = re.compile(r"[,，]")


def _field(key: str) -> fl.FieldDef:
    sf = fl.SYSTEM_BY_KEY[key]
    return fl.FieldDef(
        key=key,
        system=True,
        name=f"{sf.zh} {sf.en}",
        type="text",
        options=[],
        agent_visible=True,
        readonly=False,
        shown=True,
        position=0,
    )


async def import_customers(
    db: AsyncSession, principal: Principal, data: bytes, ip: str
) -> CustomerImportOut:
    rows = read_rows(data, len(COLUMNS))
    tenant_id = principal.tenant_id
    tags = {
        t.name: t.id
        for t in await db.scalars(select(VisitorTag).where(VisitorTag.tenant_id == tenant_id))
    }
    wanted_ids = [cells[0] for _, cells in rows if cells[0]]
    existing: set[str] = set()
    for i in range(0, len(wanted_ids), 500):
        existing |= set(
            await db.scalars(
                select(Visitor.external_id).where(
                    Visitor.tenant_id == tenant_id,
                    Visitor.external_id.in_(wanted_ids[i : i + 500]),
                )
            )
        )
    rejected: list[ImportRejectOut] = []
    seen: set[str] = set()
    now = clock.now()
    created = 0
    for number, cells in rows:
        values = dict(zip([k for k, _ in COLUMNS], cells, strict=True))
        ext = values["external_id"]
        reason = ""
        if not ext:
            reason = "缺少客户ID / the customer ID is missing"
        elif not _ID.match(ext):
            reason = (
                "客户ID 须为 1-64 位字母、数字或 _ . @ : - / "
                "the customer ID has 1-64 letters, digits or _ . @ : -"
            )
        elif ext in existing or ext in seen:
            reason = "该客户已存在 / this customer already exists"
        clean: dict[str, str] = {}
        if not reason:
            for key, _header in COLUMNS[1:-1]:
                try:
                    clean[key] = fl.clean(_field(key), values[key])
                except ApiError as e:
                    reason = e.fields[0]["message"] if e.fields else e.code
                    reason = f"{_field(key).name}: {reason}"
                    break
        tag_ids: list[int] = []
        if not reason:
            names = [n.strip() for n in _TAG_SPLIT.split(values["tags"]) if n.strip()]
            unknown = [n for n in names if n not in tags]
            if unknown:
                reason = f"标签不存在 / unknown tags: {', '.join(unknown[:5])}"[:200]
            tag_ids = sorted({tags[n] for n in names if n in tags})
        if reason:
            rejected.append(ImportRejectOut(row=number, reason=reason))
            continue
        seen.add(ext)
        visitor = Visitor(
            tenant_id=tenant_id,
            external_id=ext,
            name=clean["name"],
            nickname=clean["nickname"] or ext,
            phone=clean["phone"],
            email=clean["email"],
            qq=clean["qq"],
            wechat=clean["wechat"],
            company=clean["company"],
            description=clean["description"],
            remark="",
            vip=False,
            custom={},
            fields={},
            web_info={},
            source="import",
            created_at=now,
            last_seen_at=now,
        )
        db.add(visitor)
        await db.flush()
        for tag_id in tag_ids:
            db.add(
                VisitorTagLink(
                    tenant_id=tenant_id, visitor_id=visitor.id, tag_id=tag_id, created_at=now
                )
            )
        created += 1
    await db.flush()
    record(
        db,
        principal,
        tenant_id=tenant_id,
        action="customer.imported",
        target_type="visitor",
        detail={"rows": len(rows), "imported": created, "rejected": len(rejected)},
        ip=ip,
    )
    return CustomerImportOut(rows=len(rows), imported=created, rejected=rejected)
