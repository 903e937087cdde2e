"""Administering users: create, edit, enable within seats, delete; and self-service edits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.accounts.auth_actions import revoke_sessions
from kefu.accounts.models import User
from kefu.accounts.schemas import MePatch, UserCreate, UserPatch
from kefu.audit.actions import record
from kefu.core import clock
from kefu.core.errors import ApiError
from kefu.core.security import hash_password
from kefu.events.bus import emit
from kefu.events.types import UserRoleChanged, UserUpdated
from kefu.notifications.actions import notify
from kefu.roles.models import Role
from kefu.teams.models import Team
from kefu.tenants.models import Tenant


async def _lock_tenant(db: AsyncSession, tenant_id: int) -> Tenant:
    """Serialise seat changes per tenant (row lock on PostgreSQL; SQLite writers are serial)."""
    tenant = await db.scalar(select(Tenant).where(Tenant.id == tenant_id).with_for_update())
    if tenant is None:
        raise ApiError("not_found")
    return tenant


async def enabled_count(db: AsyncSession, tenant_id: int) -> int:
    return int(
        await db.scalar(
            select(func.count()).select_from(User).where(User.tenant_id == tenant_id, User.enabled)
        )
        or 0
    )


async def _ensure_seat(db: AsyncSession, tenant_id: int) -> None:
    tenant = await _lock_tenant(db, tenant_id)
    if await enabled_count(db, tenant_id) >= tenant.seats:
        raise ApiError("seats_exceeded", seats=tenant.seats)


async def _role_in_tenant(db: AsyncSession, tenant_id: int, role_id: int) -> Role:
    role = await db.scalar(select(Role).where(Role.id == role_id, Role.tenant_id == tenant_id))
    if role is None:
        raise ApiError("not_found")
    return role


async def _team_in_tenant(db: AsyncSession, tenant_id: int, team_id: int) -> Team:
    team = await db.scalar(select(Team).where(Team.id == team_id, Team.tenant_id == tenant_id))
    if team is None:
        raise ApiError("not_found")
    return team


async def _unique_checks(
    db: AsyncSession,
    tenant_id: int,
    *,
    email: str | None,
    employee_number: str | None,
    exclude_id: int | None = None,
) -> None:
    if email is not None:
        stmt = select(User.id).where(User.email == email)
        if exclude_id:
            stmt = stmt.where(User.id != exclude_id)
        if await db.scalar(stmt):
            raise ApiError("email_taken")
    if employee_number:
        stmt = select(User.id).where(
            User.tenant_id == tenant_id, User.employee_number == employee_number
        )
        if exclude_id:
            stmt = stmt.where(User.id != exclude_id)
        if await db.scalar(stmt):
            raise ApiError("employee_number_taken")


def _check_ceiling(tenant: Tenant, value: int) -> None:
    if value > tenant.max_concurrent_ceiling:
        raise ApiError("max_concurrent_range", ceiling=tenant.max_concurrent_ceiling)


async def create_user(db: AsyncSession, principal: Principal, body: UserCreate, ip: str) -> User:
    tid = principal.tenant_id
    role = await _role_in_tenant(db, tid, body.role_id)
    team_id = body.team_id
    if team_id is not None:
        await _team_in_tenant(db, tid, team_id)
    _check_ceiling(principal.tenant, body.max_concurrent)
    employee_number = body.employee_number or None
    await _unique_checks(db, tid, email=body.email, employee_number=employee_number)
    if body.enabled:
        await _ensure_seat(db, tid)
    now = clock.now()
    user = User(
        tenant_id=tid,
        email=body.email,
        password_hash=hash_password(body.password),
        nickname=body.nickname,
        real_name=body.real_name,
        employee_number=employee_number,
        mobile=body.mobile,
        agent_type=body.agent_type,
        role_id=role.id,
        team_id=team_id,
        enabled=body.enabled,
        max_concurrent=body.max_concurrent,
        language=body.language,
        created_at=now,
        updated_at=now,
    )
    db.add(user)
    await db.flush()
    record(
        db,
        principal,
        tenant_id=tid,
        action="user.create",
        target_type="user",
        target_id=user.id,
        detail=body.model_dump(exclude={"password"}),
        ip=ip,
    )
    return user


async def _other_enabled_admins(db: AsyncSession, tenant_id: int, user_id: int) -> int:
    return int(
        await db.scalar(
            select(func.count())
            .select_from(User)
            .join(Role, Role.id == User.role_id)
            .where(
                User.tenant_id == tenant_id,
                User.enabled,
                User.id != user_id,
                Role.builtin == "admin",
            )
        )
        or 0
    )


async def _guard_admin_removal(
    db: AsyncSession, user: User, will_be_admin: bool, will_be_enabled: bool
) -> None:
    """Never leave a tenant with no enabled administrator (it could not be managed again)."""
    role = await db.get(Role, user.role_id)
    was_active_admin = role is not None and role.builtin == "admin" and user.enabled
    if (
        was_active_admin
        and not (will_be_admin and will_be_enabled)
        and await _other_enabled_admins(db, user.tenant_id, user.id) == 0
    ):
        raise ApiError("last_admin")


async def _notify_max_concurrent(
    db: AsyncSession, principal: Principal, user: User, old: int
) -> None:
    """§2.2: an admin's change of someone else's max concurrent reaches their message center."""
    if user.max_concurrent == old or user.id == principal.user.id:
        return
    await notify(
        db,
        tenant_id=principal.tenant_id,
        user_id=user.id,
        kind="max_concurrent_changed",
        data={
            "old": old,
            "new": user.max_concurrent,
            "actor_id": principal.user.id,
            "actor_name": principal.user.nickname,
        },
    )


async def update_user(
    db: AsyncSession, principal: Principal, user: User, body: UserPatch, ip: str
) -> User:
    tid = principal.tenant_id
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    new_role: Role | None = None
    if body.role_id is not None and body.role_id != user.role_id:
        new_role = await _role_in_tenant(db, tid, body.role_id)
    if "team_id" in changes and body.team_id is not None:
        await _team_in_tenant(db, tid, body.team_id)
    if body.max_concurrent is not None:
        _check_ceiling(principal.tenant, body.max_concurrent)
    if "employee_number" in changes:
        changes["employee_number"] = body.employee_number or None
    await _unique_checks(
        db,
        tid,
        email=body.email,
        employee_number=changes.get("employee_number"),
        exclude_id=user.id,
    )
    will_enable = changes.get("enabled", user.enabled)
    if user.id == principal.user.id and will_enable is False:
        raise ApiError("cannot_disable_self")
    will_be_admin = new_role.builtin == "admin" if new_role else None
    if new_role is not None or will_enable is False:
        current = await db.get(Role, user.role_id)
        admin_after = (
            will_be_admin
            if will_be_admin is not None
            else (current is not None and current.builtin == "admin")
        )
        await _guard_admin_removal(db, user, bool(admin_after), bool(will_enable))
    if will_enable and not user.enabled:
        await _ensure_seat(db, tid)
    old_role = await db.get(Role, user.role_id) if new_role is not None else None
    old_max_concurrent = user.max_concurrent
    for field in (
        "email",
        "nickname",
        "real_name",
        "employee_number",
        "mobile",
        "agent_type",
        "team_id",
        "enabled",
        "max_concurrent",
    ):
        if field in changes:
            setattr(user, field, changes[field])
    if body.password is not None:
        user.password_hash = hash_password(body.password)
    if new_role is not None:
        user.role_id = new_role.id
        emit(
            db,
            UserRoleChanged(
                tenant_id=tid,
                user_id=user.id,
                actor_id=principal.user.id,
                old_role=old_role.name if old_role else "",
                new_role=new_role.name,
            ),
        )
    user.updated_at = clock.now()
    await _notify_max_concurrent(db, principal, user, old_max_concurrent)
    if new_role is not None and user.id != principal.user.id:
        await notify(
            db,
            tenant_id=tid,
            user_id=user.id,
            kind="permissions_changed",
            data={
                "change": "role_assigned",
                "role_name": new_role.name,
                "old_role_name": old_role.name if old_role else "",
                "actor_id": principal.user.id,
                "actor_name": principal.user.nickname,
            },
        )
    if body.password is not None or will_enable is False:
        await revoke_sessions(db, user)
    if changes:
        emit(
            db,
            UserUpdated(
                tenant_id=tid,
                user_id=user.id,
                actor_id=principal.user.id,
                fields=sorted(k for k in changes if k != "password"),
            ),
        )
    record(
        db,
        principal,
        tenant_id=tid,
        action="user.update",
        target_type="user",
        target_id=user.id,
        detail=changes,
        ip=ip,
    )
    return user


async def delete_user(db: AsyncSession, principal: Principal, user: User, ip: str) -> None:
    if user.id == principal.user.id:
        raise ApiError("cannot_delete_self")
    await _guard_admin_removal(db, user, will_be_admin=False, will_be_enabled=False)
    await revoke_sessions(db, user)
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="user.delete",
        target_type="user",
        target_id=user.id,
        detail={"email": user.email, "nickname": user.nickname},
        ip=ip,
    )
    await db.delete(user)


def can_set_own_max_concurrent(principal: Principal) -> bool:
    return bool((principal.tenant.switches or {}).get("agent_custom_max_concurrent", False))


async def update_me(db: AsyncSession, principal: Principal, body: MePatch) -> User:
    user = principal.user
    changes = body.model_dump(exclude_unset=True)
    if "max_concurrent" in changes:
        if (
            not can_set_own_max_concurrent(principal)
            and changes["max_concurrent"] != user.max_concurrent
        ):
            raise ApiError("max_concurrent_locked")
        _check_ceiling(principal.tenant, changes["max_concurrent"])
    if "employee_number" in changes:
        changes["employee_number"] = body.employee_number or None
        await _unique_checks(
            db,
            principal.tenant_id,
            email=None,
            employee_number=changes["employee_number"],
            exclude_id=user.id,
        )
    for field, value in changes.items():
        if value is not None or field == "employee_number":
            setattr(user, field, value)
    user.updated_at = clock.now()
    return user
