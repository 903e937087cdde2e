"""Enterprise info and system switches for a tenant's admins; provisioning for the platform."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Header, Path, Query, Request, UploadFile
from fastapi.responses import FileResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.guards import require_page
from kefu.access.principal import Principal, SignedIn
from kefu.accounts.actions import enabled_count
from kefu.api.deps import Db, UnitOfWorkRoute, client_ip
from kefu.audit.actions import record
from kefu.core import images
from kefu.core.config import Settings
from kefu.core.errors import ApiError
from kefu.core.security import constant_time_equals
from kefu.events.bus import emit
from kefu.events.types import CapacityFreed
from kefu.tenants.actions import DEFAULT_SWITCHES, provision_tenant
from kefu.tenants.models import Tenant
from kefu.tenants.schemas import (
    PlatformTenantOut,
    PlatformTenantPatch,
    ProvisionIn,
    ProvisionOut,
    SwitchesOut,
    SwitchesPatch,
    TenantOut,
    TenantPatch,
)

tenant_router = APIRouter(prefix="/tenant", tags=["tenant"], route_class=UnitOfWorkRoute)
platform_router = APIRouter(prefix="/platform", tags=["platform"], route_class=UnitOfWorkRoute)
ManageEnterprise = require_page("admin.settings.enterprise")
ManageSwitches = require_page("admin.settings.switches")


def logo_url(tenant: Tenant) -> str:
    version = tenant.logo_path.rsplit("/", 1)[-1].split(".")[0] if tenant.logo_path else "default"
    return f"/api/v1/tenant/logo?tenant_id={tenant.id}&v={version}"


async def _out(db: AsyncSession, tenant: Tenant) -> TenantOut:
    return TenantOut(
        id=tenant.id,
        name=tenant.name,
        logo_url=logo_url(tenant),
        phone=tenant.phone,
        address=tenant.address,
        remark=tenant.remark,
        seats=tenant.seats,
        seats_used=await enabled_count(db, tenant.id),
        expires_at=tenant.expires_at,
        time_zone=tenant.time_zone,
        max_concurrent_ceiling=tenant.max_concurrent_ceiling,
        created_at=tenant.created_at,
    )


@tenant_router.get("", summary="Enterprise info of my tenant")
async def read_tenant(principal: SignedIn, db: Db) -> TenantOut:
    return await _out(db, principal.tenant)


@tenant_router.patch("", summary="Edit enterprise info")
async def patch_tenant(
    body: TenantPatch, request: Request, db: Db, principal: Principal = ManageEnterprise
) -> TenantOut:
    tenant = principal.tenant
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    for field, value in changes.items():
        setattr(tenant, field, value)
    record(
        db,
        principal,
        tenant_id=tenant.id,
        action="tenant.update",
        target_type="tenant",
        target_id=tenant.id,
        detail=changes,
        ip=client_ip(request),
    )
    return await _out(db, tenant)


@tenant_router.post("/logo", summary="Upload the enterprise logo (PNG/GIF/JPG, at most 2 MB)")
async def upload_logo(
    request: Request,
    db: Db,
    file: Annotated[UploadFile, File()],
    principal: Principal = ManageEnterprise,
) -> TenantOut:
    data, ext = await images.read_image(file)
    settings: Settings = request.app.state.settings
    tenant = principal.tenant
    tenant.logo_path = images.store(settings, tenant.id, "logo", data, ext)
    record(
        db,
        principal,
        tenant_id=tenant.id,
        action="tenant.logo",
        target_type="tenant",
        target_id=tenant.id,
        ip=client_ip(request),
    )
    return await _out(db, tenant)


@tenant_router.get(
    "/logo",
    summary="A tenant's logo (public: the visitor widget shows it)",
    response_class=FileResponse,
)
async def read_logo(
    request: Request,
    db: Db,
    tenant_id: Annotated[int | None, Query(ge=1, le=2**53)] = None,
) -> FileResponse:
    settings: Settings = request.app.state.settings
    tenant = await db.get(Tenant, tenant_id) if tenant_id else None
    path = images.resolve(settings, tenant.logo_path if tenant else None)
    headers = {"Cache-Control": "public, max-age=3600"}
    if path is None:
        return FileResponse(
            images.ASSETS_DIR / "default-logo.svg", media_type="image/svg+xml", headers=headers
        )
    return FileResponse(path, media_type=images.media_type(path), headers=headers)


@tenant_router.get("/switches", summary="System switches")
async def read_switches(principal: SignedIn) -> SwitchesOut:
    return SwitchesOut(**{**DEFAULT_SWITCHES, **(principal.tenant.switches or {})})


@tenant_router.patch("/switches", summary="Change system switches")
async def patch_switches(
    body: SwitchesPatch, request: Request, db: Db, principal: Principal = ManageSwitches
) -> SwitchesOut:
    tenant = principal.tenant
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    # Reassign (not mutate) so SQLAlchemy sees the JSON column change.
    tenant.switches = {**DEFAULT_SWITCHES, **(tenant.switches or {}), **changes}
    record(
        db,
        principal,
        tenant_id=tenant.id,
        action="switches.update",
        target_type="tenant",
        target_id=tenant.id,
        detail=changes,
        ip=client_ip(request),
    )
    # Dispatch switches (hours-only dispatch, returning customers) may let waiting ones go now.
    emit(db, CapacityFreed(tenant_id=tenant.id))
    return SwitchesOut(**tenant.switches)


def platform_guard(
    request: Request,
    key: Annotated[str | None, Header(alias="X-Kefu-Platform-Key", max_length=200)] = None,
) -> None:
    """Platform routes answer only to the operator's key (checked before the body is read)."""
    settings: Settings = request.app.state.settings
    if settings.platform_key is None or not settings.platform_key.get_secret_value():
        raise ApiError("platform_api_disabled")
    if not key or not constant_time_equals(key, settings.platform_key.get_secret_value()):
        raise ApiError("platform_key_invalid")


