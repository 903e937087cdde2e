"""Satisfaction (CSAT, §10.1): tenant settings, one rating record per conversation, and the
per-agent attribution reports read (docs/satisfaction.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, BigId, IdMixin, UTCDateTime


class CsatSettings(IdMixin, Base):
    """A tenant's invitation settings; no row = the defaults (csat.schemas.DEFAULTS)."""

    __tablename__ = "csat_settings"

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), unique=True
    )
    # Per channel: {"web": {"enabled": bool, "robot_only": bool}}.
    auto_invite: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    invite_text: Mapped[str] = mapped_column(String(200), default="")
    # Five entries, score 1..5: {"score": n, "text": str, "tags": [str, ...]}.
    stars: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CsatRating(IdMixin, Base):
    """The satisfaction record of one conversation: its invitation and the rating that counts.

    Created by the first invitation or the first rating; `score` is None while invited only.
    """

    __tablename__ = "csat_ratings"
    __table_args__ = (
        UniqueConstraint("conversation_id", name="uq_csat_ratings_conversation"),
        Index("ix_csat_ratings_tenant_rated", "tenant_id", "rated_at"),
    )

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    visitor_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("visitors.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(10), default="web")
    # agent | auto (at end); None = never invited (a spontaneous rating).
    invited_by: Mapped[str | None] = mapped_column(String(10), nullable=True)
    inviter_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    invited_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    invite_message_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    score: Mapped[int | None] = mapped_column(nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    comment: Mapped[str] = mapped_column(String(200), default="")
    # When the counted rating was given; first_rated_at: the visitor's first rating.
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    first_rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    rating_count: Mapped[int] = mapped_column(default=0)


class CsatAttribution(IdMixin, Base):
    """Which agents a conversation's counted rating belongs to (switch csat_shared)."""

    __tablename__ = "csat_attributions"
    __table_args__ = (
        UniqueConstraint("conversation_id", "agent_id", name="uq_csat_attributions_agent"),
        Index("ix_csat_attributions_agent_rated", "tenant_id", "agent_id", "rated_at"),
    )

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    rating_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("csat_ratings.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    agent_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    score: Mapped[int]
    rated_at: Mapped[datetime] = mapped_column(UTCDateTime)


# The conversation hooks (auto invitation at end, attribution on transfer) register on import.
import kefu.csat.listeners  # noqa: E402,F401
