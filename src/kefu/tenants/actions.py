"""Provisioning a tenant the way a marketplace purchase does (SPEC §1.1)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import User
from kefu.audit.actions import record
from kefu.core import clock
from kefu.core.errors import ApiError
from kefu.core.security import generate_password, hash_password
from kefu.roles.catalogue import ADMIN_ROLE_SCOPES, AGENT_ROLE_SCOPES
from kefu.roles.models import Role
from kefu.routing.membership import ensure_ungrouped
from kefu.routing.time_plans import default_plan
from kefu.teams.models import Team
from kefu.tenants.models import Tenant

DEFAULT_SWITCHES: dict[str, bool] = {
    "agent_custom_max_concurrent": False,
    "status_change_approval": False,
    "manual_pickup": True,
    "waiting_detail": False,
    "dispatch_only_in_hours": False,
    "returning_customer_first": False,
    "transfer_confirmation": False,
    "precise_group_stats": False,
    "no_greeting_on_transfer": False,
    "welcome_menu": False,
    "session_tag_required": False,
    "blacklist_approval": False,
    "csat_one_side_no_invite": False,
    "csat_first_rating_only": False,
    "csat_no_invite_on_auto_end": False,
    "csat_shared": True,
    "csat_reverse_menu": False,
    "customer_center_for_agents": False,
}


@dataclass
class Provisioned:
    tenant: Tenant
    admin: User
    password: str


async def provision_tenant(
    db: AsyncSession,
    *,
    name: str,
    admin_email: str,
    seats: int,
    expires_at: datetime | None = None,
    time_zone: str = "Asia/Shanghai",
    admin_nickname: str | None = None,
) -> Provisioned:
    """Create the tenant with its built-in roles, the Headquarters team and the first admin."""
    if await db.scalar(select(func.count()).select_from(User).where(User.email == admin_email)):
        raise ApiError("email_taken")
    now = clock.now()
    tenant = Tenant(
        name=name,
        seats=seats,
        expires_at=expires_at,
        time_zone=time_zone,
        switches=dict(DEFAULT_SWITCHES),
        created_at=now,
    )
    db.add(tenant)
    await db.flush()
    admin_role = Role(
        tenant_id=tenant.id,
        name="管理员",
        builtin="admin",
        pages=[],
        data_scopes=dict(ADMIN_ROLE_SCOPES),
        created_at=now,
        updated_at=now,
    )
    agent_role = Role(
        tenant_id=tenant.id,
        name="客服",
        builtin="agent",
        pages=[],
        data_scopes=dict(AGENT_ROLE_SCOPES),
        created_at=now,
        updated_at=now,
    )
    root = Team(tenant_id=tenant.id, parent_id=None, name="总部", is_root=True, created_at=now)
    db.add_all([admin_role, agent_role, root])
    await db.flush()
    password = generate_password()
    admin = User(
        tenant_id=tenant.id,
        email=admin_email,
        password_hash=hash_password(password),
        nickname=admin_nickname or admin_email.split("@")[0][:30],
        role_id=admin_role.id,
        team_id=root.id,
        agent_type="omni",
        enabled=True,
        created_at=now,
        updated_at=now,
    )
    db.add(admin)
    await db.flush()
    record(
        db,
        None,
        tenant_id=tenant.id,
        action="tenant.provision",
        target_type="tenant",
        target_id=tenant.id,
        detail={"name": name, "seats": seats, "admin_email": admin_email},
    )
    # The system default time plan and the Ungrouped group always exist (§5.1, §5.2); making
    # them here keeps read-only requests from having to create them later.
    await default_plan(db, tenant.id)
    await ensure_ungrouped(db, tenant.id)
    return Provisioned(tenant=tenant, admin=admin, password=password)
