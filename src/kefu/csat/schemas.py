"""Satisfaction bodies and views (§10.1; bounds in docs/satisfaction.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from kefu.core.schemas import BigInt, Line20, Model, Text500

# Bounds (SPEC gives none; chosen and documented in docs/satisfaction.md).
INVITE_TEXT_MAX = 200
STAR_TEXT_MAX = 20
TAGS_PER_STAR = 10
TAG_MAX = 20
COMMENT_MAX = 200
# Channels with an automatic-invitation setting; more channels add a field to AutoInvite.
CHANNELS = ("web",)

DEFAULT_INVITE_TEXT = "感谢您的咨询，请对本次服务做出评价，您的意见对我们很重要。"
DEFAULT_STARS: list[dict[str, Any]] = [
    {"score": 1, "text": "非常不满意", "tags": ["答非所问", "态度差", "回复太慢"]},
    {"score": 2, "text": "不满意", "tags": ["没有解决问题", "回复太慢"]},
    {"score": 3, "text": "一般", "tags": ["问题部分解决"]},
    {"score": 4, "text": "满意", "tags": ["回复及时", "态度好"]},
    {"score": 5, "text": "非常满意", "tags": ["专业", "耐心", "问题已解决"]},
]


def _not_empty(value: str) -> str:
    if not value:
        raise ValueError("required|不能为空|must not be empty")
    return value


def _unique_tags(tags: list[str]) -> list[str]:
    if len(set(tags)) != len(tags):
        raise ValueError("duplicate|同一星级的标签不能重复|tags of one star must be unique")
    return tags


def _five_stars(stars: list[StarConfig]) -> list[StarConfig]:
    if sorted(s.score for s in stars) != [1, 2, 3, 4, 5]:
        raise ValueError("stars|需要 1 到 5 星各一项|needs exactly one entry per score 1 to 5")
    return sorted(stars, key=lambda s: s.score)


StarText = Annotated[Line20, AfterValidator(_not_empty)]
TagText = Annotated[Line20, AfterValidator(_not_empty)]
InviteText = Annotated[
    Text500,
    StringConstraints(max_length=INVITE_TEXT_MAX, strip_whitespace=True),
    AfterValidator(_not_empty),
]
Comment = Annotated[Text500, StringConstraints(max_length=COMMENT_MAX, strip_whitespace=True)]


class AutoInviteChannel(Model):
    enabled: bool = False
    # Also invite when only a robot handled the conversation (stored; robots come later).
    robot_only: bool = False


class AutoInvite(Model):
    """Automatic invitation at the end, per channel."""

    web: AutoInviteChannel = AutoInviteChannel()


class StarConfig(Model):
    score: Annotated[int, Field(ge=1, le=5)]
    text: StarText
    tags: Annotated[
        list[TagText], Field(max_length=TAGS_PER_STAR), AfterValidator(_unique_tags)
    ] = []


class CsatSettingsIn(Model):
    auto_invite: AutoInvite = AutoInvite()
    invite_text: InviteText
    stars: Annotated[
        list[StarConfig], Field(min_length=5, max_length=5), AfterValidator(_five_stars)
    ]


class CsatSettingsOut(BaseModel):
    auto_invite: AutoInvite
    invite_text: str
    stars: list[StarConfig]
    updated_at: datetime | None


class RateIn(Model):
    conversation_id: BigInt
    score: Annotated[int, Field(ge=1, le=5)]
    tags: Annotated[list[TagText], Field(max_length=TAGS_PER_STAR)] = []
    comment: Comment = ""


class RatingOut(BaseModel):
    score: int
    tags: list[str]
    comment: str
    rated_at: datetime


class VisitorCsatOut(BaseModel):
    """What the widget needs to show the rating card of one of the visitor's conversations."""

    conversation_id: int
    invited: bool
    # The visitor may rate (again) now; `reason` says why not otherwise.
    can_rate: bool
    reason: Literal["not_served", "expired", "already_rated"] | None
    rating: RatingOut | None
    invite_text: str
    stars: list[StarConfig]


class StaffCsatOut(BaseModel):
    """A conversation's satisfaction state for staff. The score, tags and comment are only
    filled for users with the page "History: satisfaction records" (docs/decisions.md)."""

    conversation_id: int
    invited: bool
    invited_by: Literal["agent", "auto"] | None
    invited_at: datetime | None
    can_invite: bool
    rated: bool
    rated_at: datetime | None
    rating_count: int
    score: int | None
    tags: list[str] | None
    comment: str | None
    # The agents the counted score is attributed to (switch csat_shared).
    agent_ids: list[int] | None
