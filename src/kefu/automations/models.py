"""Automations (§6, §7): the tenant's greeting texts and timer settings, each conversation's
automation progress, and the minimal alert records the timers write. Leave messages live in
`kefu.leave_messages` (re-exported here for older imports)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, BigId, IdMixin, UTCDateTime
from kefu.leave_messages.models import LeaveMessage  # noqa: F401  (moved to its own domain)


class AutomationSettings(IdMixin, Base):
    """One row per tenant, written on the first save (reads fall back to the defaults)."""

    __tablename__ = "automation_settings"

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), unique=True
    )
    welcome_text: Mapped[str] = mapped_column(Text, default="")
    greeting_text: Mapped[str] = mapped_column(Text, default="")
    end_message: Mapped[str] = mapped_column(Text, default="")
    dispatcher_nickname: Mapped[str] = mapped_column(String(20), default="调度员")
    salutation: Mapped[str] = mapped_column(String(20), default="亲")
    # The five timers, each an object of `schemas.TIMER_MODELS` (missing keys = defaults).
    timers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AutomationState(IdMixin, Base):
    """Where a conversation stands in its countdowns (the deadlines are `timers` rows)."""

    __tablename__ = "automation_states"

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("conversations.id", ondelete="CASCADE"), unique=True
    )
    visitor_prompts: Mapped[int] = mapped_column(default=0)
    waiting_reminders: Mapped[int] = mapped_column(default=0)
    # "Remind to keep waiting" asked and not yet answered.
    waiting_asked: Mapped[bool] = mapped_column(default=False)
    # The holding agent let the visitor's message go unanswered past the timeout (§7).
    agent_overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AlertRecord(IdMixin, Base):
    """An alert about agent behaviour (minimal; the §18 page comes later)."""

    __tablename__ = "alert_records"

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("conversations.id", ondelete="SET NULL"), nullable=True, index=True
    )
    agent_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    level: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
