"""Leave messages (SPEC §11.1): what a visitor leaves instead of waiting or off hours, its
per-tenant number, handling status, assignee and the staff comments thread."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, BigId, IdMixin, UTCDateTime

STATUSES = ("unhandled", "in_progress", "resolved")
# Where the visitor left it: the waiting-state button, the waiting reminder's button, the
# off-hours form.
ORIGINS = ("waiting", "reminder", "off_hours")


class LeaveMessage(IdMixin, Base):
    __tablename__ = "leave_messages"
    __table_args__ = (
        Index("uq_leave_messages_tenant_number", "tenant_id", "number", unique=True),
        Index("ix_leave_messages_tenant_status", "tenant_id", "status", "assignee_id"),
    )

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    # 编号: 1, 2, 3 ... within the tenant, shown as "#1024".
    number: Mapped[int] = mapped_column(default=0)
    conversation_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("conversations.id", ondelete="SET NULL"), nullable=True, index=True
    )
    visitor_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("visitors.id", ondelete="SET NULL"), nullable=True
    )
    widget_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("widgets.id", ondelete="SET NULL"), nullable=True
    )
    association_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("associations.id", ondelete="SET NULL"), nullable=True
    )
    channel: Mapped[str] = mapped_column(String(20), default="web")
    origin: Mapped[str] = mapped_column(String(20), default="reminder")
    subject: Mapped[str] = mapped_column(String(100), default="")
    name: Mapped[str] = mapped_column(String(50), default="")
    phone: Mapped[str] = mapped_column(String(30), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    content: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(12), default="unhandled")
    assignee_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LeaveMessageComment(IdMixin, Base):
    """A staff comment; web visitors never see comments (staff reply by phone or email)."""

    __tablename__ = "leave_message_comments"

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    leave_message_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("leave_messages.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    # The author's nickname when they wrote it (kept if the account goes).
    author_name: Mapped[str] = mapped_column(String(50), default="")
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
