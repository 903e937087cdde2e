"""Conversations, their per-agent participation segments, event log and messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, BigId, IdMixin, UTCDateTime


class Conversation(IdMixin, Base):
    __tablename__ = "conversations"
    __table_args__ = (
        # A visitor has at most one open (waiting or ongoing) conversation.
        Index(
            "uq_conversations_open_visitor",
            "visitor_id",
            unique=True,
            sqlite_where=text("state != 'ended'"),
            postgresql_where=text("state != 'ended'"),
        ),
        Index("ix_conversations_tenant_state", "tenant_id", "state", "agent_id"),
        # The waiting queue in dispatch order (§3.3, §5.6).
        Index(
            "ix_conversations_queue",
            "tenant_id",
            "state",
            "skill_group_id",
            "priority_rank",
            "queued_at",
        ),
        # Waiting conversations targeted at an agent, read apart from the groups' queue.
        Index(
            "ix_conversations_targeted",
            "tenant_id",
            "state",
            "target_agent_id",
            sqlite_where=text("target_agent_id IS NOT NULL"),
            postgresql_where=text("target_agent_id IS NOT NULL"),
        ),
    )

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    visitor_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("visitors.id", ondelete="CASCADE"), index=True
    )
    widget_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("widgets.id", ondelete="SET NULL"), nullable=True
    )
    association_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("associations.id", ondelete="SET NULL"), nullable=True
    )
    # The skill group it is routed to; None = the Ungrouped pool (deleting a group moves its
    # conversations there, §5.2).
    skill_group_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    # A customer-info rule naming an agent (§5.3): only that agent is dispatched to.
    target_agent_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    # Which rule routed it: default | customer | channel | association | entry | menu | transfer
    routed_by: Mapped[str] = mapped_column(String(20), default="default")
    # Queue order (§3.3, §5.6): 0 for VIP visitors, 1..10 for customer levels, 11 for the rest.
    priority_rank: Mapped[int] = mapped_column(default=11)
    # The agent who transferred it into its group's queue: not dispatched back to them.
    transferred_from_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    # WeCom broadcast mode (§5.12 b): every member of the group sees and may answer it.
    broadcast: Mapped[bool] = mapped_column(default=False)
    channel: Mapped[str] = mapped_column(String(10), default="web")
    state: Mapped[str] = mapped_column(String(10), default="waiting")
    agent_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    # Latest event sequence number; every event takes last_seq + 1 under the row lock.
    last_seq: Mapped[int] = mapped_column(default=0)
    agent_read_seq: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_by: Mapped[str | None] = mapped_column(String(10), nullable=True)
    end_actor_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    # Set for automatic ends: visitor_timeout | inactive | waiting_timeout | blacklist |
    # leave_message (see conversations.hooks.Ending).
    end_reason: Mapped[str | None] = mapped_column(String(20), nullable=True)
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_message_preview: Mapped[str] = mapped_column(String(100), default="")
    last_message_sender: Mapped[str | None] = mapped_column(String(10), nullable=True)
    last_message_kind: Mapped[str | None] = mapped_column(String(10), nullable=True)
    last_visitor_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Entry parameters from the widget (skill group, association, custom fields).
    entry: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The visitor's web info when the conversation started (§3.10).
    web_info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AgentLoad(Base):
    """How many ongoing conversations an agent serves now: kept by database triggers on
    `conversations` (migration 0026), in the same statement as the change, on every path that
    assigns, transfers, ends or deletes one. Kefu only reads it.

    A dispatch pass asks it of every idle agent: counting their ongoing conversations instead
    was a read of the tenant's whole ongoing set (4 ms on PostgreSQL at 10,000, for one freed
    slot). An agent who never served has no row (0)."""

    __tablename__ = "agent_loads"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    ongoing: Mapped[int] = mapped_column(default=0, server_default=text("0"))


class Segment(IdMixin, Base):
    """One agent's participation in a conversation, from acceptance to transfer-out or end."""

    __tablename__ = "conversation_segments"
    __table_args__ = (
        Index("ix_segments_agent_started", "agent_id", "started_at"),
        # The dispatch snapshot's "accepted today" per agent: today's range, index only.
        Index(
            "ix_segments_tenant_started", "tenant_id", "started_at", "agent_id", "conversation_id"
        ),
    )

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    # assigned (auto-dispatch) | picked (manual pickup) | transferred_in | callback | reassigned
    start_reason: Mapped[str] = mapped_column(String(20))
    # The skill group the agent served it in (group statistics, §3.5).
    skill_group_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    agent_messages: Mapped[int] = mapped_column(default=0)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # ended | transferred_out
    end_reason: Mapped[str | None] = mapped_column(String(20), nullable=True)


class Message(IdMixin, Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq", name="uq_messages_conversation_seq"),
        # Idempotent sends: one message per sender and client message id.
        Index(
            "uq_messages_client_id",
            "tenant_id",
            "sender_type",
            "sender_id",
            "client_msg_id",
            unique=True,
            sqlite_where=text("client_msg_id IS NOT NULL"),
            postgresql_where=text("client_msg_id IS NOT NULL"),
        ),
        # Search's time window (§13.1: the last 30 days by default) within a tenant.
        Index("ix_messages_tenant_created", "tenant_id", "created_at"),
        # A purged conversation's segments set their messages' segment_id to NULL: without
        # this, each segment scanned the whole table (migration 0029). Agents' messages only.
        Index(
            "ix_messages_segment_id",
            "segment_id",
            sqlite_where=text("segment_id IS NOT NULL"),
            postgresql_where=text("segment_id IS NOT NULL"),
        ),
    )

    # No index of their own (migration 0028): a tenant's messages are found through
    # ix_messages_tenant_created, a conversation's through uq_messages_conversation_seq, and
    # every index costs each stored message.
    tenant_id: Mapped[int] = mapped_column(BigId, ForeignKey("tenants.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    seq: Mapped[int]
    sender_type: Mapped[str] = mapped_column(String(10))  # visitor | agent | system
    sender_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    sender_name: Mapped[str] = mapped_column(String(50), default="")
    kind: Mapped[str] = mapped_column(String(10))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    whisper: Mapped[bool] = mapped_column(default=False)
    client_msg_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Digest of kind + body, to tell a retry from a different message reusing an id.
    content_digest: Mapped[str] = mapped_column(String(64), default="")
    # The agent segment the message belongs to (statistics: first response, counts).
    segment_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("conversation_segments.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recalled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ConversationEvent(IdMixin, Base):
    """The ordered log clients resume from: one row per sequence number."""

    __tablename__ = "conversation_events"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq", name="uq_conversation_events_seq"),
        # Each message a purge deletes cascades to its events: without this, each one scanned
        # the whole table (migration 0029).
        Index(
            "ix_conversation_events_message_id",
            "message_id",
            sqlite_where=text("message_id IS NOT NULL"),
            postgresql_where=text("message_id IS NOT NULL"),
        ),
    )

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    seq: Mapped[int]
    name: Mapped[str] = mapped_column(String(40))
    message_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("messages.id", ondelete="CASCADE"), nullable=True
    )
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    staff_only: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
