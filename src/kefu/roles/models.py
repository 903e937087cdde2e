"""Roles: built-in Admin and Agent, and custom roles with page permissions and data scopes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, BigId, IdMixin, UTCDateTime


class Role(IdMixin, Base):
    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_roles_tenant_name"),)

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(30))
    # "admin" and "agent" for the built-in roles, None for custom roles.
    builtin: Mapped[str | None] = mapped_column(String(20), nullable=True)
    pages: Mapped[list[str]] = mapped_column(JSON, default=list)
    data_scopes: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    require_mfa: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    @property
    def display_name(self) -> str:
        """Built-in roles are named in the reader's language; custom roles as their admin wrote."""
        from kefu.core.i18n import pick

        if self.builtin == "admin":
            return pick("管理员", "Administrator")
        if self.builtin == "agent":
            return pick("客服", "Agent")
        return self.name
