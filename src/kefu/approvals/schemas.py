"""Approval requests and decisions; the answer of PUT /me/status when approval is needed."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from kefu.core.schemas import Line200, Model
from kefu.presence.schemas import OnlineStatus, PresenceOut

ApprovalState = Literal["pending", "approved", "rejected", "cancelled"]
ApprovalKind = Literal["status_change"]


class ApprovalOut(BaseModel):
    id: int
    kind: ApprovalKind
    requester_id: int
    requester_name: str
    from_status: OnlineStatus
    to_status: OnlineStatus
    reason: str
    state: ApprovalState
    comment: str
    decided_by: int | None
    decided_by_name: str
    decided_at: datetime | None
    created_at: datetime


class DecisionIn(Model):
    comment: Line200 = ""


class MyStatusOut(PresenceOut):
    approval: ApprovalOut | None = None
