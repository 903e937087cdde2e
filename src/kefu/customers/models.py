"""Customer-center settings: profile field layout (§12.2) and automatic groups (§12.3).

Customer data itself lives on the visitor (`kefu.visitors.models.Visitor`); an automatic group
is a saved filter evaluated when it is read, so membership is always current.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, BigId, IdMixin, UTCDateTime


class CustomerField(IdMixin, Base):
    """One row of a tenant's profile layout: a system field's settings (`system_key` set) or an
    admin-defined custom field (`system_key` None). System fields without a row use defaults."""

    __tablename__ = "customer_fields"
    __table_args__ = (Index("ix_customer_fields_tenant_position", "tenant_id", "position"),)

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    system_key: Mapped[str | None] = mapped_column(String(20), nullable=True)
    name: Mapped[str] = mapped_column(String(20), default="")
    # text | multiline | number | date | select (custom fields; system fields are text)
    type: Mapped[str] = mapped_column(String(10), default="text")
    options: Mapped[list[str]] = mapped_column(JSON, default=list)
    agent_visible: Mapped[bool] = mapped_column(default=True)
    readonly: Mapped[bool] = mapped_column(default=False)
    shown: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CustomerGroup(IdMixin, Base):
    """An automatic customer group (§12.3): name, agent-visible flag, all/any and filter items."""

    __tablename__ = "customer_groups"

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(20))
    agent_visible: Mapped[bool] = mapped_column(default=True)
    # all | any
    match: Mapped[str] = mapped_column(String(3), default="all")
    # [{"kind": "created_within_days", "days": 3}, {"kind": "tag", "tag_id": 5}, ...]
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
