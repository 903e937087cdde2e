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


NotificationKind = Literal[
    "max_concurrent_changed", "status_change_requested", "status_change_decided"
]

DATA_SCHEMAS: dict[str, type[BaseModel]] = {
    "max_concurrent_changed": MaxConcurrentChanged,
    "status_change_requested": StatusChangeRequested,
    "status_change_decided": StatusChangeDecided,
}
