"""Session tag bodies and views."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar

from pydantic import AfterValidator, BaseModel, Field

from kefu.core.schemas import BigInt, Line30, Model, PatchModel, Text500
from kefu.session_tags.actions import MAX_REMARK, MAX_TAGS_PER_CONVERSATION
from kefu.tags.schemas import TagColor


def _not_empty(value: str) -> str:
    if not value:
        raise ValueError("required|不能为空|must not be empty")
    return value


TagName = Annotated[Line30, AfterValidator(_not_empty)]


def _remark(value: str) -> str:
    value = value.strip()
    if len(value) > MAX_REMARK:
        raise ValueError(f"max_length|最多 {MAX_REMARK} 个字|at most {MAX_REMARK} characters")
    return value


Remark = Annotated[Text500, AfterValidator(_remark)]


class SessionTagIn(Model):
    name: TagName
    parent_id: BigInt | None = None
    color: TagColor | None = None


class SessionTagPatch(PatchModel):
    """Rename, recolour (null clears the colour) or move under another parent (null: first
    level), optionally at `position` among the new siblings (0 first; default last)."""

    nullable_fields: ClassVar[frozenset[str]] = frozenset({"color", "parent_id"})

    name: TagName | None = None
    color: TagColor | None = None
    parent_id: BigInt | None = None
    position: Annotated[int, Field(ge=0, le=1000)] | None = None


class SessionTagOrderIn(Model):
    """The complete order of one level: every child of `parent_id` (null: first level)."""

    parent_id: BigInt | None = None
    tag_ids: Annotated[list[BigInt], Field(max_length=1000)]


class SessionTagOut(BaseModel):
    id: int
    parent_id: int | None
    name: str
    color: str | None
    position: int
    level: int
    path: list[str]


class AppliedTagOut(BaseModel):
    id: int
    name: str
    path: list[str]
    color: str | None
    # The tag was deleted from the tree after it was applied; it stays on the conversation.
    deleted: bool


class ConversationTagsOut(BaseModel):
    conversation_id: int
    tags: list[AppliedTagOut]
    remark: str
    updated_by: int | None
    updated_at: datetime | None


class ConversationTagsIn(Model):
    """The conversation's complete set of session tags and the remark (replaces both)."""

    tag_ids: Annotated[list[BigInt], Field(max_length=MAX_TAGS_PER_CONVERSATION)]
    remark: Remark = ""


class ImportRowError(BaseModel):
    row: int
    message: str


class SessionTagImportOut(BaseModel):
    """What an import did: `created` new tags; duplicates are counted, not imported."""

    rows: int
    created: int
    duplicates_existing: int
    duplicates_in_file: int
    duplicate_rows: list[int]
