"""Bodies and answers of leave messages (§11.1). Limits the SPEC leaves open are ours (see
docs/leave-messages.md): subject ≤ 100, content ≤ 2000, name ≤ 50, phone ≤ 30, email ≤ 254."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from kefu.core.schemas import BigInt, Model, OptionalEmail, Text2000

Status = Literal["unhandled", "in_progress", "resolved"]
Origin = Literal["waiting", "reminder", "off_hours"]
AgentView = Literal["unhandled", "in_progress", "resolved", "unassigned", "filter"]
MAX_BATCH = 200

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()\-]{2,28}$")


def _line(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError(
            "single_line|不能换行或包含控制字符|must be one line without control characters"
        )
    return value


def _phone(value: str) -> str:
    if value and not _PHONE.match(value):
        raise ValueError("format|电话格式不正确|is not a valid phone number")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("required|不能为空|must not be empty")
    return value.strip()


Subject = Annotated[
    str, StringConstraints(max_length=100, strip_whitespace=True), AfterValidator(_line)
]
Name = Annotated[
    str, StringConstraints(max_length=50, strip_whitespace=True), AfterValidator(_line)
]
PhoneText = Annotated[
    str,
    StringConstraints(max_length=30, strip_whitespace=True),
    AfterValidator(_line),
    AfterValidator(_phone),
]
Content = Annotated[Text2000, AfterValidator(_not_blank)]


class LeaveMessageIn(Model):
    """What the visitor fills in. `origin` says which button opened the form (see ORIGINS);
    omitted = the waiting reminder's button, as before §11.1."""

    origin: Origin = "reminder"
    subject: Subject = ""
    content: Content
    name: Name = ""
    phone: PhoneText = ""
    email: OptionalEmail = ""


class LeaveMessageCreated(Model):
    id: int
    number: int
    conversation_id: int | None
    created_at: datetime


class LeaveOfferOut(Model):
    """What the widget may offer before the visitor writes anything."""

    off_hours: bool = Field(description="The routed group is off hours and no robot is active")
    waiting: bool = Field(description="The visitor's conversation waits: the form may end it")


class UserRef(Model):
    id: int
    nickname: str


class VisitorRef(Model):
    id: int
    name: str


class LeaveMessageOut(Model):
    id: int
    number: int
    status: Status
    assignee: UserRef | None
    visitor: VisitorRef | None
    conversation_id: int | None
    channel: str
    origin: str
    widget_id: int | None
    association_id: int | None
    subject: str
    content: str
    name: str
    phone: str
    email: str
    comments: int
    created_at: datetime
    updated_at: datetime


class CommentOut(Model):
    id: int
    author: UserRef | None
    author_name: str
    text: str
    created_at: datetime


class LeaveMessageDetail(LeaveMessageOut):
    comment_list: list[CommentOut]


class BadgeOut(Model):
    mine_unhandled: int | None = Field(description="My unhandled messages (agent page)")
    all_unhandled: int | None = Field(description="All unhandled messages (admin page)")


class AssignIn(Model):
    assignee_id: BigInt | None = Field(description="null = unassign (admins only)")


class StatusIn(Model):
    status: Status


class CommentIn(Model):
    text: Annotated[Text2000, AfterValidator(_not_blank)]


Ids = Annotated[list[BigInt], Field(min_length=1, max_length=MAX_BATCH)]


class BatchAssignIn(AssignIn):
    ids: Ids


class BatchStatusIn(StatusIn):
    ids: Ids


class BatchOut(Model):
    updated: int


class LeaveFilter(Model):
    """One list's filter (also the export parameters)."""

    mode: Literal["agent", "admin"] = "agent"
    view: AgentView = Field("filter", description="Agent views; admins always see all")
    status: Status | None = None
    agent_id: BigInt | None = None
    agent: Annotated[str, StringConstraints(max_length=50)] = Field(
        "", description="Fuzzy agent nickname (admin)"
    )
    assigned: bool | None = Field(None, description="true = assigned, false = unassigned")
    sender: Annotated[str, StringConstraints(max_length=100)] = Field(
        "", description="Fuzzy visitor name, contact name, phone or email"
    )
    channel: Annotated[str, StringConstraints(max_length=20)] = ""
    created_from: datetime | None = None
    created_to: datetime | None = None
    updated_from: datetime | None = None
    updated_to: datetime | None = None
