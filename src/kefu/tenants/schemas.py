"""Enterprise info, system switches and platform provisioning bodies."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Annotated
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, Field

from kefu.core.schemas import Email, Line200, Mobile, Model, Name100, PatchModel, Text500


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _zone(value: str) -> str:
    if value not in _zones():
        raise ValueError("time_zone|不是有效的时区|is not a known time zone")
    return value


TimeZone = Annotated[str, Field(max_length=64), AfterValidator(_zone)]
Seats = Annotated[int, Field(ge=1, le=100_000)]


class TenantOut(BaseModel):
    id: int
    name: str
    logo_url: str
    phone: str
    address: str
    remark: str
    seats: int
    seats_used: int
    expires_at: datetime | None
    time_zone: str
    max_concurrent_ceiling: int
    created_at: datetime


class TenantPatch(PatchModel):
    name: Name100 | None = None
    phone: Mobile | None = None
    address: Line200 | None = None
    remark: Text500 | None = None
    time_zone: TimeZone | None = None


class SwitchesOut(BaseModel):
    agent_custom_max_concurrent: bool
    status_change_approval: bool = Field(
        description="Agents leaving Idle need an admin's approval (§2.1)"
    )
    manual_pickup: bool = Field(True, description="Agents may accept waiting conversations (§3.3)")
    waiting_detail: bool = Field(
        False, description="Agents may read a waiting conversation's messages (§3.3)"
    )
    dispatch_only_in_hours: bool = Field(
        False, description="Auto-assign only in the skill group's working time (§5.4)"
    )
    returning_customer_first: bool = Field(
        False, description="Prefer the agent who served the customer before (§5.7)"
    )
    transfer_confirmation: bool = Field(
        False, description="A transfer waits for the target agent to accept (§3.5)"
    )
    precise_group_stats: bool = Field(
        False, description="The transfer dialog is organised by skill group (§3.5)"
    )
    no_greeting_on_transfer: bool = Field(
        False, description="Transfers send neither group nor agent greetings (§6)"
    )
    welcome_menu: bool = Field(
        False, description="The welcome message shows menu items bound to skill groups (§5.10)"
    )
    session_tag_required: bool = Field(
        False, description="Ending a conversation needs at least one session tag (§3.7)"
    )
    blacklist_approval: bool = Field(
        False, description="An agent's blacklisting takes effect after an admin approves (§3.9)"
    )
    csat_one_side_no_invite: bool = Field(
        False, description="No automatic rating invitation when only one side spoke (§10.1)"
    )
    csat_first_rating_only: bool = Field(
        False, description="A visitor rating again keeps the first rating, not the last (§10.1)"
    )
    csat_no_invite_on_auto_end: bool = Field(
        False, description="No rating invitation when the system ended the conversation (§10.1)"
    )
    csat_shared: bool = Field(
        True, description="The rating counts for every agent of the conversation (§10.1)"
    )
    csat_reverse_menu: bool = Field(
        False, description="Number the text rating menu from 5 down to 1 (§10.1)"
    )
    customer_center_for_agents: bool = Field(
        False, description="Agent mode shows the Customer center (§12.1)"
    )


class SwitchesPatch(PatchModel):
    agent_custom_max_concurrent: bool | None = None
    status_change_approval: bool | None = None
    manual_pickup: bool | None = None
    waiting_detail: bool | None = None
    dispatch_only_in_hours: bool | None = None
    returning_customer_first: bool | None = None
    transfer_confirmation: bool | None = None
    precise_group_stats: bool | None = None
    no_greeting_on_transfer: bool | None = None
    welcome_menu: bool | None = None
    session_tag_required: bool | None = None
    blacklist_approval: bool | None = None
    csat_one_side_no_invite: bool | None = None
    csat_first_rating_only: bool | None = None
    csat_no_invite_on_auto_end: bool | None = None
    csat_shared: bool | None = None
    csat_reverse_menu: bool | None = None
    customer_center_for_agents: bool | None = None


class ProvisionIn(Model):
    name: Name100
    admin_email: Email
    seats: Seats = 5
    expires_at: datetime | None = None
    time_zone: TimeZone = "Asia/Shanghai"
    max_concurrent_ceiling: Annotated[int, Field(ge=100, le=200)] = 100


class ProvisionOut(BaseModel):
    login_url: str
    username: str
    password: str = Field(description="Shown once; Kefu keeps only its hash")
    tenant_id: int


class PlatformTenantOut(BaseModel):
    id: int
    name: str
    seats: int
    seats_used: int
    expires_at: datetime | None
    max_concurrent_ceiling: int
    created_at: datetime


class PlatformTenantPatch(PatchModel):
    nullable_fields = frozenset({"expires_at"})

    seats: Seats | None = None
    expires_at: datetime | None = None
    max_concurrent_ceiling: Annotated[int, Field(ge=100, le=200)] | None = None
