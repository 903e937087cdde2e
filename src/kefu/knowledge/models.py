"""Knowledge base (§8.2): a category tree, rich items with attachments, send modes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, BigId, IdMixin, UTCDateTime


class KnowledgeCategory(IdMixin, Base):
    __tablename__ = "knowledge_categories"
    __table_args__ = (Index("ix_knowledge_categories_parent", "tenant_id", "parent_id"),)

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    # Root categories have no parent; the tree is at most MAX_DEPTH levels deep.
    parent_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("knowledge_categories.id", ondelete="CASCADE"), nullable=True
    )
    name: Mapped[str] = mapped_column(String(30))
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class KnowledgeItem(IdMixin, Base):
    __tablename__ = "knowledge_items"
    __table_args__ = (Index("ix_knowledge_items_category", "tenant_id", "category_id"),)

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    category_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("knowledge_categories.id", ondelete="CASCADE")
    )
    title: Mapped[str] = mapped_column(String(20))
    # Sanitised HTML (server-side allow-list) and its plain-text rendering (search, text sends).
    content_html: Mapped[str] = mapped_column(Text, default="")
    content_text: Mapped[str] = mapped_column(Text, default="")
    # Knowledge-owned attachments (uploader_type "knowledge"): sent as separate file messages;
    # content images are tracked so their bytes go with the item.
    attachment_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    image_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # The visitor-readable page /kb/<share_token>: unguessable, stable while the item lives.
    share_token: Mapped[str] = mapped_column(String(40), unique=True)
    author_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    author_name: Mapped[str] = mapped_column(String(50), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class KnowledgeSettings(Base):
    """Per-tenant send mode by channel: "card" (rich link) or "text"."""

    __tablename__ = "knowledge_settings"

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    send_modes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
