"""The welcome menu as the visitor sees it, and a visitor's choice (§5.10)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.channels.schemas import WelcomeMenuEntryOut
from kefu.conversations import actions
from kefu.conversations.dispatch import lock_tenant_dispatch
from kefu.conversations.models import Conversation, Message
from kefu.core import clock
from kefu.core.errors import ApiError, register_codes
from kefu.routing.models import SkillGroup, WelcomeMenuItem
from kefu.routing.queueing import place
from kefu.tenants.models import Tenant
from kefu.visitors.actions import VisitorPrincipal

register_codes(
    {
        "welcome_menu_off": (
            409,
            "当前没有可选的服务菜单",
            "There is no service menu to choose from right now",
        ),
    }
)


async def visible_menu(db: AsyncSession, tenant: Tenant) -> list[WelcomeMenuEntryOut]:
    """Items shown under the web welcome while the switch is on."""
    if not (tenant.switches or {}).get("welcome_menu", False):
        return []
    rows = await db.scalars(
        select(WelcomeMenuItem)
        .where(WelcomeMenuItem.tenant_id == tenant.id)
        .order_by(WelcomeMenuItem.position, WelcomeMenuItem.id)
    )
    return [WelcomeMenuEntryOut(id=r.id, label=r.label) for r in rows]


async def choose(
    db: AsyncSession, vp: VisitorPrincipal, item_id: int, client_msg_id: str
) -> Message:
    """The visitor clicked a menu item: their choice is their message, routed to its group.

    A conversation still waiting moves to the chosen group; an ongoing one only gets the message.
    """
    if not (vp.tenant.switches or {}).get("welcome_menu", False):
        raise ApiError("welcome_menu_off")
    item = await db.get(WelcomeMenuItem, item_id)
    if item is None or item.tenant_id != vp.tenant_id:
        raise ApiError("not_found")
    # Take the dispatch lock before the conversation row (as pickups and transfers do), so a
    # re-placement below cannot deadlock against them.
    await lock_tenant_dispatch(db, vp.tenant_id)
    entry = {**dict(vp.device.entry or {}), "menu_item": item.id}
    msg, replayed = await actions.visitor_send(
        db, vp, client_msg_id=client_msg_id, kind="text", body={"text": item.label}, entry=entry
    )
    if not msg.conversation_id:
        # A blacklisted visitor: the choice is accepted like any message and creates nothing.
        return msg
    conv = await db.get(Conversation, msg.conversation_id)
    assert conv is not None
    group = await db.get(SkillGroup, item.skill_group_id)
    target = None if group is None or group.builtin is not None else group.id
    if not replayed and conv.state == "waiting" and conv.skill_group_id != target:
        conv.skill_group_id = target
        conv.target_agent_id = None
        conv.routed_by = "menu"
        conv.queued_at = clock.now()
        await place(db, conv)
    return msg
