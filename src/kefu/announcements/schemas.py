"""Announcement bodies: what an admin sends and what a recipient reads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from kefu.core.schemas import Model

Id = Annotated[int, Field(ge=1, le=2**53)]


class AudienceIn(Model):
    """Who receives it: everyone, skill groups' members and/or named agents (§15.2)."""

    all: bool = False
    skill_group_ids: Annotated[list[Id], Field(max_length=100)] = []
    user_ids: Annotated[list[Id], Field(max_length=1000)] = []


class AnnouncementIn(Model):
    subject: Annotated[str, Field(min_length=1, max_length=100)]
    body: Annotated[str, Field(max_length=5000)] = ""
    audience: AudienceIn
    attachment_ids: Annotated[list[Id], Field(max_length=5)] = []


class AnnouncementOut(BaseModel):
    id: int
    subject: str
    body: str
    author_id: int | None
    author_name: str
    audience: dict[str, Any]
    audience_names: list[str] = Field(description="The groups and agents chosen, by name")
    recipient_count: int
    attachments: list[dict[str, Any]]
    created_at: datetime


class RecipientOption(BaseModel):
    kind: str = Field(description="group | agent")
    id: int
    name: str
    detail: str = Field(description="Members of a group, or the agent's real name")
