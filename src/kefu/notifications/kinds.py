"""The kinds of notice and the parameters each carries (the UI words them per language).

A kind is never renamed or removed once shipped: stored notices keep it forever (§15.1).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from kefu.presence.schemas import OnlineStatus


class MaxConcurrentChanged(BaseModel):
    """An admin changed the recipient's max concurrent (§2.2)."""

    old: int
    new: int
    actor_id: int
    actor_name: str


class StatusChangeRequested(BaseModel):
    """To admins: an agent asks to switch from Idle to another status (§2.1, §15.4)."""

    approval_id: int
    requester_id: int
    requester_name: str
    from_status: OnlineStatus
    to_status: OnlineStatus
    reason: str


class StatusChangeDecided(BaseModel):
    """To the requester: an admin approved or rejected their status change (§2.1, §15.4)."""

    approval_id: int
    decision: Literal["approved", "rejected"]
    from_status: OnlineStatus
    to_status: OnlineStatus
    comment: str
    actor_id: int
    actor_name: str


class QueueOverflow(BaseModel):
    """To admins: an overflow rule fired (§5.8)."""

    rule_id: int
    rule_name: str
    condition: Literal["queue_length", "all_offline"]
    from_group: str
    to_group: str | None
    conversation_id: int | None
    waiting: int


class QueueCap(BaseModel):
    """To admins: the tenant's waiting queue is near (≥ 90 %) or at its cap (§3.2)."""

    level: Literal["near", "full"]
    waiting: int
    cap: int


NotificationKind = Literal[
    "max_concurrent_changed",
    "status_change_requested",
    "status_change_decided",
    "queue_overflow",
    "queue_cap",
]

DATA_SCHEMAS: dict[str, type[BaseModel]] = {
    "max_concurrent_changed": MaxConcurrentChanged,
    "status_change_requested": StatusChangeRequested,
    "status_change_decided": StatusChangeDecided,
    "queue_overflow": QueueOverflow,
    "queue_cap": QueueCap,
}
