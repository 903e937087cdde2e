"""The customer profile's fields (§12.1, §12.2): system fields stored on the visitor, custom
fields defined by admins, their layout (order, show, read-only, visible to agents) and the
validation of values per type and per the §12.5 lengths."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.core.errors import ApiError, register_codes
from kefu.core.i18n import pick
from kefu.customers.models import CustomerField
from kefu.visitors.models import Visitor

MAX_CUSTOM_FIELDS = 30
MAX_OPTIONS = 50
FIELD_TYPES = ("text", "multiline", "number", "date", "select")
# Lengths of custom values per type.
TEXT_MAX = 200
MULTILINE_MAX = 1000

register_codes(
    {
        "customer_field_readonly": (
            409,
            "字段“{name}”为只读，不能修改",
            "The field '{name}' is read-only and cannot be changed",
        ),
        "customer_field_unknown": (
            422,
            "没有可编辑的字段“{key}”",
            "There is no editable field '{key}'",
        ),
        "customer_field_invalid": (
            422,
            "字段“{name}”的值无效：{reason}",
            "Invalid value for the field '{name}': {reason}",
        ),
        "customer_field_limit": (
            409,
            "自定义字段最多 {limit} 个",
            "You can have at most {limit} custom fields",
        ),
        "customer_field_name_taken": (
            409,
            "已有同名的字段",
            "A field with this name already exists",
        ),
        "customer_field_options_required": (
            422,
            "下拉选择字段至少需要一个选项",
            "A select field needs at least one option",
        ),
        "customer_field_layout_mismatch": (
            422,
            "字段列表须完整列出所有字段且不重复",
            "The layout must list every field exactly once",
        ),
        "customer_field_system": (
            409,
            "系统字段不能删除或改名",
            "System fields cannot be deleted or renamed",
        ),
    }
)


@dataclass(frozen=True)
class SystemField:
    key: str
    max_length: int
    zh: str
    en: str
    # The customer ID is read-only whatever the settings say (§12.1).
    always_readonly: bool = False


SYSTEM_FIELDS: tuple[SystemField, ...] = (
    SystemField("nickname", 256, "昵称", "Nickname"),
    SystemField("name", 45, "姓名", "Name"),
    SystemField("external_id", 64, "客户ID", "Customer ID", always_readonly=True),
    SystemField("phone", 45, "手机", "Mobile"),
    SystemField("qq", 45, "QQ", "QQ"),
    SystemField("wechat", 45, "微信号", "WeChat ID"),
    SystemField("email", 254, "邮箱", "Email"),
    SystemField("company", 45, "公司", "Company"),
    SystemField("description", 200, "描述", "Description"),
)
SYSTEM_BY_KEY = {f.key: f for f in SYSTEM_FIELDS}

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()\-]{0,44}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


@dataclass
class FieldDef:
    """One field of the tenant's layout, system or custom."""

    key: str  # system key, or "custom_<id>"
    system: bool
    name: str
    type: str
    options: list[str]
    agent_visible: bool
    readonly: bool
    shown: bool
    position: int
    id: int | None = None

    def visible(self, mode: str) -> bool:
        return self.shown and (mode == "admin" or self.agent_visible)


def custom_key(field_id: int) -> str:
    return f"custom_{field_id}"


async def layout(db: AsyncSession, tenant_id: int) -> list[FieldDef]:
    """Every field, system and custom, in the admin's order."""
    rows = list(await db.scalars(select(CustomerField).where(CustomerField.tenant_id == tenant_id)))
    stored = {r.system_key: r for r in rows if r.system_key}
    out: list[FieldDef] = []
    for i, sf in enumerate(SYSTEM_FIELDS):
        row = stored.get(sf.key)
        out.append(
            FieldDef(
                key=sf.key,
                system=True,
                name=pick(sf.zh, sf.en),
                type="text",
                options=[],
                agent_visible=row.agent_visible if row else True,
                readonly=sf.always_readonly or (row.readonly if row else False),
                shown=row.shown if row else True,
                position=row.position if row else i,
                id=row.id if row else None,
            )
        )
    for r in rows:
        if r.system_key:
            continue
        out.append(
            FieldDef(
                key=custom_key(r.id),
                system=False,
                name=r.name,
                type=r.type,
                options=list(r.options or []),
                agent_visible=r.agent_visible,
                readonly=r.readonly,
                shown=r.shown,
                position=r.position,
                id=r.id,
            )
        )
    # Stable: position, then system fields in their built-in order, then custom by id.
    order = {sf.key: i for i, sf in enumerate(SYSTEM_FIELDS)}
    out.sort(key=lambda f: (f.position, 0 if f.system else 1, order.get(f.key, f.id or 0)))
    return out


