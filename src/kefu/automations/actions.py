"""Automation settings: read (defaults until the first save), replace (validated, audited),
and the texts other domains use (enterprise welcome, Dispatcher nickname, salutation)."""

from __future__ import annotations

import json
import time
from functools import lru_cache
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Table, bindparam, event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from kefu.access.principal import Principal
from kefu.audit.actions import record
from kefu.automations.models import AutomationSettings
from kefu.automations.schemas import AutomationSettingsIn, AutomationSettingsOut, Timers
from kefu.core import clock
from kefu.core.db import still_current
from kefu.tenants.models import Tenant

DEFAULT_DISPATCHER = "调度员"
DEFAULT_SALUTATION = "亲"
_SETTINGS_KEY = "automation_settings"  # db.info: tenant id → row or None


async def settings_row(db: AsyncSession, tenant_id: int) -> AutomationSettings | None:
    """The tenant's stored row, or None (defaults). Every message reads it (timers), so the
    answer is kept for the rest of the session (a request, or a batch of socket sends): a row
    is the object the identity map would answer with anyway; `replace` records a new one."""
    known: dict[int, AutomationSettings | None] = db.info.setdefault(_SETTINGS_KEY, {})
    if tenant_id in known:
        row = known[tenant_id]
        if row is None:
            return None
        if still_current(row):
            return row
    row = await db.scalar(
        select(AutomationSettings).where(AutomationSettings.tenant_id == tenant_id)
    )
    known[tenant_id] = row
    return row


def remember_settings(db: AsyncSession, tenant_id: int, row: AutomationSettings | None) -> None:
    """The tenant's row (None: none stored), read by the caller with other rows: `settings_row`
    answers with it for the rest of the session."""
    db.info.setdefault(_SETTINGS_KEY, {})[tenant_id] = row


def timers_of(row: AutomationSettings | None) -> Timers:
    """The stored timer settings over the defaults (unknown or broken keys fall back).

    Shared for equal stored values (every message asks): callers read it, never change it."""
    return _timers_of_stored(row.timers if row is not None else None)


def _timers_of_stored(stored: dict[str, Any] | None) -> Timers:
    return _timers_from(json.dumps(dict(stored or {}), sort_keys=True, default=str))


@lru_cache(maxsize=256)
def _timers_from(stored_json: str) -> Timers:
    stored: dict[str, Any] = json.loads(stored_json)
    out = Timers()
    for name, field in Timers.model_fields.items():
        value = stored.get(name)
        if not isinstance(value, dict):
            continue
        model = field.annotation
        assert model is not None
        known = {k: v for k, v in value.items() if k in model.model_fields}
        try:
            setattr(out, name, model.model_validate({**getattr(out, name).model_dump(), **known}))
        except ValueError:
            continue
    return out


async def timers(db: AsyncSession, tenant_id: int) -> Timers:
    return timers_of(await settings_row(db, tenant_id))


# Batched visitor sends read the timer settings once per batch, and at a few hundred messages a
# second a batch is mostly one send: the ORM read of the row was about a tenth of the server's
# CPU. `batch_timers` keeps them in this process: a change saved here applies from its commit
# on (`replace` forgets them), one saved on another node within BATCH_TIMERS_TTL seconds (as a
# socket's visitor rows, re-read after `PRINCIPAL_TTL`).
BATCH_TIMERS_TTL = 3.0
_SETTINGS: Table = AutomationSettings.__table__  # type: ignore[assignment]
_TIMERS_OF = select(_SETTINGS.c.timers).where(_SETTINGS.c.tenant_id == bindparam("tenant_id"))
# engine -> tenant id -> (read at, timers): per engine, as a tenant id means nothing across
# databases (the test suite's, one after another in a process).
_KEPT_TIMERS: WeakKeyDictionary[Any, dict[int, tuple[float, Timers]]] = WeakKeyDictionary()
_CHANGED = "automations.changed_tenants"  # db.info: tenants whose settings this session saved


async def batch_timers(db: AsyncSession, tenant_id: int) -> Timers:
    """The tenant's timer settings as a batch of socket sends uses them (see above)."""
    kept = _KEPT_TIMERS.setdefault(db.get_bind(), {})
    hit = kept.get(tenant_id)
    now = time.monotonic()
    if hit is not None and now - hit[0] < BATCH_TIMERS_TTL:
        return hit[1]
    found = _timers_of_stored(await db.scalar(_TIMERS_OF, {"tenant_id": tenant_id}))
    kept[tenant_id] = (now, found)
    return found


def _forget_changed(session: Session) -> None:
    if session.in_nested_transaction():
        return
    changed = session.info.pop(_CHANGED, ())
    for kept in list(_KEPT_TIMERS.values()):  # the batcher's engine is not the request's
        for tenant_id in changed:
            kept.pop(tenant_id, None)


