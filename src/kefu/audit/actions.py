"""Recording admin changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.audit.models import AuditLog
from kefu.core import clock

if TYPE_CHECKING:
    from kefu.access.principal import Principal

# Never copied into the log, whatever the caller passes.
_SECRET_FIELDS = frozenset({"password", "new_password", "old_password", "totp_secret", "token"})


def record(
    db: AsyncSession,
    principal: Principal | None,
    *,
    tenant_id: int,
    action: str,
    target_type: str,
    target_id: object = "",
    detail: dict[str, Any] | None = None,
    ip: str = "",
) -> None:
    """Add an audit row to the current unit of work (it commits with the change it describes)."""
    clean = {k: v for k, v in (detail or {}).items() if k not in _SECRET_FIELDS}
    db.add(
        AuditLog(
            tenant_id=tenant_id,
            actor_user_id=principal.user.id if principal else None,
            actor_name=(principal.user.nickname if principal else "platform"),
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            detail=clean,
            ip=ip,
            created_at=clock.now(),
        )
    )
