"""Creating, editing and deleting widgets and associations (admin.channels)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.audit.actions import record
from kefu.channels.models import Association, Widget
from kefu.channels.schemas import AssociationIn, AssociationPatch, WidgetIn, WidgetPatch
from kefu.core import clock
from kefu.core.errors import ApiError
from kefu.core.security import new_token


def new_secret() -> str:
    return new_token(32)


async def get_widget(db: AsyncSession, principal: Principal, widget_id: int) -> Widget:
    widget = await db.scalar(
        select(Widget).where(Widget.id == widget_id, Widget.tenant_id == principal.tenant_id)
    )
    if widget is None:
        raise ApiError("not_found")
    return widget


async def get_association(
    db: AsyncSession, principal: Principal, association_id: int
) -> Association:
    assoc = await db.scalar(
        select(Association).where(
            Association.id == association_id, Association.tenant_id == principal.tenant_id
        )
    )
    if assoc is None:
        raise ApiError("not_found")
    return assoc


async def create_widget(
    db: AsyncSession, principal: Principal, body: WidgetIn, ip: str
) -> tuple[Widget, str]:
    if body.association_id is not None:
        await get_association(db, principal, body.association_id)
    now = clock.now()
    secret = new_secret()
    widget = Widget(
        tenant_id=principal.tenant_id,
        key=new_token(12),
        secret=secret,
        created_at=now,
        updated_at=now,
        **body.model_dump(),
    )
    db.add(widget)
    await db.flush()
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="widget.created",
        target_type="widget",
        target_id=widget.id,
        detail={"name": widget.name},
        ip=ip,
    )
    return widget, secret


async def update_widget(
    db: AsyncSession, principal: Principal, widget: Widget, patch: WidgetPatch, ip: str
) -> None:
    changes = patch.model_dump(exclude_unset=True)
    if changes.get("association_id") is not None:
        await get_association(db, principal, changes["association_id"])
    for field, value in changes.items():
        setattr(widget, field, value)
    widget.updated_at = clock.now()
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="widget.updated",
        target_type="widget",
        target_id=widget.id,
        detail={"fields": sorted(changes)},
        ip=ip,
    )


async def rotate_secret(db: AsyncSession, principal: Principal, widget: Widget, ip: str) -> str:
    widget.secret = new_secret()
    widget.updated_at = clock.now()
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="widget.secret_rotated",
        target_type="widget",
        target_id=widget.id,
        ip=ip,
    )
    return widget.secret


async def delete_widget(db: AsyncSession, principal: Principal, widget: Widget, ip: str) -> None:
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="widget.deleted",
        target_type="widget",
        target_id=widget.id,
        detail={"name": widget.name},
        ip=ip,
    )
    await db.delete(widget)


async def _name_free(db: AsyncSession, tenant_id: int, name: str, exclude: int | None) -> None:
    query = select(Association.id).where(
        Association.tenant_id == tenant_id, Association.name == name
    )
    if exclude is not None:
        query = query.where(Association.id != exclude)
    if await db.scalar(query) is not None:
        raise ApiError("association_name_taken")


async def create_association(
    db: AsyncSession, principal: Principal, body: AssociationIn, ip: str
) -> Association:
    await _name_free(db, principal.tenant_id, body.name, None)
    assoc = Association(tenant_id=principal.tenant_id, created_at=clock.now(), **body.model_dump())
    db.add(assoc)
    await db.flush()
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="association.created",
        target_type="association",
        target_id=assoc.id,
        detail={"name": assoc.name},
        ip=ip,
    )
    return assoc


async def update_association(
    db: AsyncSession, principal: Principal, assoc: Association, patch: AssociationPatch, ip: str
) -> None:
    if patch.name is not None:
        await _name_free(db, principal.tenant_id, patch.name, assoc.id)
        record(
            db,
            principal,
            tenant_id=principal.tenant_id,
            action="association.updated",
            target_type="association",
            target_id=assoc.id,
            detail={"from": assoc.name, "to": patch.name},
            ip=ip,
        )
        assoc.name = patch.name


async def delete_association(
    db: AsyncSession, principal: Principal, assoc: Association, ip: str
) -> None:
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="association.deleted",
        target_type="association",
        target_id=assoc.id,
        detail={"name": assoc.name},
        ip=ip,
    )
    await db.delete(assoc)
