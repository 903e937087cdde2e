"""Blacklist entries (§3.9) and the messages blacklisted visitors sent meanwhile."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, BigId, IdMixin, UTCDateTime


class BlacklistEntry(IdMixin, Base):
    """One blacklisting of a visitor, from request to removal.

    state: pending (an agent's request waiting for an admin, `blacklist_approval` on) |
    active (in effect) | rejected | removed. A visitor has at most one pending or active entry.
    """

    __tablename__ = "blacklist_entries"
    __table_args__ = (
        Index(
            "uq_blacklist_entries_live_visitor",
            "tenant_id",
            "visitor_id",
            unique=True,
            sqlite_where=text("state IN ('pending', 'active')"),
            postgresql_where=text("state IN ('pending', 'active')"),
        ),
        Index("ix_blacklist_entries_tenant_state", "tenant_id", "state", "id"),
    )

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    visitor_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("visitors.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(10))
    # The conversation it was added from, if any (ongoing or history detail).
    conversation_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("conversations.id", ondelete="SET NULL"), nullable=True, index=True
    )
    requested_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    comment: Mapped[str] = mapped_column(String(200), default="")
    removed_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class BlockedMessage(IdMixin, Base):
    """A message a blacklisted visitor sent: accepted, kept for audit, opening nothing."""

    __tablename__ = "blacklist_messages"
    __table_args__ = (
        Index(
            "uq_blacklist_messages_client_id",
            "tenant_id",
            "visitor_id",
            "client_msg_id",
            unique=True,
        ),
    )

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    visitor_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("visitors.id", ondelete="CASCADE"), index=True
    )
    entry_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("blacklist_entries.id", ondelete="SET NULL"), nullable=True
    )
    client_msg_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(10))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_digest: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
