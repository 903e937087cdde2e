"""Waiting-queue and transfer payloads."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from kefu.conversations.schemas import AgentRefOut, ConversationOut, LastMessageOut
from kefu.core.schemas import Model

OnlineStatus = Literal["idle", "busy", "away", "invisible", "offline"]


class TagRefOut(BaseModel):
    id: int
    name: str
    color: str


class WaitingVisitorOut(BaseModel):
    id: int
    name: str
    vip: bool
    tags: list[TagRefOut]


class GroupRefOut(BaseModel):
    id: int
    name: str
    builtin: str | None


class WaitingItemOut(BaseModel):
    id: int
    visitor: WaitingVisitorOut
    channel: str
    association_id: int | None
    association_name: str | None
    skill_group: GroupRefOut
    target_agent: AgentRefOut | None
    routed_by: str
    queued_at: datetime | None
    created_at: datetime
    priority_rank: int = Field(description="0 VIP, 1..10 customer level, 11 normal")
    position: int | None = Field(description="Place in its group's queue, 1 = next")
    last_message: LastMessageOut | None


class WaitingPageOut(BaseModel):
    items: list[WaitingItemOut]
    total: int
    can_pickup: bool
    can_view_detail: bool
    is_admin: bool


class TransferIn(Model):
    agent_id: int | None = Field(None, ge=1, le=2**53)
    skill_group_id: int | None = Field(None, ge=1, le=2**53)


class TransferRequestOut(BaseModel):
    id: int
    conversation_id: int
    from_agent: AgentRefOut | None
    to_agent: AgentRefOut
    to_group_id: int | None
    visitor_name: str
    state: Literal["pending", "accepted", "rejected", "expired", "cancelled"]
    created_at: datetime
    expires_at: datetime


class TransferOut(BaseModel):
    outcome: Literal["transferred", "pending", "queued"]
    conversation: ConversationOut
    request: TransferRequestOut | None


class TargetAgentOut(BaseModel):
    id: int
    nickname: str
    real_name: str
    status: OnlineStatus
    ongoing: int
    max_concurrent: int
    at_hard_cap: bool
    group_ids: list[int]


class TargetGroupOut(BaseModel):
    id: int
    name: str
    builtin: str | None
    member_count: int
    idle_count: int


class TransferTargetsOut(BaseModel):
    agents: list[TargetAgentOut]
    groups: list[TargetGroupOut]
    favourite_group_ids: list[int]
    precise_group_stats: bool
