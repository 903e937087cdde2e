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


class AnnouncementNotice(BaseModel):
    """To each recipient (`announcement_received`) and to its author (`announcement_published`)."""

    announcement_id: int
    subject: str
    author_id: int
    author_name: str
    recipients: int
    attachments: int


class PermissionsChanged(BaseModel):
    """To the user: an admin gave them another role, or edited the pages of their role (§15.1)."""

    change: Literal["role_assigned", "role_edited"]
    role_name: str
    old_role_name: str = ""
    actor_id: int
    actor_name: str


class SessionTagsChangedNotice(BaseModel):
    """To the agent who holds / last held a conversation: an admin changed its session tags
    (§9.1, §15.1). `tags` are the full paths ("A / B") after the change."""

    conversation_id: int
    visitor_id: int
    visitor_name: str
    tags: list[str]
    remark: str
    actor_id: int
    actor_name: str


class VisitorTagsChangedNotice(BaseModel):
    """To the agent who holds (or last held) the visitor's conversation: an admin changed the
    visitor's tags (§9.2, §15.1)."""

    visitor_id: int
    visitor_name: str
    conversation_id: int | None
    tags: list[str]
    actor_id: int
    actor_name: str


class ConversationAutoEnded(BaseModel):
    """To the holding agent (admins when nobody held it): a conversation ended by itself (§7)."""

    conversation_id: int
    visitor_name: str
    reason: str


class CannedSubmissionRequested(BaseModel):
    """To admins of the public canned replies: an agent submitted a personal reply (§8.1)."""

    submission_id: int
    requester_id: int
    requester_name: str
    category_path: str
    text: str
    reason: str


class CannedSubmissionDecided(BaseModel):
    """To the requester: an admin accepted or rejected their canned-reply submission (§8.1)."""

    submission_id: int
    decision: Literal["accepted", "rejected"]
    category_path: str
    text: str
    comment: str
    actor_id: int
    actor_name: str


class BlacklistRequested(BaseModel):
    """To admins of the Customer center: an agent asks to blacklist a visitor (§3.9, §15.4)."""

    entry_id: int
    visitor_id: int
    visitor_name: str
    requester_id: int
    requester_name: str
    reason: str


class BlacklistDecided(BaseModel):
    """To the requester: an admin accepted or rejected their blacklist request (§3.9)."""

    entry_id: int
    visitor_id: int
    visitor_name: str
    decision: Literal["approved", "rejected"]
    comment: str
    actor_id: int
    actor_name: str


class ExportNotice(BaseModel):
    """To the requester: their export file is ready (`export_finished`) or failed (§14)."""

    job_id: int
    kind: str
    file_name: str
    error_code: str | None = None


class LeaveMessageNotice(BaseModel):
    """To the agent who handles a leave message (§11.1, §15.1): it was assigned to them
    (`leave_message_assigned`), someone else changed its status (`leave_message_status_changed`:
    `old`/`new`), or an admin commented on it (`leave_message_commented`: `text`, ≤ 200)."""

    leave_message_id: int
    number: int
    subject: str
    old: str | None = None
    new: str | None = None
    text: str | None = None
    actor_id: int
    actor_name: str


NotificationKind = Literal[
    "max_concurrent_changed",
    "status_change_requested",
    "status_change_decided",
    "queue_overflow",
    "queue_cap",
    "announcement_received",
    "announcement_published",
    "permissions_changed",
    "session_tags_changed",
    "visitor_tags_changed",
    "conversation_auto_ended",
    "canned_submission_requested",
    "canned_submission_decided",
    "blacklist_requested",
    "blacklist_decided",
    "export_finished",
    "export_failed",
    "leave_message_assigned",
    "leave_message_status_changed",
    "leave_message_commented",
]

DATA_SCHEMAS: dict[str, type[BaseModel]] = {
    "max_concurrent_changed": MaxConcurrentChanged,
    "status_change_requested": StatusChangeRequested,
    "status_change_decided": StatusChangeDecided,
    "queue_overflow": QueueOverflow,
    "queue_cap": QueueCap,
    "announcement_received": AnnouncementNotice,
    "announcement_published": AnnouncementNotice,
    "permissions_changed": PermissionsChanged,
    "session_tags_changed": SessionTagsChangedNotice,
    "visitor_tags_changed": VisitorTagsChangedNotice,
    "conversation_auto_ended": ConversationAutoEnded,
    "canned_submission_requested": CannedSubmissionRequested,
    "canned_submission_decided": CannedSubmissionDecided,
    "blacklist_requested": BlacklistRequested,
    "blacklist_decided": BlacklistDecided,
    "export_finished": ExportNotice,
    "export_failed": ExportNotice,
    "leave_message_assigned": LeaveMessageNotice,
    "leave_message_status_changed": LeaveMessageNotice,
    "leave_message_commented": LeaveMessageNotice,
}
