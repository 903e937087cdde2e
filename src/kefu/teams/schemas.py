"""Team bodies."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from kefu.core.schemas import Model, Name50, PatchModel

TeamName = Name50
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


class TeamPatch(PatchModel):
    name: TeamName | None = None
    parent_id: Id | None = None


class TeamMembersIn(Model):
    user_ids: Annotated[list[Id], Field(max_length=5000)]


class TeamPersonOut(BaseModel):
    """Who can be put in a team: enough to pick people without the Agents page permission."""

    id: int
    nickname: str
    real_name: str
    email: str
    role_name: str
    enabled: bool
    team_id: int | None
