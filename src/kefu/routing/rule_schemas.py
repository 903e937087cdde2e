"""Bodies and views of the assignment rules (§5.3, §5.6, §5.7, §5.8, §5.10, §3.5 expiry).

Pydantic checks types and sizes here; the rules that depend on the rule's kind or on other rows
(existing tags, groups, users, plans) live in kefu.routing.rules.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from kefu.core.schemas import BigInt, Line50, Model, Name30, Name50, PatchModel

RuleKind = Literal["customer", "channel", "association"]
RuleChannel = Literal["web", "app", "wechat", "weibo"]
TargetType = Literal["group", "robot", "agent"]
RuleSource = Literal["entry", "association", "channel"]
OverflowCondition = Literal["queue_length", "all_offline"]
ReturningMode = Literal["last", "most"]


def _distinct(values: list[int]) -> list[int]:
    if len(set(values)) != len(values):
        raise ValueError("unique|不能包含重复项|must not contain duplicates")
    return values


TagIds = Annotated[list[BigInt], Field(max_length=20), AfterValidator(_distinct)]


def _permutation(values: list[str]) -> list[str]:
    if sorted(values) != ["association", "channel", "entry"]:
        raise ValueError(
            "permutation|须包含 entry、association、channel 各一次|"
            "must name entry, association and channel once each"
        )
    return values


def _one_level_per_tag(levels: list[list[int]]) -> list[list[int]]:
    seen: set[int] = set()
    for level in levels:
        if seen & set(level):
            raise ValueError(
                "tag_in_two_levels|同一个访客标签只能属于一个等级|"
                "a visitor tag can be in one level only"
            )
        seen.update(level)
    return levels


LevelTagIds = Annotated[list[BigInt], Field(max_length=100), AfterValidator(_distinct)]
ScopeGroupIds = Annotated[list[BigInt], Field(max_length=100), AfterValidator(_distinct)]
GroupPriority = Annotated[list[BigInt], Field(max_length=5), AfterValidator(_distinct)]


class RuleTarget(Model):
    """Where a rule sends the visitor. A robot needs no id (robots come later)."""

    type: TargetType
    id: BigInt | None = None


class RuleTargetOut(BaseModel):
    type: TargetType
    id: int | None = Field(description="null for a robot target")


class RoutingRuleIn(Model):
    kind: RuleKind
    name: Line50 = Field("", description="Required (1–50) for customer-info rules")
    enabled: bool = True
    tag_ids: TagIds = Field(default_factory=list, description="customer: 1–20 visitor tag ids")
    channel: RuleChannel | None = Field(None, description="channel rules only")
    association_id: BigInt | None = Field(None, description="association rules only")
    split: bool = Field(False, description="True: on_target in working time, off_target outside")
    time_plan_id: BigInt | None = Field(None, description="null = the system default plan")
    on_target: RuleTarget
    off_target: RuleTarget | None = None


class RoutingRulePatch(PatchModel):
    """Any field but `kind`; the merged rule is checked again as a whole."""

    nullable_fields = frozenset({"channel", "association_id", "time_plan_id", "off_target"})

    name: Line50 | None = None
    enabled: bool | None = None
    tag_ids: TagIds | None = None
    channel: RuleChannel | None = None
    association_id: BigInt | None = None
    split: bool | None = None
    time_plan_id: BigInt | None = None
    on_target: RuleTarget | None = None
    off_target: RuleTarget | None = None


class RoutingRuleOut(BaseModel):
    id: int
    kind: RuleKind
    name: str
    enabled: bool
    position: int
    tag_ids: list[int]
    channel: RuleChannel | None
    association_id: int | None
    split: bool
    time_plan_id: int | None
    on_target: RuleTargetOut
    off_target: RuleTargetOut | None
    created_at: datetime
    updated_at: datetime


class RuleOrderIn(Model):
    ids: Annotated[list[BigInt], Field(max_length=1000), AfterValidator(_distinct)] = Field(
        description="Every customer-info rule id, in the new order (first = strongest)"
    )


class DispatchSettingsIn(Model):
    rule_order: Annotated[list[RuleSource], AfterValidator(_permutation)] = Field(
        description='A permutation of "entry", "association", "channel"; strongest first'
    )
    priority_levels: Annotated[list[LevelTagIds], AfterValidator(_one_level_per_tag)] = Field(
        min_length=10, max_length=10, description="10 lists of visitor tag ids, level 1 first"
    )
    capacity_allocation: bool
    group_priority: GroupPriority = Field(description="Up to 5 skill group ids, highest first")
    returning_customer: ReturningMode = Field(
        description="Which agent a returning customer prefers; the switch "
        "returning_customer_first turns the preference on"
    )
    transfer_confirm_seconds: int = Field(ge=10, le=3600)


class DispatchSettingsOut(BaseModel):
    rule_order: list[RuleSource]
    priority_levels: list[list[int]]
    capacity_allocation: bool
    group_priority: list[int]
    returning_customer: ReturningMode
    transfer_confirm_seconds: int
    updated_at: datetime


class OverflowRuleIn(Model):
    name: Name50
    condition: OverflowCondition
    threshold: int | None = Field(
        None, ge=0, le=1000, description="x of “queue length > x”; null for all_offline"
    )
    overflow_group_id: BigInt | None = None
    notify: bool = False
    scope_group_ids: ScopeGroupIds = Field(
        default_factory=list, description="[] = every group, including Ungrouped"
    )
    enabled: bool = True


class OverflowRulePatch(PatchModel):
    nullable_fields = frozenset({"threshold", "overflow_group_id"})

    name: Name50 | None = None
    condition: OverflowCondition | None = None
    threshold: int | None = Field(None, ge=0, le=1000)
    overflow_group_id: BigInt | None = None
    notify: bool | None = None
    scope_group_ids: ScopeGroupIds | None = None
    enabled: bool | None = None


class OverflowRuleOut(BaseModel):
    id: int
    name: str
    condition: OverflowCondition
    threshold: int | None
    overflow_group_id: int | None
    notify: bool
    scope_group_ids: list[int]
    enabled: bool
    created_at: datetime
    updated_at: datetime


class WelcomeMenuItemIn(Model):
    label: Name30
    skill_group_id: BigInt


class WelcomeMenuIn(Model):
    items: list[WelcomeMenuItemIn] = Field(max_length=10)


class WelcomeMenuItemOut(BaseModel):
    id: int
    label: str
    skill_group_id: int


class WelcomeMenuOut(BaseModel):
    items: list[WelcomeMenuItemOut]
