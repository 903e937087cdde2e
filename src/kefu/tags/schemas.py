"""Visitor tag bodies and views."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from kefu.core.schemas import BigInt, Line20, Model, PatchModel

MAX_TAGS_PER_VISITOR = 50


def _not_empty(value: str) -> str:
    if not value:
        raise ValueError("required|不能为空|must not be empty")
    return value


TagName = Annotated[Line20, AfterValidator(_not_empty)]
TagColor = Annotated[
    str,
    StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$"),
    AfterValidator(lambda v: v.lower()),
]


class VisitorTagIn(Model):
    name: TagName
    color: TagColor = "#409eff"


class VisitorTagPatch(PatchModel):
    name: TagName | None = None
    color: TagColor | None = None


class VisitorTagOut(BaseModel):
    id: int
    name: str
    color: str


class VisitorTagsIn(Model):
    """The visitor's complete set of tags (replaces the current one)."""

    tag_ids: Annotated[list[BigInt], Field(max_length=MAX_TAGS_PER_VISITOR)]
