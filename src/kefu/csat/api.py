"""Satisfaction routes (§10.1): settings, the agent's invitation, the visitor's rating."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from kefu.access.guards import require_page
from kefu.access.principal import Principal
from kefu.api.deps import Db, UnitOfWorkRoute, client_ip
from kefu.chat.visitor_api import VisitorIn
from kefu.conversations.access import conversation_for_staff, conversation_for_visitor
from kefu.csat import actions
from kefu.csat.schemas import CsatSettingsIn, CsatSettingsOut, RateIn, StaffCsatOut, VisitorCsatOut

router = APIRouter(tags=["csat"], route_class=UnitOfWorkRoute)
ManageCsat = require_page("admin.settings.csat")
Sessions = require_page("agent.sessions")
ConvId = Annotated[int, Path(ge=1, le=2**53)]


@router.get("/csat/settings", summary="Satisfaction invitation settings (§10.1)")
async def get_csat_settings(db: Db, principal: Principal = ManageCsat) -> CsatSettingsOut:
    return await actions.get_settings(db, principal.tenant_id)


@router.put("/csat/settings", summary="Replace the satisfaction invitation settings")
async def put_csat_settings(
    body: CsatSettingsIn, request: Request, db: Db, principal: Principal = ManageCsat
) -> CsatSettingsOut:
    return await actions.put_settings(db, principal, body, client_ip(request))


@router.get(
    "/conversations/{conversation_id}/csat",
    summary="The conversation's satisfaction state (scores only for satisfaction-record viewers)",
)
async def get_conversation_csat(
    conversation_id: ConvId, db: Db, principal: Principal = Sessions
) -> StaffCsatOut:
    conv = await conversation_for_staff(db, principal, conversation_id)
    return await actions.staff_view(db, principal, conv)


@router.post(
    "/conversations/{conversation_id}/csat-invite",
    status_code=201,
    summary="Invite the visitor to rate: ongoing only, the holder only, once per conversation",
)
async def invite_csat(
    conversation_id: ConvId, db: Db, principal: Principal = Sessions
) -> StaffCsatOut:
    conv = await conversation_for_staff(db, principal, conversation_id)
    await actions.invite(db, principal, conv)
    return await actions.staff_view(db, principal, conv)


@router.get(
    "/visitor/csat", summary="Rating card of one of my conversations: options and my rating"
)
async def get_visitor_csat(
    vp: VisitorIn, db: Db, conversation_id: Annotated[int, Query(ge=1, le=2**53)]
) -> VisitorCsatOut:
    conv = await conversation_for_visitor(db, vp, conversation_id)
    return await actions.visitor_view(db, vp, conv)


@router.post("/visitor/csat", summary="Rate one of my conversations (1–5 stars, tags, comment)")
async def post_visitor_csat(body: RateIn, vp: VisitorIn, db: Db) -> VisitorCsatOut:
    conv = await conversation_for_visitor(db, vp, body.conversation_id)
    await actions.rate(db, vp, conv, body)
    return await actions.visitor_view(db, vp, conv)
