"""Events of the foundation domains."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class UserRoleChanged(BaseModel):
    type: Literal["user.role_changed"] = "user.role_changed"
    tenant_id: int
    user_id: int
    actor_id: int | None
    old_role: str
    new_role: str


class UserSessionsRevoked(BaseModel):
    """The user's sessions (other than `keep_session_id`) were ended; their sockets close."""

    type: Literal["user.sessions_revoked"] = "user.sessions_revoked"
    tenant_id: int
    user_id: int
    keep_session_id: int | None = None
    # Set when only this one session ended (logout); keep_session_id is then ignored.
    only_session_id: int | None = None


class UserUpdated(BaseModel):
    type: Literal["user.updated"] = "user.updated"
    tenant_id: int
    user_id: int
    actor_id: int | None
    fields: list[str]


class PresenceChanged(BaseModel):
    """A user's status changed; every signed-in socket of the tenant hears it."""

    type: Literal["presence.changed"] = "presence.changed"
    tenant_id: int
    user_id: int
    status: Literal["idle", "busy", "away", "invisible", "offline"]
    # Who changed it: the user, an admin forcing it, or None (the offline timer).
    actor_id: int | None = None


class ChatEvent(BaseModel):
    """A conversation event with its sequence number, as the frames each audience receives."""

    type: Literal["chat.event"] = "chat.event"
    tenant_id: int
    conversation_id: int
    visitor_id: int
    # Staff who hold the conversation (or held it until this event) and receive it.
    agent_ids: list[int]
    staff_frame: dict[str, Any]
    # None for staff-only events (whispers).
    visitor_frame: dict[str, Any] | None


class ChatTyping(BaseModel):
    """The visitor's typing preview for the agent; never stored."""

    type: Literal["chat.typing"] = "chat.typing"
    tenant_id: int
    conversation_id: int
    agent_id: int
    text: str


class QueueChanged(BaseModel):
    """The tenant's waiting count, as counted after commit (kefu.conversations.queue_announcer)."""

    type: Literal["queue.changed"] = "queue.changed"
    tenant_id: int
    waiting: int


class QueueMoved(BaseModel):
    """The transaction added to or took from the tenant's waiting queue (this process counts
    it afterwards and publishes QueueChanged; never sent to other nodes or sockets)."""

    type: Literal["queue.moved"] = "queue.moved"
    tenant_id: int


class LeaveMessagesChanged(BaseModel):
    """A leave message arrived, or one was assigned or changed status (§11.1): every staff
    socket of the tenant hears it and re-reads its counts (the frame carries no content)."""

    type: Literal["leave_messages.changed"] = "leave_messages.changed"
    tenant_id: int


class CapacityFreed(BaseModel):
    """Something that may let waiting conversations be assigned happened (drain the queue)."""

    type: Literal["capacity.freed"] = "capacity.freed"
    tenant_id: int


class VisitorTagsChanged(BaseModel):
    """A visitor's tags or VIP flag changed (their waiting conversation may move in the queue)."""

    type: Literal["visitor.tags_changed"] = "visitor.tags_changed"
    tenant_id: int
    visitor_id: int


class TransferRequestChanged(BaseModel):
    """A transfer waiting for confirmation was created or decided (frames to the two agents)."""

    type: Literal["transfer.request"] = "transfer.request"
    tenant_id: int
    user_ids: list[int]
    frame: dict[str, Any]


class ColleagueMessageSent(BaseModel):
    type: Literal["colleague.message"] = "colleague.message"
    tenant_id: int
    # Sender and recipient: every socket of both hears it (other tabs included).
    user_ids: list[int]
    message: dict[str, Any]


class NotificationCreated(BaseModel):
    """A message-center notice for one user; every socket of that user hears it."""

    type: Literal["notification.created"] = "notification.created"
    tenant_id: int
    user_id: int
    notification: dict[str, Any]
