"""Canned-reply bodies and views (§8.1). Limits: category names 20, reply text 1000."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from kefu.core.schemas import BigInt, Line20, Line200, Model, PatchModel, SearchText, Text1000

MAX_NAME = 20
MAX_TEXT = 1000


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("required|不能为空|must not be empty")
    return value


CategoryName = Annotated[Line20, AfterValidator(_not_blank)]
ReplyText = Annotated[Text1000, AfterValidator(_not_blank)]
Reason = Annotated[Line200, AfterValidator(_not_blank)]
Comment = Line200
SortMode = Literal["smart", "updated"]
# Search words: no control characters (NUL breaks PostgreSQL text), at most 100.
Query100 = Annotated[SearchText, StringConstraints(max_length=100)]


class CannedCategoryIn(Model):
    name: CategoryName
    # Public set only: a first-level category's id makes this a second-level one.
    parent_id: BigInt | None = None


class CannedPersonalCategoryIn(Model):
    name: CategoryName


class CannedCategoryPatch(PatchModel):
    name: CategoryName | None = None


class CannedReplyIn(Model):
    text: ReplyText
    # Public: required (either level). Personal: a sub-category, or null for the first level.
    category_id: BigInt | None = None


class CannedReplyPatch(PatchModel):
    nullable_fields = frozenset({"category_id"})

    text: ReplyText | None = None
    category_id: BigInt | None = None


class CannedCategoryOut(BaseModel):
    id: int
    name: str
    parent_id: int | None


class CannedReplyOut(BaseModel):
    id: int
    scope: Literal["public", "personal"]
    category_id: int | None
    text: str
    created_at: datetime
    updated_at: datetime
    # The caller's own figures: times used, pinned (and when).
    use_count: int
    pinned: bool
    pinned_at: datetime | None


class CannedSetOut(BaseModel):
    """One set: its categories (parents first) and its replies in the caller's order."""

    categories: list[CannedCategoryOut]
    replies: list[CannedReplyOut]
    sort: SortMode


class CannedPrefsIn(Model):
    sort: SortMode


class CannedPrefsOut(BaseModel):
    sort: SortMode


class CannedImportOut(BaseModel):
    categories_created: int
    replies_created: int
    # Rows whose text was already in the same category.
    duplicates_skipped: int


class CannedSubmissionIn(Model):
    reply_id: BigInt
    # A public category, first or second level.
    category_id: BigInt
    # The text to offer, when edited; otherwise the personal reply's own text.
    text: ReplyText | None = None
    reason: Reason


class CannedAcceptIn(Model):
    # The admin may still pick another category or edit the text before accepting.
    category_id: BigInt | None = None
    text: ReplyText | None = None
    comment: Comment = ""


class CannedRejectIn(Model):
    comment: Comment = ""


class CannedSubmissionOut(BaseModel):
    id: int
    requester_id: int
    requester_name: str
    source_reply_id: int | None
    category_id: int | None
    category_path: str
    text: str
    reason: str
    state: Literal["pending", "accepted", "rejected"]
    comment: str
    decided_by: int | None
    decided_by_name: str
    decided_at: datetime | None
    public_reply_id: int | None
    created_at: datetime


class CannedSuggestionOut(BaseModel):
    id: int
    scope: Literal["public", "personal"]
    text: str
    category_path: str = Field(description="e.g. 'Billing / Refunds' or '' (personal first level)")
