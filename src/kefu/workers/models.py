"""Durable timers: a deadline is a row, so it survives restarts and runs once across nodes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, BigId, IdMixin, UTCDateTime


class Timer(IdMixin, Base):
    __tablename__ = "timers"
    __table_args__ = (Index("ix_timers_kind_subject", "kind", "subject_id"),)

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    # What happens when it is due (a handler registered with @timer_handler) and to what.
    kind: Mapped[str] = mapped_column(String(50))
    subject_id: Mapped[int] = mapped_column(BigId)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
