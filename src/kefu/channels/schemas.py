"""Widget and association bodies and views."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from kefu.core.schemas import BigInt, Line50, Model, Name50, PatchModel, Text500

Color = Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")]
WidgetLanguage = Literal["auto", "zh-CN", "en"]


def _origins(value: str) -> str:
    items = [o.strip().rstrip("/") for o in value.replace("\n", ",").split(",") if o.strip()]
    for origin in items:
        if not origin.startswith(("http://", "https://")) or "/" in origin.split("://", 1)[1]:
            raise ValueError(
                "origin|每项须为 https://example.com 这样的来源|each item must be an origin "
                "such as https://example.com"
            )
    return ",".join(items)


Origins = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_origins)]


class WidgetIn(Model):
    name: Name50
    title: Line50 = ""
    theme_color: Color = "#1f6feb"
    show_logo: bool = True
    show_name: bool = True
    show_agent_nickname: bool = True
    language: WidgetLanguage = "auto"
    welcome_text: Text500 = ""
    allowed_origins: Origins = ""
    association_id: BigInt | None = None


class WidgetPatch(PatchModel):
    nullable_fields = frozenset({"association_id"})

    name: Name50 | None = None
    title: Line50 | None = None
    theme_color: Color | None = None
    show_logo: bool | None = None
    show_name: bool | None = None
    show_agent_nickname: bool | None = None
    language: WidgetLanguage | None = None
    welcome_text: Text500 | None = None
    allowed_origins: Origins | None = None
    association_id: BigInt | None = None


class WidgetOut(BaseModel):
    id: int
    key: str
    name: str
    title: str
    theme_color: str
    show_logo: bool
    show_name: bool
    show_agent_nickname: bool
    language: str
    welcome_text: str
    allowed_origins: str
    association_id: int | None
    embed_code: str
    h5_url: str
    demo_url: str
    created_at: datetime
    updated_at: datetime


class WidgetSecretOut(BaseModel):
    secret: str = Field(description="Shown only now; Kefu never returns it again")


class WelcomeMenuEntryOut(BaseModel):
    id: int
    label: str


class PublicWidgetOut(BaseModel):
    key: str
    title: str
    company_name: str
    logo_url: str | None
    theme_color: str
    show_logo: bool
    show_name: bool
    show_agent_nickname: bool
    language: str
    welcome_text: str
    welcome_menu: list[WelcomeMenuEntryOut] = Field(
        default_factory=list, description="Menu under the welcome, each item routes to a group"
    )


class AssociationIn(Model):
    name: Name50
    channel: Literal["web", "app"] = "web"


class AssociationPatch(PatchModel):
    name: Name50 | None = None


class AssociationOut(BaseModel):
    id: int
    name: str
    channel: str
    created_at: datetime
