"""Blacklist routes (§3.9): add from a conversation or by visitor id; the admin list on the
Customer center's Blacklist tab (decide requests, remove, export)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from kefu.access.guards import require_any_page, require_page
from kefu.access.principal import Principal
from kefu.api.deps import Db, UnitOfWorkRoute, client_ip
from kefu.blacklist import actions
from kefu.blacklist.access import get_entry, visitor_for_customers
from kefu.blacklist.models import BlacklistEntry
from kefu.blacklist.schemas import (
    BlacklistAddIn,
    BlacklistAddOut,
    BlacklistEntryOut,
    BlacklistReasonIn,
    DecisionIn,
)
from kefu.conversations.access import conversation_for_staff, shares_broadcast
from kefu.core.errors import ApiError
from kefu.core.schemas import PageOut, PageParams
from kefu.visitors.models import Visitor

router = APIRouter(tags=["blacklist"], route_class=UnitOfWorkRoute)
Sessions = require_page("agent.sessions")
Customers = require_any_page("admin.customers", "agent.customers")
Manage = require_page("admin.customers")
Id = Annotated[int, Path(ge=1, le=2**53)]


async def added(db: Db, entry_and_ended: tuple[BlacklistEntry, int | None]) -> BlacklistAddOut:
    entry, ended = entry_and_ended
    return BlacklistAddOut(
        outcome="pending" if entry.state == "pending" else "applied",
        entry=await actions.view(db, entry),
        ended_conversation_id=ended,
    )


@router.post(
    "/conversations/{conversation_id}/blacklist",
    summary="Blacklist the visitor of my ongoing conversation (it ends at once, §3.9)",
)
async def blacklist_from_conversation(
    conversation_id: Id,
    body: BlacklistReasonIn,
    request: Request,
    db: Db,
    principal: Principal = Sessions,
) -> BlacklistAddOut:
    conv = await conversation_for_staff(db, principal, conversation_id)
    holder = conv.agent_id == principal.user.id or await shares_broadcast(db, principal, conv)
    if conv.state != "ongoing" or not holder:
        raise ApiError("conversation_not_yours")
    visitor = await db.get(Visitor, conv.visitor_id)
    assert visitor is not None
    return await added(
        db,
        await actions.add(
            db, principal, visitor, body.reason, conversation=conv, ip=client_ip(request)
        ),
    )


@router.post("/blacklist", summary="Blacklist a visitor by id (Customer center)")
async def blacklist_visitor(
    body: BlacklistAddIn, request: Request, db: Db, principal: Principal = Customers
) -> BlacklistAddOut:
    visitor = await visitor_for_customers(db, principal, body.visitor_id)
    return await added(
        db,
        await actions.add(
            db, principal, visitor, body.reason, conversation=None, ip=client_ip(request)
        ),
    )


EntryStateQ = Annotated[
    Literal["active", "pending", "rejected", "removed", "all"],
    Query(description="Entries in this state (default: in effect)"),
]
VisitorQ = Annotated[int | None, Query(ge=1, le=2**53, description="One visitor's entries")]


@router.get("/blacklist", summary="Blacklist entries, newest first")
async def list_blacklist(
    db: Db,
    params: Annotated[PageParams, Depends()],
    state: EntryStateQ = "active",
    visitor_id: VisitorQ = None,
    principal: Principal = Manage,
) -> PageOut[BlacklistEntryOut]:
    entries, total = await actions.page(
        db,
        tenant_id=principal.tenant_id,
        state=state,
        visitor_id=visitor_id,
        offset=params.offset,
        limit=params.page_size,
    )
    return PageOut[BlacklistEntryOut](
        items=await actions.views(db, entries),
        total=total,
        page=params.page,
        page_size=params.page_size,
    )


# Export: the `blacklist` export job kind (kefu.blacklist.exports, §14) via POST /exports.


@router.post("/blacklist/{entry_id}/approve", summary="Accept an agent's blacklist request")
async def approve_request(
    entry_id: Id,
    request: Request,
    db: Db,
    body: DecisionIn | None = None,
    principal: Principal = Manage,
) -> BlacklistEntryOut:
    entry = await get_entry(db, principal, entry_id, lock=True)
    await actions.decide(
        db,
        principal,
        entry,
        approve=True,
        comment=body.comment if body else "",
        ip=client_ip(request),
    )
    return await actions.view(db, entry)


@router.post("/blacklist/{entry_id}/reject", summary="Reject an agent's blacklist request")
async def reject_request(
    entry_id: Id,
    request: Request,
    db: Db,
    body: DecisionIn | None = None,
    principal: Principal = Manage,
) -> BlacklistEntryOut:
    entry = await get_entry(db, principal, entry_id, lock=True)
    await actions.decide(
        db,
        principal,
        entry,
        approve=False,
        comment=body.comment if body else "",
        ip=client_ip(request),
    )
    return await actions.view(db, entry)


@router.delete("/blacklist/{entry_id}", summary="Remove a visitor from the blacklist")
async def remove_entry(
    entry_id: Id, request: Request, db: Db, principal: Principal = Manage
) -> BlacklistEntryOut:
    entry = await get_entry(db, principal, entry_id, lock=True)
    await actions.remove(db, principal, entry, ip=client_ip(request))
    return await actions.view(db, entry)
