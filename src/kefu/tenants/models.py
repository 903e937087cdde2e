"""Tenants: one customer organisation, its enterprise info, seats and system switches."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, IdMixin, UTCDateTime


class Tenant(IdMixin, Base):
    __tablename__ = "tenants"

    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(40), default="")
    address: Mapped[str] = mapped_column(String(200), default="")
    remark: Mapped[str] = mapped_column(Text, default="")
    logo_path: Mapped[str | None] = mapped_column(String(300), nullable=True)
    seats: Mapped[int] = mapped_column(default=5)
    # Ceiling of an agent's max concurrent: 100 by default, 200 when the tenant raised it.
    max_concurrent_ceiling: Mapped[int] = mapped_column(default=100)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    time_zone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    switches: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
