"""Canned replies (§8.1).

One table holds both sets: `owner_id` NULL is a public (company) category or reply, otherwise
the agent's own. Public categories have two levels (`parent_id`); a personal set has one implicit
first level, so every personal category is a second-level one (no parent) and a personal reply
without a category sits directly in that first level.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, BigId, IdMixin, UTCDateTime


class CannedCategory(IdMixin, Base):
    __tablename__ = "canned_categories"
    __table_args__ = (Index("ix_canned_categories_set", "tenant_id", "owner_id"),)

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    owner_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("canned_categories.id", ondelete="CASCADE"), nullable=True
    )
    name: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CannedReply(IdMixin, Base):
    __tablename__ = "canned_replies"
    __table_args__ = (Index("ix_canned_replies_set", "tenant_id", "owner_id"),)

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    owner_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=True
    )
    # Public replies always have one; a personal reply may sit in the implicit first level.
    category_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("canned_categories.id", ondelete="CASCADE"), nullable=True, index=True
    )
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CannedMark(IdMixin, Base):
    """One agent's use of one reply: how often they used it and whether they pinned it."""

    __tablename__ = "canned_marks"
    __table_args__ = (UniqueConstraint("user_id", "reply_id", name="uq_canned_marks_user_reply"),)

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    reply_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("canned_replies.id", ondelete="CASCADE"), index=True
    )
    use_count: Mapped[int] = mapped_column(default=0)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    pinned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CannedPrefs(IdMixin, Base):
    """An agent's remembered sort of the canned lists: "smart" (usage) or "updated"."""

    __tablename__ = "canned_prefs"
    __table_args__ = (UniqueConstraint("user_id", name="uq_canned_prefs_user"),)

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    sort: Mapped[str] = mapped_column(String(10), default="smart")


class CannedSubmission(IdMixin, Base):
    """An agent's personal reply offered to the public set; an admin accepts or rejects it."""

    __tablename__ = "canned_submissions"
    __table_args__ = (Index("ix_canned_submissions_state", "tenant_id", "state", "id"),)

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    requester_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    # The personal reply it came from (gone if the agent deleted it meanwhile).
    source_reply_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("canned_replies.id", ondelete="SET NULL"), nullable=True
    )
    # The public category chosen; NULL once an admin deleted it (accepting then needs another).
    category_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("canned_categories.id", ondelete="SET NULL"), nullable=True
    )
    text: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(200))
    # pending | accepted | rejected
    state: Mapped[str] = mapped_column(String(10))
    comment: Mapped[str] = mapped_column(String(200), default="")
    decided_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The public reply an acceptance created.
    public_reply_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("canned_replies.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
