"""Settings > Permissions: custom roles, their pages and data scopes; the page catalogue."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.guards import require_page
from kefu.access.principal import Principal, SignedIn
from kefu.accounts.models import User
from kefu.api.deps import Db, UnitOfWorkRoute, client_ip
from kefu.audit.actions import record
from kefu.core import clock
from kefu.core.errors import ApiError, field_error
from kefu.notifications.actions import notify
from kefu.roles.catalogue import GROUP_TITLES, PAGE_KEYS, PAGES, SCOPED_DATA, SCOPES
from kefu.roles.models import Role
from kefu.roles.schemas import CatalogueOut, CataloguePage, RoleCreate, RoleOut, RolePatch

router = APIRouter(tags=["roles"], route_class=UnitOfWorkRoute)
ManageRoles = require_page("admin.settings.permissions")
RoleId = Annotated[int, Path(ge=1, le=2**53)]


def _check_pages(pages: list[str]) -> list[str]:
    unknown = [p for p in pages if p not in PAGE_KEYS]
    if unknown:
        raise field_error("pages", "enum", f"未知页面：{unknown[0]}", f"unknown page {unknown[0]}")
    # A History tab is meaningless without the History page itself.
    chosen = set(pages)
    for page in PAGES:
        if page.parent and page.key in chosen and page.parent not in chosen:
            chosen.add(page.parent)
    return sorted(chosen)


async def _out(db: AsyncSession, role: Role) -> RoleOut:
    from kefu.access.principal import role_pages

    count = await db.scalar(select(func.count()).select_from(User).where(User.role_id == role.id))
    return RoleOut(
        id=role.id,
        name=role.display_name,
        builtin=role.builtin,
        pages=sorted(role_pages(role)),
        data_scopes=role.data_scopes,
        require_mfa=role.require_mfa,
        user_count=int(count or 0),
        created_at=role.created_at,
        updated_at=role.updated_at,
    )


async def _get(db: AsyncSession, principal: Principal, role_id: int) -> Role:
    role = await db.scalar(
        select(Role).where(Role.id == role_id, Role.tenant_id == principal.tenant_id)
    )
    if role is None:
        raise ApiError("not_found")
    return role


async def _name_free(
    db: AsyncSession, tenant_id: int, name: str, exclude: int | None = None
) -> None:
    stmt = select(Role.id).where(Role.tenant_id == tenant_id, Role.name == name)
    if exclude:
        stmt = stmt.where(Role.id != exclude)
    if await db.scalar(stmt):
        raise ApiError("role_name_taken")


@router.get("/permissions/catalogue", summary="Every page a role can grant, with titles")
async def catalogue(_: SignedIn) -> CatalogueOut:
    return CatalogueOut(
        pages=[
            CataloguePage(
                key=p.key,
                mode=p.mode,
                group=p.group,
                parent=p.parent,
                title={"zh-CN": p.zh, "en": p.en},
            )
            for p in PAGES
        ],
        groups={k: {"zh-CN": zh, "en": en} for k, (zh, en) in GROUP_TITLES.items()},
        scoped_data=list(SCOPED_DATA),
        scopes=list(SCOPES),
    )


@router.get("/roles", summary="Built-in and custom roles")
async def list_roles(db: Db, principal: Principal = ManageRoles) -> list[RoleOut]:
    roles = (
        await db.scalars(
            select(Role)
            .where(Role.tenant_id == principal.tenant_id)
            .order_by(Role.builtin.is_(None), Role.id)
        )
    ).all()
    return [await _out(db, r) for r in roles]


@router.post("/roles", status_code=201, summary="Create a custom role")
async def create_role(
    body: RoleCreate, request: Request, db: Db, principal: Principal = ManageRoles
) -> RoleOut:
    await _name_free(db, principal.tenant_id, body.name)
    now = clock.now()
    role = Role(
        tenant_id=principal.tenant_id,
        name=body.name,
        builtin=None,
        pages=_check_pages(body.pages),
        data_scopes=body.data_scopes.model_dump(),
        require_mfa=body.require_mfa,
        created_at=now,
        updated_at=now,
    )
    db.add(role)
    await db.flush()
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="role.create",
        target_type="role",
        target_id=role.id,
        detail=body.model_dump(),
        ip=client_ip(request),
    )
    return await _out(db, role)


@router.get("/roles/{role_id}", summary="One role")
async def read_role(role_id: RoleId, db: Db, principal: Principal = ManageRoles) -> RoleOut:
    return await _out(db, await _get(db, principal, role_id))


@router.patch("/roles/{role_id}", summary="Edit a role (built-in roles: only the 2FA requirement)")
async def patch_role(
    role_id: RoleId, body: RolePatch, request: Request, db: Db, principal: Principal = ManageRoles
) -> RoleOut:
    role = await _get(db, principal, role_id)
    changes = body.model_dump(exclude_unset=True)
    if role.builtin and set(changes) - {"require_mfa"}:
        raise ApiError("builtin_role_readonly")
    if body.name is not None:
        await _name_free(db, principal.tenant_id, body.name, exclude=role.id)
        role.name = body.name
    if body.pages is not None:
        role.pages = _check_pages(body.pages)
    if body.data_scopes is not None:
        role.data_scopes = body.data_scopes.model_dump()
    if body.require_mfa is not None:
        role.require_mfa = body.require_mfa
    role.updated_at = clock.now()
    if body.pages is not None or body.data_scopes is not None:
        await notify_role_holders(db, principal, role)
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="role.update",
        target_type="role",
        target_id=role.id,
        detail=changes,
        ip=client_ip(request),
    )
    return await _out(db, role)


async def notify_role_holders(db: AsyncSession, principal: Principal, role: Role) -> None:
    """§15.1: everyone holding an edited role hears that their permissions changed."""
    holders = await db.scalars(
        select(User.id).where(
            User.tenant_id == principal.tenant_id,
            User.role_id == role.id,
            User.enabled.is_(True),
            User.id != principal.user.id,
        )
    )
    for uid in holders:
        await notify(
            db,
            tenant_id=principal.tenant_id,
            user_id=uid,
            kind="permissions_changed",
            data={
                "change": "role_edited",
                "role_name": role.name,
                "actor_id": principal.user.id,
                "actor_name": principal.user.nickname,
            },
        )


@router.delete("/roles/{role_id}", status_code=204, summary="Delete a custom role no one holds")
async def delete_role(
    role_id: RoleId, request: Request, db: Db, principal: Principal = ManageRoles
) -> Response:
    role = await _get(db, principal, role_id)
    if role.builtin:
        raise ApiError("builtin_role_readonly")
    count = int(
        await db.scalar(select(func.count()).select_from(User).where(User.role_id == role.id)) or 0
    )
    if count:
        raise ApiError("role_in_use", count=count)
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="role.delete",
        target_type="role",
        target_id=role.id,
        detail={"name": role.name},
        ip=client_ip(request),
    )
    await db.delete(role)
    return Response(status_code=204)
