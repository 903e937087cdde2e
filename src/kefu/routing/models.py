"""Routing configuration (SPEC §5): time plans, skill groups, routing, dispatch and overflow rules,
the welcome menu, favourite groups and pending transfer confirmations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, BigId, IdMixin, UTCDateTime


class TimePlan(IdMixin, Base):
    """Weekly working ranges plus custom working days, minus whole-day holidays (§5.1)."""

    __tablename__ = "time_plans"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_time_plans_name"),)

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(50))
    # The system default plan: always exists, cannot be deleted or renamed.
    is_default: Mapped[bool] = mapped_column(default=False)
    # ISO weekday "1" (Monday) .. "7" (Sunday) -> [["09:00", "18:00"], ...] in the tenant's zone.
    weekly: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # [{"date": "2026-10-10", "ranges": [["09:00", "18:00"]]}] -- working on an unusual day.
    workdays: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # ["2026-10-01", ...] -- whole days off.
    holidays: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SkillGroup(IdMixin, Base):
    __tablename__ = "skill_groups"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_skill_groups_name"),)

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(30))
    # "ungrouped" for the built-in group of agents in no other group; None for ordinary groups.
    builtin: Mapped[str | None] = mapped_column(String(20), nullable=True)
    greeting: Mapped[str] = mapped_column(Text, default="")
    # None = the system default plan.
    time_plan_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("time_plans.id", ondelete="SET NULL"), nullable=True
    )
    off_hours_message: Mapped[str] = mapped_column(Text, default="")
    # balanced (§5.5) | least_loaded (§5.12 a) | broadcast (§5.12 b)
    assignment_mode: Mapped[str] = mapped_column(String(20), default="balanced")
    # least_loaded: prefer the agent who served this visitor before.
    prefer_previous: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SkillGroupMember(IdMixin, Base):
    __tablename__ = "skill_group_members"
    __table_args__ = (
        UniqueConstraint("skill_group_id", "user_id", name="uq_skill_group_members"),
        Index("ix_skill_group_members_user", "user_id"),
    )

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    skill_group_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("skill_groups.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FavouriteGroup(IdMixin, Base):
    """A user's favourite skill groups for the transfer dialog (§24)."""

    __tablename__ = "favourite_groups"
    __table_args__ = (UniqueConstraint("user_id", "skill_group_id", name="uq_favourite_groups"),)

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    skill_group_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("skill_groups.id", ondelete="CASCADE")
    )


class RoutingRule(IdMixin, Base):
    """A customer-info, channel or association rule (§5.3); entry targets come with the visit."""

    __tablename__ = "routing_rules"
    __table_args__ = (Index("ix_routing_rules_tenant_kind", "tenant_id", "kind", "position"),)

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))  # customer | channel | association
    name: Mapped[str] = mapped_column(String(50), default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    # Drag order among customer-info rules (lower first).
    position: Mapped[int] = mapped_column(default=0)
    # customer: visitor tag ids, any of which matches.
    tag_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    channel: Mapped[str | None] = mapped_column(String(10), nullable=True)
    association_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("associations.id", ondelete="CASCADE"), nullable=True
    )
    # False: all day (on_target); True: on_target in working time, off_target outside it.
    split: Mapped[bool] = mapped_column(default=False)
    time_plan_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("time_plans.id", ondelete="SET NULL"), nullable=True
    )
    on_target_type: Mapped[str] = mapped_column(String(10))  # group | robot | agent
    on_target_id: Mapped[int] = mapped_column(BigId)
    off_target_type: Mapped[str | None] = mapped_column(String(10), nullable=True)
    off_target_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DispatchSettings(IdMixin, Base):
    """One row per tenant: rule priority, customer levels, group priority, returning customers."""

    __tablename__ = "dispatch_settings"

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), unique=True
    )
    # Channel, association and entry rules, strongest first (§5.3 drag priority).
    rule_order: Mapped[list[Any]] = mapped_column(
        JSON, default=lambda: ["entry", "association", "channel"]
    )
    # Customer-level priority (§5.6): [[tag ids of level 1], ..., [level 10]]; level 1 first.
    priority_levels: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Agent capacity allocation (§5.6): up to 5 skill group ids, highest priority first.
    capacity_allocation: Mapped[bool] = mapped_column(default=False)
    group_priority: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Returning-customer preference (§5.7): off | last | most
    returning_customer: Mapped[str] = mapped_column(String(10), default="off")
    # Transfer confirmation expiry in seconds (§3.5).
    transfer_confirm_seconds: Mapped[int] = mapped_column(default=60)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OverflowRule(IdMixin, Base):
    __tablename__ = "overflow_rules"

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(50))
    condition: Mapped[str] = mapped_column(String(20))  # queue_length | all_offline
    threshold: Mapped[int | None] = mapped_column(nullable=True)  # x of "queue length > x"
    overflow_group_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("skill_groups.id", ondelete="SET NULL"), nullable=True
    )
    notify: Mapped[bool] = mapped_column(default=False)
    # Empty list = every skill group (including Ungrouped); otherwise the groups named.
    scope_group_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WelcomeMenuItem(IdMixin, Base):
    """An item of the welcome menu (§5.10) that routes the visitor to a skill group."""

    __tablename__ = "welcome_menu_items"

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(String(30))
    skill_group_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("skill_groups.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(default=0)


class TransferRequest(IdMixin, Base):
    """A transfer waiting for the target agent's confirmation (§3.5)."""

    __tablename__ = "transfer_requests"
    __table_args__ = (Index("ix_transfer_requests_target", "to_agent_id", "state"),)

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    from_agent_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    to_agent_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    # The group the target was chosen in (precise skill-group statistics).
    to_group_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    # pending | accepted | rejected | expired | cancelled
    state: Mapped[str] = mapped_column(String(20), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
