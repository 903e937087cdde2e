"""Greetings sent when a conversation reaches a group or an agent (§6, §24).

All are system messages from the Dispatcher. The group greeting and the agent greeting go only
in the group's working time; outside it the group's off-hours message goes instead. The switch
"no greeting on transfer" suppresses both greetings (not the off-hours message) on transfers.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import User
from kefu.conversations import actions
from kefu.conversations.models import Conversation
from kefu.routing.models import SkillGroup
from kefu.tenants.models import Tenant
from kefu.visitors.models import Visitor

PLACEHOLDER = "##亲##"
DEFAULT_SALUTATION = "亲"


def salutation(tenant: Tenant, visitor: Visitor | None) -> str:
    """The visitor's nickname when it is valid (set, not the id), else the tenant's word."""
    name = (visitor.name if visitor is not None else "").strip()
    if name and visitor is not None and name != str(visitor.id):
        return name
    return str((tenant.switches or {}).get("greeting_salutation") or DEFAULT_SALUTATION)


async def fill(db: AsyncSession, tenant: Tenant, conv: Conversation, text: str) -> str:
    if PLACEHOLDER not in text:
        return text
    from kefu.automations.actions import salutation_word

    visitor = await db.get(Visitor, conv.visitor_id)
    name = (visitor.name if visitor is not None else "").strip()
    if name and visitor is not None and name != str(visitor.id):
        return text.replace(PLACEHOLDER, name)
    # The default word lives in the automation settings (the old switch key as a fallback).
    return text.replace(PLACEHOLDER, await salutation_word(db, tenant))


def _suppressed(tenant: Tenant, transfer: bool) -> bool:
    return transfer and bool((tenant.switches or {}).get("no_greeting_on_transfer", False))


async def on_group(
    db: AsyncSession,
    tenant: Tenant,
    conv: Conversation,
    group: SkillGroup,
    *,
    working: bool,
    transfer: bool,
) -> None:
    """The conversation was routed or transferred to `group`."""
    if not working:
        if group.off_hours_message.strip():
            await actions.system_message(db, conv, "off_hours", group.off_hours_message)
        return
    if group.greeting.strip() and not _suppressed(tenant, transfer):
        text = await fill(db, tenant, conv, group.greeting)
        await actions.system_message(db, conv, "group_greeting", text)


async def on_agent(
    db: AsyncSession,
    tenant: Tenant,
    conv: Conversation,
    agent: User,
    *,
    working: bool,
    transfer: bool,
) -> None:
    """The conversation was assigned or transferred to `agent`."""
    if not working or _suppressed(tenant, transfer):
        return
    if agent.greeting_enabled and agent.greeting_text.strip():
        text = await fill(db, tenant, conv, agent.greeting_text)
        await actions.system_message(db, conv, "agent_greeting", text)
