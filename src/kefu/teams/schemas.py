"""Team bodies."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from kefu.core.schemas import Model

TeamName = Annotated[str, Field(min_length=1, max_length=50)]
Id = Annotated[int, Field(ge=1, le=2**53)]


class TeamOut(BaseModel):
    id: int
    parent_id: int | None
    name: str
    is_root: bool
    member_ids: list[int]
    children: list[TeamOut] = []


class TeamCreate(Model):
    name: TeamName
    parent_id: Id


class TeamPatch(Model):
    name: TeamName | None = None
    parent_id: Id | None = None


class TeamMembersIn(Model):
    user_ids: Annotated[list[Id], Field(max_length=5000)]
