"""Visitor registration (from the widget) and the visitor profile staff see and edit."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from kefu.core.schemas import (
    FreeText,
    Line50,
    Line64,
    Line200,
    Mobile,
    Model,
    OptionalEmail,
    PatchModel,
    Text500,
)
from kefu.tags.schemas import VisitorTagOut

VisitorToken = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{22,64}$")]
PageUrl = Annotated[FreeText, StringConstraints(max_length=2000)]


class IdentityIn(Model):
    user_id: Line64
    timestamp: Annotated[int, Field(ge=0, le=2**40)]
    signature: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")]


class ProfileIn(Model):
    name: Line50 = ""
    phone: Mobile = ""
    email: OptionalEmail = ""
    custom: Annotated[dict[str, Line200], Field(max_length=20)] = {}


class EntryIn(Model):
    skill_group: Line50 = ""
    association: Line50 = ""


class PageIn(Model):
    url: PageUrl = ""
    title: Line200 = ""
    referrer: PageUrl = ""
    landing_url: PageUrl = ""


class VisitorSessionIn(Model):
    widget_key: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,32}$")]
    token: VisitorToken
    identity: IdentityIn | None = None
    profile: ProfileIn = ProfileIn()
    entry: EntryIn = EntryIn()
    page: PageIn = PageIn()


class VisitorMeOut(BaseModel):
    id: int
    name: str
    identified: bool


class VisitorOut(BaseModel):
    id: int
    name: str
    phone: str
    email: str
    remark: str
    external_id: str | None
    # VIP visitors queue ahead of everyone else (§3.3).
    vip: bool
    tags: list[VisitorTagOut]
    custom: dict[str, Any]
    web_info: dict[str, Any]
    created_at: datetime
    last_seen_at: datetime


class VisitorPatch(PatchModel):
    name: Line50 | None = None
    phone: Mobile | None = None
    email: OptionalEmail | None = None
    remark: Text500 | None = None
    vip: bool | None = None
