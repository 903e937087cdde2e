"""History list, detail and callback answers (§3.10, §3.8)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kefu.blacklist.schemas import BlacklistEntryOut
from kefu.conversations.schemas import AgentRefOut, ConversationOut, MessageOut, PartyOut
from kefu.core.schemas import Line50, Model

Id = Annotated[int, Field(ge=1, le=2**53)]
HistoryChannel = Literal["web", "app", "wechat", "weibo", "phone", "api"]
# normal: accepted the usual way; callback: started by an agent's callback (§3.8);
# reassigned: an admin reassigned an ended conversation (§3.10); unaccepted: ended while still
# waiting (no accepted time: leave-message form, waiting timeout, closed from the queue).
SessionType = Literal["normal", "callback", "reassigned", "unaccepted"]


class HistoryFilterIn(BaseModel):
    """The History filters (§13.2), as query parameters of `GET /history` and as the `params`
    of a `history` export. `time_from` inclusive, `time_to` exclusive, on `time_basis`."""

    mode: Literal["agent", "admin"] | None = Field(
        None,
        description="agent: conversations I took part in; admin: all in my History scope "
        "(page admin.history). Default: admin when I have that page.",
    )
    time_basis: Literal["ended", "accepted"] = Field(
        "ended",
        description="ended: ended time; accepted: first acceptance (conversations ended while "
        "waiting have none and are left out).",
    )
    time_from: datetime | None = None
    time_to: datetime | None = None
    # Older names of an ended-time range (kept for links and callers of the first version).
    ended_from: datetime | None = None
    ended_to: datetime | None = None
    channel: HistoryChannel | None = None
    association_id: Id | None = None
    session_tag_ids: list[Id] = Field(
        default_factory=list, max_length=50, description="Carries any of these session tags"
    )
    transferred: bool | None = None
    session_type: SessionType | None = None
    visitor_id: Id | None = None
    visitor_name: Line50 | None = Field(None, description="Part of the customer's name")
    skill_group_id: Id | None = Field(
        None,
        description="Routed or transferred to the group and ended by an agent of the group",
    )
    agent_id: Id | None = Field(None, description="Took part")
    agent_name: Line50 | None = Field(
        None, description="Admin mode: part of the nickname or real name of an agent who took part"
    )
    rating: int | None = Field(
        None, ge=0, le=5, description="Admin mode: satisfaction score 1..5; 0 = not rated"
    )
    conversation_id: Id | None = Field(
        None, description="Exact conversation id: every other filter and the range are ignored"
    )


class HistoryExportParams(HistoryFilterIn):
    """The page's filter as the `params` of a `history` export (unknown fields refused)."""

    model_config = ConfigDict(extra="forbid")


class TagRefOut(BaseModel):
    id: int
    name: str
    color: str | None


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
    # Accept or transfer-in time: agent mode, the caller's own first; admin mode, the first.
    started_at: datetime | None
    session_type: SessionType
    session_tags: list[TagRefOut]
    # Admin mode only (satisfaction results are for admins, §10.1); None otherwise or unrated.
    rating: int | None


class GroupRefOut(BaseModel):
    id: int
    name: str


class SegmentOut(BaseModel):
    agent: AgentRefOut | None
    # assigned | picked | transferred_in | callback | reassigned
    start_reason: str
    started_at: datetime
    ended_at: datetime | None
    # ended | transferred_out
    end_reason: str | None
    skill_group: GroupRefOut | None


class TransferRecordOut(BaseModel):
    """One hand-over: `from_agent` transferred out at `at`; `to_agent` took it next (None: it
    ended before anyone took it); `skill_group`: the group it went to, if any."""

    at: datetime
    from_agent: AgentRefOut | None
    to_agent: AgentRefOut | None
    skill_group: GroupRefOut | None


class CsatRecordOut(BaseModel):
    # agent | auto; None: the visitor rated without an invitation.
    invited_by: str | None
    invited_at: datetime | None
    score: int | None
    tags: list[str]
    comment: str
    rated_at: datetime | None
    rating_count: int


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
    # Admin extras, present with the sub-pages admin.history.csat / admin.history.transfers.
    csat: CsatRecordOut | None = None
    transfers: list[TransferRecordOut] | None = None


class MessageHitOut(BaseModel):
    """A message matching a search inside a conversation; `offsets`: [start, end) character
    ranges of the matches in its text."""

    message: MessageOut
    offsets: list[list[int]]


class MessageSearchOut(BaseModel):
    q: str
    # Matches in all (oldest first), and the messages holding them.
    count: int
    hits: list[MessageHitOut]


class HistorySettingsOut(BaseModel):
    retention_months: int
    choices: list[int]
    # Admins whose History scope is the whole tenant may change it.
    editable: bool


class HistorySettingsIn(Model):
    retention_months: Literal[6, 12, 24, 36]


class CallbackOut(BaseModel):
    conversation: ConversationOut


class OptionGroupOut(BaseModel):
    id: int
    name: str
    # "ungrouped" for the built-in group; None otherwise.
    builtin: str | None
    member_ids: list[int]


class OptionRefOut(BaseModel):
    id: int
    name: str


class HistoryOptionsOut(BaseModel):
    skill_groups: list[OptionGroupOut]
    associations: list[OptionRefOut]
    # Admin mode: the agents in the caller's History scope (agent-name suggestions); else [].
    agents: list[OptionRefOut]
