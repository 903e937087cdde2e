"""Web widgets (embeddable chat windows) and app associations (关联) of a tenant."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, BigId, IdMixin, UTCDateTime


class Association(IdMixin, Base):
    """A named channel entry (a website, an app) that conversations are attributed to."""

    __tablename__ = "associations"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_associations_tenant_name"),)

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(50))
    channel: Mapped[str] = mapped_column(String(10), default="web")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Widget(IdMixin, Base):
    """One web chat window configuration; embedded by its public key."""

    __tablename__ = "widgets"

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(50), default="")
    theme_color: Mapped[str] = mapped_column(String(7), default="#1f6feb")
    show_logo: Mapped[bool] = mapped_column(default=True)
    show_name: Mapped[bool] = mapped_column(default=True)
    show_agent_nickname: Mapped[bool] = mapped_column(default=True)
    language: Mapped[str] = mapped_column(String(10), default="auto")
    welcome_text: Mapped[str] = mapped_column(Text, default="")
    # Comma-separated origins allowed to open visitor sockets; empty = any site.
    allowed_origins: Mapped[str] = mapped_column(Text, default="")
    association_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("associations.id", ondelete="SET NULL"), nullable=True, index=True
    )
    # HMAC key for signed visitor identities; shown once when created or rotated.
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
