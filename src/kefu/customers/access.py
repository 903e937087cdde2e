"""Who sees which customer (§12.1).

Agent mode (page `agent.customers`, shown only while the tenant switch
`customer_center_for_agents` is on): the customers the caller served, i.e. took part in one of
their conversations. Admin mode (page `admin.customers`): the customers served by the agents of
the caller's Customers data scope; with the whole tenant in scope, every customer who ever
opened a conversation plus the imported ones (§12.5).

A single profile (`GET/PATCH /customers/{id}`) is also open to the workbench, History and
Current sessions pages for the customers those pages show: a customer the caller served; with
admin History, one served by an agent of the caller's History scope; with Current sessions, one
in an ongoing conversation the caller may monitor (§3.11, §12.2).
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.access.scopes import visible_agent_ids
from kefu.conversations.models import Conversation, Segment
from kefu.core.errors import ApiError
from kefu.visitors.models import Visitor

Mode = Literal["agent", "admin"]
AGENT_PAGE = "agent.customers"
ADMIN_PAGE = "admin.customers"
MONITOR_PAGE = "admin.current_sessions"
# Pages whose screens show a customer's profile (§12.2: Session, History, Customer center,
# Current sessions).
PROFILE_PAGES = (
    AGENT_PAGE,
    ADMIN_PAGE,
    "agent.sessions",
    "agent.history",
    "admin.history",
    MONITOR_PAGE,
)
ADMIN_PROFILE_PAGES = frozenset({ADMIN_PAGE, "admin.history", MONITOR_PAGE})


def served_by(agent_ids: set[int]) -> ColumnElement[bool]:
    """The visitor has a conversation one of `agent_ids` took part in."""
    return exists(
        select(Segment.id)
        .join(Conversation, Conversation.id == Segment.conversation_id)
        .where(Conversation.visitor_id == Visitor.id, Segment.agent_id.in_(agent_ids))
    )


def has_conversation() -> ColumnElement[bool]:
    return exists(select(Conversation.id).where(Conversation.visitor_id == Visitor.id))


def default_mode(principal: Principal) -> Mode:
    return "admin" if ADMIN_PAGE in principal.pages else "agent"


async def list_scope(db: AsyncSession, principal: Principal, mode: Mode) -> ColumnElement[bool]:
    """The condition a visitor meets to be listed in `mode`; a mode whose page the caller
    lacks is refused (403)."""
    if mode == "admin":
        if ADMIN_PAGE not in principal.pages:
            raise ApiError("forbidden")
        agents = await visible_agent_ids(db, principal, "customers")
        if agents is None:
            return or_(has_conversation(), Visitor.source == "import")
        return served_by(agents | {principal.user.id})
    if AGENT_PAGE not in principal.pages:
        raise ApiError("forbidden")
    return served_by({principal.user.id})


def profile_mode(principal: Principal, wanted: Mode | None) -> Mode:
    """Admin mode (every field, admin-only groups) needs an admin page that shows profiles."""
    admin_ok = bool(principal.pages & ADMIN_PROFILE_PAGES)
    if wanted == "admin" and not admin_ok:
        raise ApiError("forbidden")
    if wanted is None:
        return "admin" if ADMIN_PAGE in principal.pages else "agent"
    return wanted


async def customer_for_staff(db: AsyncSession, principal: Principal, visitor_id: int) -> Visitor:
    """A visitor of the caller's tenant whom one of the caller's pages shows; else 404."""
    visitor = await db.scalar(
        select(Visitor).where(Visitor.id == visitor_id, Visitor.tenant_id == principal.tenant_id)
    )
    if visitor is None:
        raise ApiError("not_found")
    pages = principal.pages
    conditions: list[ColumnElement[bool]] = []
    if ADMIN_PAGE in pages:
        conditions.append(await list_scope(db, principal, "admin"))
    if "admin.history" in pages:
        agents = await visible_agent_ids(db, principal, "history")
        conditions.append(
            has_conversation() if agents is None else served_by(agents | {principal.user.id})
        )
    if pages & {AGENT_PAGE, "agent.sessions", "agent.history"}:
        conditions.append(served_by({principal.user.id}))
    if MONITOR_PAGE in pages:
        agents = await visible_agent_ids(db, principal, "current_sessions")
        live = [Conversation.visitor_id == Visitor.id, Conversation.state == "ongoing"]
        if agents is not None:
            live.append(Conversation.agent_id.in_(agents))  # as `staff_can_see`
        conditions.append(exists(select(Conversation.id).where(*live)))
    if conditions:
        seen = await db.scalar(select(Visitor.id).where(Visitor.id == visitor.id, or_(*conditions)))
        if seen is not None:
            return visitor
    raise ApiError("not_found")


async def conversation_scope(
    db: AsyncSession, principal: Principal, mode: Mode
) -> ColumnElement[bool] | None:
    """Which of a customer's conversations the interaction records show: agent mode, the
    caller's own (§3.10 continuous reading); admin mode, those of the caller's scope."""
    if mode == "admin":
        if ADMIN_PAGE not in principal.pages:
            raise ApiError("forbidden")
        agents = await visible_agent_ids(db, principal, "customers")
        if agents is None:
            return None
        ids = agents | {principal.user.id}
    else:
        if AGENT_PAGE not in principal.pages:
            raise ApiError("forbidden")
        ids = {principal.user.id}
    return exists(
        select(Segment.id).where(
            Segment.conversation_id == Conversation.id, Segment.agent_id.in_(ids)
        )
    )