if not event.contains(Session, "after_commit", _forget_changed):
    event.listen(Session, "after_commit", _forget_changed)


def _legacy_salutation(tenant: Tenant | None) -> str:
    old = (tenant.switches or {}).get("greeting_salutation") if tenant is not None else None
    return str(old) if isinstance(old, str) and old.strip() else DEFAULT_SALUTATION


def view(row: AutomationSettings | None, tenant: Tenant | None) -> AutomationSettingsOut:
    if row is None:
        return AutomationSettingsOut(
            salutation=_legacy_salutation(tenant), timers=Timers(), updated_at=None
        )
    return AutomationSettingsOut(
        welcome_text=row.welcome_text,
        greeting_text=row.greeting_text,
        end_message=row.end_message,
        dispatcher_nickname=row.dispatcher_nickname or DEFAULT_DISPATCHER,
        salutation=row.salutation or DEFAULT_SALUTATION,
        timers=timers_of(row),
        updated_at=row.updated_at,
    )


async def read(db: AsyncSession, tenant: Tenant) -> AutomationSettingsOut:
    return view(await settings_row(db, tenant.id), tenant)


async def replace(
    db: AsyncSession, principal: Principal, body: AutomationSettingsIn, ip: str
) -> AutomationSettingsOut:
    tenant = await db.get(Tenant, principal.tenant_id)
    row = await settings_row(db, principal.tenant_id)
    db.info.setdefault(_CHANGED, set()).add(principal.tenant_id)  # see `batch_timers`
    before = view(row, tenant).model_dump(mode="json", exclude={"updated_at"})
    if row is None:
        row = AutomationSettings(tenant_id=principal.tenant_id, updated_at=clock.now())
        db.add(row)
        db.info.setdefault(_SETTINGS_KEY, {})[principal.tenant_id] = row
    row.welcome_text = body.welcome_text
    row.greeting_text = body.greeting_text
    row.end_message = body.end_message
    row.dispatcher_nickname = body.dispatcher_nickname
    row.salutation = body.salutation
    timers = body.timers.model_copy(deep=True)
    for part in (timers.visitor_timeout, timers.waiting_end):
        # Ids that are not live session tags of this tenant are dropped like unknown ones.
        part.tag_ids = await _live_tags(db, principal.tenant_id, part.tag_ids)
    body = body.model_copy(update={"timers": timers})
    row.timers = timers.model_dump(mode="json")
    row.updated_at = clock.now()
    if tenant is not None:
        # Mirrored for readers that only hold the tenant (`conversations.dispatcher_name`).
        tenant.switches = {
            **(tenant.switches or {}),
            "dispatcher_nickname": row.dispatcher_nickname,
        }
    await db.flush()
    after = body.model_dump(mode="json")
    changes = _diff(before, after)
    if changes:
        record(
            db,
            principal,
            tenant_id=principal.tenant_id,
            action="automations.updated",
            target_type="automation_settings",
            target_id=row.id,
            detail=changes,
            ip=ip,
        )
    return view(row, tenant)


async def _live_tags(db: AsyncSession, tenant_id: int, tag_ids: list[int]) -> list[int]:
    if not tag_ids:
        return []
    from kefu.session_tags.models import SessionTag

    live = set(
        await db.scalars(
            select(SessionTag.id).where(
                SessionTag.tenant_id == tenant_id,
                SessionTag.id.in_(tag_ids),
                SessionTag.deleted_at.is_(None),
            )
        )
    )
    return [t for t in dict.fromkeys(tag_ids) if t in live]


def _diff(before: dict[str, Any], after: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, new in after.items():
        old = before.get(key)
        path = f"{prefix}{key}"
        if isinstance(new, dict) and isinstance(old, dict):
            out.update(_diff(old, new, path + "."))
        elif old != new:
            out[path] = {"from": old, "to": new}
    return out


# --- texts used by conversations and routing ---------------------------------------------


async def dispatcher_nickname(db: AsyncSession, tenant_id: int) -> str:
    row = await settings_row(db, tenant_id)
    return (row.dispatcher_nickname if row is not None else "") or DEFAULT_DISPATCHER


async def salutation_word(db: AsyncSession, tenant: Tenant) -> str:
    """The default word for `##亲##`; the old `greeting_salutation` switch until first save."""
    row = await settings_row(db, tenant.id)
    if row is not None and row.salutation:
        return row.salutation
    return _legacy_salutation(tenant)


async def enterprise_welcome(db: AsyncSession, tenant_id: int) -> str:
    row = await settings_row(db, tenant_id)
    return row.welcome_text if row is not None else ""
