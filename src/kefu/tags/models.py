"""Visitor (customer) tags (§9.2): definitions and which visitors carry them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, BigId, IdMixin, UTCDateTime


class VisitorTag(IdMixin, Base):
    __tablename__ = "visitor_tags"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_visitor_tags_name"),)

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(20))
    color: Mapped[str] = mapped_column(String(7), default="#409eff")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class VisitorTagLink(IdMixin, Base):
    __tablename__ = "visitor_tag_links"
    __table_args__ = (UniqueConstraint("visitor_id", "tag_id", name="uq_visitor_tag_links"),)

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    visitor_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("visitors.id", ondelete="CASCADE"), index=True
    )
    tag_id: Mapped[int] = mapped_column(BigId, ForeignKey("visitor_tags.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
