"""Automation settings (§6, §7) and the workbench's overdue flags. (The visitor's leave message
moved to `kefu.leave_messages.api`.)"""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select

# The conversation hooks and timer handlers register on import (with the router, at start-up).
import kefu.automations.listeners  # noqa: F401
from kefu.access.guards import require_page
from kefu.access.principal import Principal, SignedIn
from kefu.api.deps import Db, UnitOfWorkRoute, client_ip
from kefu.automations import actions
from kefu.automations.models import AutomationState
from kefu.automations.schemas import (
    AutomationSettingsIn,
    AutomationSettingsOut,
    OverdueOut,
)
from kefu.conversations.models import Conversation

router = APIRouter(tags=["automations"], route_class=UnitOfWorkRoute)
ManageSwitches = require_page("admin.settings.switches")


@router.get("/automations/settings", summary="Greetings, system messages and timers (§6, §7)")
async def get_settings(db: Db, principal: SignedIn) -> AutomationSettingsOut:
    return await actions.read(db, principal.tenant)


@router.put("/automations/settings", summary="Replace the greetings, messages and timers")
async def put_settings(
    body: AutomationSettingsIn, request: Request, db: Db, principal: Principal = ManageSwitches
) -> AutomationSettingsOut:
    return await actions.replace(db, principal, body, client_ip(request))


@router.get(
    "/automations/overdue",
    summary="My ongoing conversations whose visitor waits too long for a reply (§7)",
)
async def my_overdue(db: Db, principal: SignedIn) -> list[OverdueOut]:
    rows = await db.execute(
        select(AutomationState.conversation_id, AutomationState.agent_overdue_at)
        .join(Conversation, Conversation.id == AutomationState.conversation_id)
        .where(
            AutomationState.tenant_id == principal.tenant_id,
            AutomationState.agent_overdue_at.is_not(None),
            Conversation.state == "ongoing",
            Conversation.agent_id == principal.user.id,
        )
        .order_by(AutomationState.agent_overdue_at)
    )
    return [OverdueOut(conversation_id=c, agent_overdue_at=at) for c, at in rows.all()]
