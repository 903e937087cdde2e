"""Skill group bodies and views (§5.2), member management and favourite groups (§24)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from kefu.core.schemas import BigInt, FreeText, Model, Name30, PatchModel, Text500, Text1000

AssignmentMode = Literal["balanced", "least_loaded", "broadcast"]
PresenceStatus = Literal["idle", "busy", "away", "invisible", "offline"]
MAX_MEMBERS = 1000
MAX_FAVOURITES = 50

# Chinese characters (CJK unified ideographs, extension A and compatibility), letters, digits.
_NAME = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaffA-Za-z0-9]+$")


def _group_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            "charset|只能包含中文、英文字母和数字|may contain only Chinese characters, letters "
            "and digits"
        )
    return value


GroupName = Annotated[Name30, AfterValidator(_group_name)]


class SkillGroupIn(Model):
    name: GroupName
    greeting: Text1000 = ""
    time_plan_id: BigInt | None = Field(None, description="None = the system default plan")
    off_hours_message: Text500 = ""
    assignment_mode: AssignmentMode = "balanced"
    prefer_previous: bool = False


class SkillGroupPatch(PatchModel):
    nullable_fields = frozenset({"time_plan_id"})

    name: GroupName | None = None
    greeting: Text1000 | None = None
    time_plan_id: BigInt | None = None
    off_hours_message: Text500 | None = None
    assignment_mode: AssignmentMode | None = None
    prefer_previous: bool | None = None


class SkillGroupOut(BaseModel):
    id: int
    name: str
    builtin: str | None = Field(description='"ungrouped" for the built-in Ungrouped group')
    greeting: str
    time_plan_id: int | None
    off_hours_message: str
    assignment_mode: str
    prefer_previous: bool
    member_count: int
    idle_count: int = Field(description="Members whose presence is idle")
    created_at: datetime
    updated_at: datetime


class GroupMemberOut(BaseModel):
    id: int
    nickname: str
    real_name: str
    email: str
    status: str
    max_concurrent: int
    ongoing: int = Field(description="Ongoing conversations the member serves now")


class GroupCandidateOut(BaseModel):
    id: int
    nickname: str
    real_name: str
    email: str


class GroupMembersIn(Model):
    user_ids: list[BigInt] = Field(max_length=MAX_MEMBERS)


def _email_lines(value: str) -> str:
    if sum(1 for line in value.splitlines() if line.strip()) > MAX_MEMBERS:
        raise ValueError(f"too_many_lines|最多 {MAX_MEMBERS} 行|at most {MAX_MEMBERS} lines")
    return value


EmailLines = Annotated[
    FreeText, StringConstraints(max_length=MAX_MEMBERS * 260), AfterValidator(_email_lines)
]


class MembersCodeIn(Model):
    text: EmailLines = Field(description="One login email per line; blank lines are ignored")
    action: Literal["add", "remove"]


class MembersCodeOut(BaseModel):
    added: list[str]
    removed: list[str]
    unknown: list[str] = Field(description="Lines that are no login email of this tenant")
    unchanged: list[str]


class FavouriteGroupsIn(Model):
    skill_group_ids: list[BigInt] = Field(max_length=MAX_FAVOURITES)


class GroupChoiceOut(BaseModel):
    id: int
    name: str
    builtin: str | None


class FavouriteGroupsOut(BaseModel):
    skill_group_ids: list[int]
    groups: list[GroupChoiceOut] = Field(
        description="Every skill group of the tenant, Ungrouped first (the choices)"
    )
