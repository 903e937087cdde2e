"""Turning users into response bodies."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.accounts.actions import can_set_own_max_concurrent
from kefu.accounts.models import User
from kefu.accounts.schemas import MeOut, RoleRef, TenantRef, UserOut
from kefu.presence.actions import status_of, statuses
from kefu.roles.models import Role


def avatar_url(user: User) -> str:
    # The version suffix lets browsers cache avatars yet see a new upload at once.
    version = user.avatar_path.rsplit("/", 1)[-1].split(".")[0] if user.avatar_path else "default"
    return f"/api/v1/users/{user.id}/avatar?v={version}"


async def me_out(db: AsyncSession, principal: Principal) -> MeOut:
    user, role = principal.user, principal.role
    status = await status_of(db, tenant_id=principal.tenant_id, user_id=user.id)
    return MeOut(
        id=user.id,
        email=user.email,
        nickname=user.nickname,
        real_name=user.real_name,
        employee_number=user.employee_number,
        mobile=user.mobile,
        avatar_url=avatar_url(user),
        agent_type=user.agent_type,
        role=RoleRef(id=role.id, name=role.display_name, builtin=role.builtin),
        team_id=user.team_id,
        max_concurrent=user.max_concurrent,
        max_concurrent_ceiling=principal.tenant.max_concurrent_ceiling,
        can_set_max_concurrent=can_set_own_max_concurrent(principal),
        language=user.language,
        greeting_text=user.greeting_text,
        greeting_enabled=user.greeting_enabled,
        mfa_enabled=user.totp_enabled,
        mfa_required=role.require_mfa,
        pages=sorted(principal.pages),
        modes=principal.modes,
        data_scopes=principal.data_scopes,
        relogin_required=principal.session.role_id_at_login != role.id,
        tenant=TenantRef(id=principal.tenant.id, name=principal.tenant.name),
        status=status,
    )


async def users_out(db: AsyncSession, users: list[User]) -> list[UserOut]:
    roles = {r.id: r for r in [await db.get(Role, rid) for rid in {u.role_id for u in users}] if r}
    status: dict[int, str] = {}
    for tid in {u.tenant_id for u in users}:
        ids = [u.id for u in users if u.tenant_id == tid]
        status.update(await statuses(db, tenant_id=tid, user_ids=ids))
    out = []
    for u in users:
        role = roles.get(u.role_id)
        out.append(
            UserOut(
                id=u.id,
                email=u.email,
                nickname=u.nickname,
                real_name=u.real_name,
                employee_number=u.employee_number,
                mobile=u.mobile,
                avatar_url=avatar_url(u),
                agent_type=u.agent_type,
                role_id=u.role_id,
                role_name=role.display_name if role else "",
                role_builtin=role.builtin if role else None,
                team_id=u.team_id,
                enabled=u.enabled,
                max_concurrent=u.max_concurrent,
                language=u.language,
                mfa_enabled=u.totp_enabled,
                created_at=u.created_at,
                status=status[u.id],
            )
        )
    return out
