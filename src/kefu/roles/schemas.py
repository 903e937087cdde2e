"""Role bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from kefu.core.schemas import Model, Name30, PatchModel

Scope = Literal["tenant", "skill_group", "team"]
PageKey = Annotated[str, Field(max_length=60, pattern=r"^(agent|admin)\.[a-z_.]{1,50}$")]


class DataScopes(Model):
    customers: Scope = "skill_group"
    history: Scope = "skill_group"
    current_sessions: Scope = "skill_group"


class RoleOut(BaseModel):
    id: int
    name: str
    builtin: str | None
    pages: list[str]
    data_scopes: dict[str, str]
    require_mfa: bool
    user_count: int
    created_at: datetime
    updated_at: datetime


class RoleCreate(Model):
    name: Name30
    pages: Annotated[list[PageKey], Field(max_length=200)] = []
    data_scopes: DataScopes = DataScopes()
    require_mfa: bool = False


class RolePatch(PatchModel):
    name: Name30 | None = None
    pages: Annotated[list[PageKey], Field(max_length=200)] | None = None
    data_scopes: DataScopes | None = None
    require_mfa: bool | None = None


class CataloguePage(BaseModel):
    key: str
    mode: str
    group: str
    parent: str | None
    title: dict[str, str]


class CatalogueOut(BaseModel):
    pages: list[CataloguePage]
    groups: dict[str, dict[str, str]]
    scoped_data: list[str]
    scopes: list[str]
