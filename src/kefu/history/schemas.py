"""History list, detail and callback answers (§3.10, §3.8)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from kefu.blacklist.schemas import BlacklistEntryOut
from kefu.conversations.schemas import AgentRefOut, ConversationOut, PartyOut


class HistoryItemOut(BaseModel):
    id: int
    channel: str
    visitor: PartyOut
    # The agent who held it last (who ended it, or held it when it ended automatically).
    agent: AgentRefOut | None
    # Everyone who took part, in order.
    agents: list[AgentRefOut]
    transferred: bool
    widget_id: int | None
    association_id: int | None
    created_at: datetime
    accepted_at: datetime | None
    ended_at: datetime | None
    # agent | admin | visitor | system
    ended_by: str | None
    # Automatic ends: visitor_timeout | inactive | waiting_timeout | blacklist | leave_message
    end_reason: str | None
    message_count: int


class SegmentOut(BaseModel):
    agent: AgentRefOut | None
    # assigned | picked | transferred_in | callback | reassigned
    start_reason: str
    started_at: datetime
    ended_at: datetime | None
    # ended | transferred_out
    end_reason: str | None


class VisitorInfoOut(BaseModel):
    id: int
    name: str
    phone: str
    email: str
    remark: str
    vip: bool


class HistoryDetailOut(HistoryItemOut):
    visitor_info: VisitorInfoOut
    web_info: dict[str, Any]
    segments: list[SegmentOut]
    # The visitor's blacklist entry in effect or waiting for approval, if any.
    blacklist: BlacklistEntryOut | None
    # The visitor's waiting or ongoing conversation now, if any (callback is refused then).
    open_conversation_id: int | None


class CallbackOut(BaseModel):
    conversation: ConversationOut
