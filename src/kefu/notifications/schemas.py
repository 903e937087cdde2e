"""Message-center views."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from kefu.notifications.kinds import NotificationKind


class NotificationOut(BaseModel):
    id: int
    kind: NotificationKind
    data: dict[str, Any] = Field(
        description="The notice's parameters, by kind; e.g. max_concurrent_changed: "
        "{old, new, actor_id, actor_name}; status_change_requested: {approval_id, requester_id, "
        "requester_name, from_status, to_status, reason}; status_change_decided: {approval_id, "
        "decision, from_status, to_status, comment, actor_id, actor_name}"
    )
    created_at: datetime
    read: bool


class UnreadCountOut(BaseModel):
    unread: int
