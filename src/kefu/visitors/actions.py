"""Registering a browser as a visitor (anonymous or signed identity) and recognising it later."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.channels.models import Widget
from kefu.core import clock
from kefu.core.errors import ApiError
from kefu.core.security import token_digest
from kefu.tenants.models import Tenant
from kefu.visitors.models import Visitor, VisitorDevice
from kefu.visitors.schemas import IdentityIn, VisitorPatch, VisitorSessionIn
from kefu.visitors.web_info import web_info

IDENTITY_TTL = timedelta(hours=24)
_Row = TypeVar("_Row", Widget, Tenant)


@dataclass
class VisitorPrincipal:
    visitor: Visitor
    device: VisitorDevice
    widget: Widget
    tenant: Tenant

    @property
    def tenant_id(self) -> int:
        return self.tenant.id


def identity_signature(secret: str, user_id: str, timestamp: int) -> str:
    """What the site's server computes to vouch for its user (docs/protocol.md)."""
    return hmac.new(secret.encode(), f"{user_id}:{timestamp}".encode(), hashlib.sha256).hexdigest()


def _verified_user_id(widget: Widget, identity: IdentityIn) -> str:
    now = clock.now().timestamp()
    if not (now - IDENTITY_TTL.total_seconds() <= identity.timestamp <= now + 300):
        raise ApiError("identity_invalid")
    expected = identity_signature(widget.secret, identity.user_id, identity.timestamp)
    if not hmac.compare_digest(expected, identity.signature.lower()):
        raise ApiError("identity_invalid")
    return identity.user_id


async def widget_by_key(db: AsyncSession, key: str) -> tuple[Widget, Tenant]:
    widget = await db.scalar(select(Widget).where(Widget.key == key))
    tenant = await db.get(Tenant, widget.tenant_id) if widget is not None else None
    if widget is None or tenant is None:
        raise ApiError("widget_not_found")
    if tenant.expires_at is not None and tenant.expires_at <= clock.now():
        raise ApiError("widget_not_found")
    return widget, tenant


async def register(
    db: AsyncSession, body: VisitorSessionIn, *, ip: str, user_agent: str
) -> VisitorPrincipal:
    """Find or create the visitor behind this browser token, and refresh profile and web info."""
    widget, tenant = await widget_by_key(db, body.widget_key)
    now = clock.now()
    digest = token_digest(body.token)
    device = await db.scalar(select(VisitorDevice).where(VisitorDevice.token_digest == digest))
    if device is not None and device.tenant_id != tenant.id:
        # A token is one browser of one company; reuse elsewhere is refused like a bad token.
        raise ApiError("unauthenticated")
    external_id = _verified_user_id(widget, body.identity) if body.identity else None
    visitor: Visitor | None = None
    if external_id is not None:
        visitor = await db.scalar(
            select(Visitor).where(
                Visitor.tenant_id == tenant.id, Visitor.external_id == external_id
            )
        )
    if visitor is None and device is not None:
        current = await db.get(Visitor, device.visitor_id)
        # An anonymous browser that signs in becomes that identified customer.
        if current is not None and (external_id is None or current.external_id is None):
            visitor = current
            if external_id is not None:
                visitor.external_id = external_id
    if visitor is None:
        visitor = Visitor(
            tenant_id=tenant.id,
            external_id=external_id,
            first_widget_id=widget.id,
            custom={},
            web_info={},
            created_at=now,
            last_seen_at=now,
        )
        db.add(visitor)
        await db.flush()
    profile = body.profile
    for field in ("name", "phone", "email"):
        value = getattr(profile, field)
        if value:
            setattr(visitor, field, value)
    if profile.custom:
        visitor.custom = {**(visitor.custom or {}), **profile.custom}
    visitor.web_info = web_info(ip=ip, user_agent=user_agent, page=body.page.model_dump())
    visitor.last_seen_at = now
    entry = {k: v for k, v in body.entry.model_dump().items() if v}
    if profile.custom:
        entry["custom"] = dict(profile.custom)
    if device is None:
        device = VisitorDevice(
            token_digest=digest,
            tenant_id=tenant.id,
            visitor_id=visitor.id,
            widget_id=widget.id,
            entry=entry,
            created_at=now,
            last_seen_at=now,
        )
        db.add(device)
    else:
        device.visitor_id = visitor.id
        device.widget_id = widget.id
        device.entry = entry
        device.last_seen_at = now
    await db.flush()
    return VisitorPrincipal(visitor=visitor, device=device, widget=widget, tenant=tenant)


