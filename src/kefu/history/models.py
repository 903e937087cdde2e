"""History (§3.10): the tenant's retention setting, and the indexes the History filters use."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from kefu.conversations.models import Conversation, Segment
from kefu.core.db import Base, BigId, IdMixin, UTCDateTime

# How long ended conversations are kept, in months (§3.10: 6 by default; every tenant may
# choose a longer period in Kefu).
RETENTION_CHOICES = (6, 12, 24, 36)
DEFAULT_RETENTION = 6


class HistorySettings(IdMixin, Base):
    """A tenant's History settings; no row = the defaults."""

    __tablename__ = "history_settings"

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), unique=True
    )
    retention_months: Mapped[int] = mapped_column(default=DEFAULT_RETENTION)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


# The History list by time basis (ended / first accepted), newest first, and the purge sweep.
Index(
    "ix_conversations_history_ended",
    Conversation.tenant_id,
    Conversation.state,
    Conversation.ended_at,
)
Index(
    "ix_conversations_history_accepted",
    Conversation.tenant_id,
    Conversation.state,
    Conversation.accepted_at,
)
# "Conversations agent X took part in" (agent mode, agent filters, data scopes).
Index("ix_segments_agent_conversation", Segment.agent_id, Segment.conversation_id)

# The retention sweep (timer handler and end hook) registers when the models load.
import kefu.history.retention  # noqa: E402,F401
