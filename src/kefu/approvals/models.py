"""Approval requests (§15.4): what an agent asked for, why, and the admin's decision."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, BigId, IdMixin, UTCDateTime


class ApprovalRequest(IdMixin, Base):
    __tablename__ = "approval_requests"
    __table_args__ = (
        Index("ix_approval_requests_tenant_state", "tenant_id", "state", "id"),
        Index("ix_approval_requests_requester", "requester_id", "kind", "state"),
    )

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    # "status_change" for now; canned replies and blacklist additions come with their issues.
    kind: Mapped[str] = mapped_column(String(30))
    requester_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    # By kind; status_change: {"from": <status>, "to": <status>}.
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(String(200))
    # pending | approved | rejected | cancelled (replaced by a newer request of the requester's)
    state: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str] = mapped_column(String(200), default="")
    decided_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