def value_of(visitor: Visitor, f: FieldDef) -> str:
    if f.system:
        if f.key == "external_id":
            return visitor.external_id or ""
        return str(getattr(visitor, f.key) or "")
    assert f.id is not None
    value = (visitor.fields or {}).get(str(f.id))
    return "" if value is None else str(value)


def _bad(f: FieldDef, zh: str, en: str) -> ApiError:
    return ApiError(
        "customer_field_invalid",
        name=f.name,
        reason=pick(zh, en),
        fields=[{"field": f.key, "rule": "value", "message": pick(zh, en)}],
    )


def clean(f: FieldDef, raw: Any) -> str:
    """The value to store for `raw` (validated); "" clears the field."""
    if raw is None:
        return ""
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise _bad(f, "须为文本或数字", "must be text or a number")
    value = str(raw).strip()
    if _CONTROL.search(value):
        raise _bad(f, "不能包含控制字符", "must not contain control characters")
    if f.system:
        limit = SYSTEM_BY_KEY[f.key].max_length
        if len(value) > limit:
            raise _bad(f, f"最多 {limit} 个字", f"at most {limit} characters")
        if ("\n" in value or "\r" in value) and f.key != "description":
            raise _bad(f, "不能换行", "must be a single line")
        if value and f.key == "phone" and not _PHONE.match(value):
            raise _bad(f, "手机号格式不正确", "is not a valid phone number")
        if value and f.key == "email":
            value = value.lower()
            if not _EMAIL.match(value) or ".." in value:
                raise _bad(f, "邮箱格式不正确", "is not a valid email address")
        return value
    if not value:
        return ""
    if f.type == "text":
        if len(value) > TEXT_MAX:
            raise _bad(f, f"最多 {TEXT_MAX} 个字", f"at most {TEXT_MAX} characters")
        if "\n" in value or "\r" in value:
            raise _bad(f, "不能换行", "must be a single line")
    elif f.type == "multiline":
        if len(value) > MULTILINE_MAX:
            raise _bad(f, f"最多 {MULTILINE_MAX} 个字", f"at most {MULTILINE_MAX} characters")
    elif f.type == "number":
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise _bad(f, "须为数字", "must be a number") from None
        if not number.is_finite() or len(value) > 30:
            raise _bad(f, "须为数字", "must be a number")
        value = format(number.normalize(), "f") if number != 0 else "0"
    elif f.type == "date":
        try:
            value = date.fromisoformat(value[:10]).isoformat() if len(value) == 10 else ""
        except ValueError:
            value = ""
        if not value:
            raise _bad(f, "须为日期 YYYY-MM-DD", "must be a date YYYY-MM-DD")
    elif f.type == "select" and value not in f.options:
        raise _bad(f, "须为其中一个选项", "must be one of the options")
    return value


def apply(
    visitor: Visitor, fields: list[FieldDef], changes: dict[str, Any], mode: str
) -> dict[str, tuple[str, str]]:
    """Validate every change first, then write; returns {key: (old, new)} of real changes.
    Nothing is written when one change is refused."""
    by_key = {f.key: f for f in fields}
    cleaned: dict[str, str] = {}
    for key, raw in changes.items():
        f = by_key.get(key)
        if f is None or not f.visible(mode):
            raise ApiError(
                "customer_field_unknown",
                key=key[:40],
                fields=[{"field": key[:40], "rule": "unknown", "message": key[:40]}],
            )
        new = clean(f, raw)
        if new == value_of(visitor, f):
            continue
        if f.readonly:
            raise ApiError(
                "customer_field_readonly",
                name=f.name,
                fields=[{"field": key, "rule": "readonly", "message": f.name}],
            )
        cleaned[key] = new
    out: dict[str, tuple[str, str]] = {}
    custom = dict(visitor.fields or {})
    for key, new in cleaned.items():
        f = by_key[key]
        out[key] = (value_of(visitor, f), new)
        if f.system:
            setattr(visitor, key, new)
        else:
            if new:
                custom[str(f.id)] = new
            else:
                custom.pop(str(f.id), None)
    if custom != (visitor.fields or {}):
        visitor.fields = custom
    return out
