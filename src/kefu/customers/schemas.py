"""Customer-center bodies and views."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from kefu.core.schemas import BigInt, Line20, Line30, Line50, Line200, Model, PatchModel
from kefu.tags.schemas import MAX_TAGS_PER_VISITOR, VisitorTagOut


def _not_empty(value: str) -> str:
    if not value:
        raise ValueError("required|不能为空|must not be empty")
    return value


Name20 = Annotated[Line20, AfterValidator(_not_empty)]
FieldType = Literal["text", "multiline", "number", "date", "select"]
Option = Annotated[Line30, AfterValidator(_not_empty)]
FieldKey = Annotated[str, StringConstraints(pattern=r"^[a-z_]{2,20}$|^custom_[0-9]{1,16}$")]
Days = Annotated[int, Field(ge=1, le=3650)]
Channel = Literal["web", "app", "wechat", "weibo", "phone", "api"]


# --- profile fields (§12.2) ---------------------------------------------------------------


class CustomerFieldIn(Model):
    name: Name20
    type: FieldType = "text"
    options: Annotated[list[Option], Field(max_length=50)] = []
    agent_visible: bool = True
    readonly: bool = False
    shown: bool = True


class CustomerFieldPatch(PatchModel):
    name: Name20 | None = None
    options: Annotated[list[Option], Field(max_length=50)] | None = None
    agent_visible: bool | None = None
    readonly: bool | None = None
    shown: bool | None = None


class CustomerFieldOut(BaseModel):
    # A system key (nickname, name, external_id, phone, qq, wechat, email, company,
    # description) or "custom_<id>".
    key: str
    system: bool
    id: int | None
    name: str
    type: str
    options: list[str]
    agent_visible: bool
    readonly: bool
    shown: bool


class LayoutItemIn(Model):
    key: FieldKey
    agent_visible: bool
    readonly: bool
    shown: bool


class LayoutIn(Model):
    """Every field, in the wanted order, with its flags (the customer ID stays read-only)."""

    fields: Annotated[list[LayoutItemIn], Field(max_length=60)]


# --- automatic groups (§12.3) -------------------------------------------------------------


class CreatedWithin(Model):
    kind: Literal["created_within_days"]
    days: Days


class LastConversationWithin(Model):
    kind: Literal["last_conversation_within_days"]
    days: Days


class HasTag(Model):
    kind: Literal["tag"]
    tag_id: BigInt


class IsVip(Model):
    kind: Literal["vip"]
    value: bool = True


class ViaChannel(Model):
    kind: Literal["channel"]
    channel: Channel


class FieldEquals(Model):
    kind: Literal["field_equals"]
    key: FieldKey
    value: Line200


class Imported(Model):
    kind: Literal["imported"]
    value: bool = True


GroupItem = Annotated[
    CreatedWithin | LastConversationWithin | HasTag | IsVip | ViaChannel | FieldEquals | Imported,
    Field(discriminator="kind"),
]


class CustomerGroupIn(Model):
    name: Name20
    agent_visible: bool = True
    match: Literal["all", "any"] = "all"
    items: Annotated[list[GroupItem], Field(min_length=1, max_length=10)]


class CustomerGroupPatch(PatchModel):
    name: Name20 | None = None
    agent_visible: bool | None = None
    match: Literal["all", "any"] | None = None
    items: Annotated[list[GroupItem], Field(min_length=1, max_length=10)] | None = None


class CustomerGroupOut(BaseModel):
    id: int
    name: str
    agent_visible: bool
    match: str
    items: list[dict[str, Any]]


class GroupRefOut(BaseModel):
    id: int
    name: str


# --- customers ----------------------------------------------------------------------------


class CustomerItemOut(BaseModel):
    id: int
    external_id: str | None
    name: str
    nickname: str
    phone: str
    email: str
    vip: bool
    source: str
    tags: list[VisitorTagOut]
    groups: list[GroupRefOut]
    # First consultation (imported customers who never consulted: the import time).
    created_at: datetime
    last_conversation_at: datetime | None
    conversation_count: int


class ProfileFieldOut(BaseModel):
    key: str
    system: bool
    name: str
    type: str
    options: list[str]
    readonly: bool
    value: str


class CustomerOut(BaseModel):
    id: int
    external_id: str | None
    display_name: str
    vip: bool
    source: str
    mode: str
    fields: list[ProfileFieldOut]
    tags: list[VisitorTagOut]
    groups: list[GroupRefOut]
    created_at: datetime
    last_conversation_at: datetime | None
    web_info: dict[str, Any]
    blacklisted: bool


class CustomerPatch(Model):
    """Field values by key (see CustomerFieldOut.key); "" or null clears a field. `tag_ids`,
    when given, replaces the customer's tags (§9.2)."""

    fields: Annotated[dict[FieldKey, str | int | float | None], Field(max_length=60)] = {}
    tag_ids: Annotated[list[BigInt], Field(max_length=MAX_TAGS_PER_VISITOR)] | None = None


class RatingOut(BaseModel):
    score: int | None
    comment: str
    tags: list[str]
    rated_at: datetime | None


class RecordOut(BaseModel):
    """One conversation of the customer (interaction records, §12.1)."""

    id: int
    channel: str
    state: str
    agents: list[str]
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    message_count: int
    rating: RatingOut | None


class ImportRejectOut(BaseModel):
    row: int
    reason: str


class CustomerImportOut(BaseModel):
    rows: int
    imported: int
    rejected: list[ImportRejectOut]


class CustomerListFilter(Model):
    """The list's filter (also the `params` of the "customers" export)."""

    mode: Literal["agent", "admin"] | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    tag_ids: Annotated[list[BigInt], Field(max_length=20)] = []
    q: Line50 = ""
    nickname: Line50 = ""
    phone: Line50 = ""
    email: Line50 = ""
    group_id: BigInt | None = None
