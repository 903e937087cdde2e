"""One presence row per user; a user without a row is offline."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, BigId, IdMixin, UTCDateTime


class Presence(Base):
    __tablename__ = "presence"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(10), default="offline")
    # The state the next socket brings the user back to: set by sign-in (idle or invisible)
    # and by going offline (the state chosen before).
    resume_status: Mapped[str] = mapped_column(String(10), default="idle")
    # Open WebSockets over all nodes; offline is scheduled when it drops to 0.
    sockets: Mapped[int] = mapped_column(default=0)
    last_socket_closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PresenceInterval(IdMixin, Base):
    """A span a user spent in one online state; the open one has no end (§2, §16.5)."""

    __tablename__ = "presence_intervals"
    __table_args__ = (Index("ix_presence_intervals_user_started", "user_id", "started_at"),)

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(10))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ClusterNode(Base):
    """A running server process (node); a node silent past the dead time is reaped (issue 7)."""

    __tablename__ = "cluster_nodes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class PresenceSocket(Base):
    """Open staff sockets of a user on one node; `Presence.sockets` is their sum."""

    __tablename__ = "presence_sockets"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    node_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    tenant_id: Mapped[int] = mapped_column(BigId, ForeignKey("tenants.id", ondelete="CASCADE"))
    sockets: Mapped[int] = mapped_column(default=0)
