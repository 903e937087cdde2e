"""Session tags (§9.1): a per-tenant tree of tags and the tags applied to conversations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, BigId, IdMixin, UTCDateTime


class SessionTag(IdMixin, Base):
    """One node of the tenant's session-tag tree (up to 10 levels).

    Deleting a tag is soft (`deleted_at`): it leaves the tree and the pickers, but conversations
    that carry it keep showing it (history, statistics)."""

    __tablename__ = "session_tags"
    __table_args__ = (Index("ix_session_tags_tree", "tenant_id", "parent_id", "position"),)

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("session_tags.id", ondelete="CASCADE"), nullable=True
    )
    name: Mapped[str] = mapped_column(String(30))
    color: Mapped[str | None] = mapped_column(String(7), nullable=True)
    # Order among siblings (0 first).
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ConversationTag(IdMixin, Base):
    """A session tag applied to a conversation, and who applied it (suggestions count these)."""

    __tablename__ = "conversation_session_tags"
    __table_args__ = (
        UniqueConstraint("conversation_id", "tag_id", name="uq_conversation_session_tags"),
        Index("ix_conversation_session_tags_actor", "tenant_id", "actor_id"),
        Index("ix_conversation_session_tags_tag", "tag_id"),
    )

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    tag_id: Mapped[int] = mapped_column(BigId, ForeignKey("session_tags.id", ondelete="CASCADE"))
    # None: the system applied it (default tag of an automatic end, §7).
    actor_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConversationTagNote(IdMixin, Base):
    """The remark that goes with a conversation's session tags, and who saved them last."""

    __tablename__ = "conversation_tag_notes"
    __table_args__ = (
        UniqueConstraint("conversation_id", name="uq_conversation_tag_notes_conversation"),
    )

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    remark: Mapped[str] = mapped_column(String(200), default="")
    updated_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


# The forced-tag hook registers with the conversation hooks when the models load.
import kefu.session_tags.hooks  # noqa: E402,F401