PlatformCaller = Depends(platform_guard)


async def _platform_tenant(db: AsyncSession, tenant_id: int) -> Tenant:
    tenant = await db.scalar(select(Tenant).where(Tenant.id == tenant_id))
    if tenant is None:
        raise ApiError("not_found")
    return tenant


def _platform_out(tenant: Tenant, used: int) -> PlatformTenantOut:
    return PlatformTenantOut(
        id=tenant.id,
        name=tenant.name,
        seats=tenant.seats,
        seats_used=used,
        expires_at=tenant.expires_at,
        max_concurrent_ceiling=tenant.max_concurrent_ceiling,
        created_at=tenant.created_at,
    )


@platform_router.post(
    "/tenants",
    status_code=201,
    dependencies=[PlatformCaller],
    summary="Provision a tenant after a marketplace purchase (platform key)",
)
async def platform_provision(body: ProvisionIn, request: Request, db: Db) -> ProvisionOut:
    result = await provision_tenant(
        db,
        name=body.name,
        admin_email=body.admin_email,
        seats=body.seats,
        expires_at=body.expires_at,
        time_zone=body.time_zone,
    )
    result.tenant.max_concurrent_ceiling = body.max_concurrent_ceiling
    settings: Settings = request.app.state.settings
    return ProvisionOut(
        login_url=f"{settings.base_url}/login",
        username=result.admin.email,
        password=result.password,
        tenant_id=result.tenant.id,
    )


TenantIdPath = Annotated[int, Path(ge=1, le=2**53)]


@platform_router.get(
    "/tenants/{tenant_id}",
    dependencies=[PlatformCaller],
    summary="A provisioned tenant (platform key)",
)
async def platform_read(tenant_id: TenantIdPath, request: Request, db: Db) -> PlatformTenantOut:
    tenant = await _platform_tenant(db, tenant_id)
    return _platform_out(tenant, await enabled_count(db, tenant.id))


@platform_router.patch(
    "/tenants/{tenant_id}",
    dependencies=[PlatformCaller],
    summary="Renew or add seats (platform key)",
)
async def platform_patch(
    tenant_id: TenantIdPath, body: PlatformTenantPatch, request: Request, db: Db
) -> PlatformTenantOut:
    tenant = await _platform_tenant(db, tenant_id)
    changes = body.model_dump(exclude_unset=True)
    used = await enabled_count(db, tenant.id)
    if body.seats is not None and body.seats < used:
        # Enabled accounts may never exceed seats: the tenant disables accounts first.
        raise ApiError("seats_below_enabled", used=used)
    for field, value in changes.items():
        if value is not None or field == "expires_at":
            setattr(tenant, field, value)
    record(
        db,
        None,
        tenant_id=tenant.id,
        action="platform.update",
        target_type="tenant",
        target_id=tenant.id,
        detail={k: str(v) for k, v in changes.items()},
        ip=client_ip(request),
    )
    return _platform_out(tenant, await enabled_count(db, tenant.id))
