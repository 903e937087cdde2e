"""Blacklist requests and answers (§3.9)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from kefu.core.schemas import Line200, Model

EntryState = Literal["pending", "active", "rejected", "removed"]


class BlacklistReasonIn(Model):
    """Adding from a conversation (ongoing or history): the visitor is the conversation's."""

    reason: Line200


class BlacklistAddIn(Model):
    """Adding by visitor id (Customer center, issue 6)."""

    visitor_id: int = Field(ge=1, le=2**53)
    reason: Line200


class DecisionIn(Model):
    comment: Line200 = ""


class PersonRef(BaseModel):
    id: int
    nickname: str


class BlacklistEntryOut(BaseModel):
    id: int
    visitor_id: int
    visitor_name: str
    reason: str
    state: EntryState
    conversation_id: int | None
    requested_by: PersonRef | None
    requested_at: datetime
    decided_by: PersonRef | None
    decided_at: datetime | None
    comment: str
    removed_by: PersonRef | None
    removed_at: datetime | None


class BlacklistAddOut(BaseModel):
    """`applied`: in effect now (the visitor's open conversation ended); `pending`: an admin
    decides (switch `blacklist_approval`)."""

    outcome: Literal["applied", "pending"]
    entry: BlacklistEntryOut
    ended_conversation_id: int | None = None


class VisitorBlacklistOut(BaseModel):
    """A visitor's blacklist state: the active or pending entry, if any."""

    visitor_id: int
    blacklisted: bool
    pending: bool
    entry: BlacklistEntryOut | None