class SharedRows:
    """Tenant and widget rows shared by a process's visitor sockets (read-only between sends).

    Thousands of sockets of one widget would otherwise each keep their own copies (a widget's
    JSON settings are kilobytes); a row here is re-read once it is older than `ttl`, as a
    socket's own rows were, so a renamed tenant or a widget's new settings still apply."""

    MAX_ROWS = 20_000

    def __init__(self, ttl: timedelta) -> None:
        self.ttl = ttl
        self._rows: dict[tuple[type, int], tuple[datetime, Any]] = {}

    async def get(self, db: AsyncSession, cls: type[_Row], row_id: int) -> _Row | None:
        now = clock.now()
        hit = self._rows.get((cls, row_id))
        if hit is not None and now - hit[0] < self.ttl:
            row: _Row = hit[1]
            return row
        fresh = await db.get(cls, row_id, populate_existing=True)
        if fresh is None:
            self._rows.pop((cls, row_id), None)
            return None
        _outlive(db, fresh)
        if len(self._rows) >= self.MAX_ROWS:
            self._rows = {k: v for k, v in self._rows.items() if now - v[0] < self.ttl}
            if len(self._rows) >= self.MAX_ROWS:
                self._rows.clear()
        self._rows[(cls, row_id)] = (now, fresh)
        return fresh


async def principal_for_token(
    db: AsyncSession, token: str, shared: SharedRows | None = None
) -> VisitorPrincipal:
    """The visitor behind a token sent with a request or a socket's auth frame (a socket passes
    its process's `shared` rows: its tenant and widget are then shared with other sockets)."""
    device = await db.scalar(
        select(VisitorDevice).where(VisitorDevice.token_digest == token_digest(token))
    )
    if device is None:
        raise ApiError("unauthenticated")
    visitor = await db.get(Visitor, device.visitor_id)
    if shared is None:
        widget = await db.get(Widget, device.widget_id)
        tenant = await db.get(Tenant, device.tenant_id)
    else:
        widget = await shared.get(db, Widget, device.widget_id)
        tenant = await shared.get(db, Tenant, device.tenant_id)
    if visitor is None or widget is None or tenant is None:
        raise ApiError("unauthenticated")
    return VisitorPrincipal(visitor=visitor, device=device, widget=widget, tenant=tenant)


async def reread_principal(
    db: AsyncSession, old: VisitorPrincipal, shared: SharedRows | None = None
) -> VisitorPrincipal:
    """A socket's principal read again (its own visitor and device rows; tenant and widget from
    `shared` when given, re-read there once older than its TTL). Gone rows end the sign-in."""
    device = await db.get(VisitorDevice, old.device.id, populate_existing=True)
    visitor = await db.get(Visitor, old.visitor.id, populate_existing=True)
    if shared is None:
        widget = await db.get(Widget, old.widget.id, populate_existing=True)
        tenant = await db.get(Tenant, old.tenant.id, populate_existing=True)
    else:
        widget = await shared.get(db, Widget, old.widget.id)
        tenant = await shared.get(db, Tenant, old.tenant.id)
    if device is None or visitor is None or widget is None or tenant is None:
        raise ApiError("unauthenticated")
    _outlive(db, device, visitor)
    return VisitorPrincipal(visitor=visitor, device=device, widget=widget, tenant=tenant)


async def reread_principals(
    db: AsyncSession, olds: list[VisitorPrincipal], shared: SharedRows
) -> list[VisitorPrincipal | None]:
    """`reread_principal` for many sockets at once (a batch of sends): their visitor and device
    rows in one statement each. None where a row is gone (the caller ends that sign-in)."""
    device_ids = [old.device.id for old in olds]
    visitor_ids = [old.visitor.id for old in olds]
    devices = {d.id: d for d in await db.scalars(_DEVICES_BY_ID, {"ids": device_ids})}
    visitors = {v.id: v for v in await db.scalars(_VISITORS_BY_ID, {"ids": visitor_ids})}
    out: list[VisitorPrincipal | None] = []
    for old in olds:
        device, visitor = devices.get(old.device.id), visitors.get(old.visitor.id)
        widget = await shared.get(db, Widget, old.widget.id)
        tenant = await shared.get(db, Tenant, old.tenant.id)
        if device is None or visitor is None or widget is None or tenant is None:
            out.append(None)
            continue
        _outlive(db, device, visitor)
        out.append(VisitorPrincipal(visitor=visitor, device=device, widget=widget, tenant=tenant))
    return out


def _outlive(db: AsyncSession, *rows: Any) -> None:
    """Rows a socket keeps after this session: out of it, so that its rollback (a failed batch
    of sends, run again in a new session) cannot expire them; a detached expired row fails on
    its next read. What was read stays: it was current when read."""
    for row in rows:
        if row in db:
            db.expunge(row)


_DEVICES_BY_ID = (
    select(VisitorDevice)
    .where(VisitorDevice.id.in_(bindparam("ids", expanding=True)))
    .execution_options(populate_existing=True)
)
_VISITORS_BY_ID = (
    select(Visitor)
    .where(Visitor.id.in_(bindparam("ids", expanding=True)))
    .execution_options(populate_existing=True)
)


def display_name(visitor: Visitor) -> str:
    """The visitor's name, or a stable fallback built from the id (a nickname is not valid)."""
    return visitor.name or f"访客{visitor.id}"


def update_profile(visitor: Visitor, patch: VisitorPatch) -> None:
    for field, value in patch.model_dump(exclude_unset=True).items():
        setattr(visitor, field, value)
