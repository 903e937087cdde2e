"""Transfers (§3.5, §3.6): targets, transfer, confirmations; reassigning history (§3.10)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from sqlalchemy import select

from kefu.access.guards import require_any_page, require_page
from kefu.access.principal import Principal
from kefu.api.deps import Db, UnitOfWorkRoute
from kefu.conversations.access import conversation_for_staff
from kefu.conversations.models import Conversation
from kefu.conversations.presenters import conversation_view
from kefu.conversations.schemas import ConversationOut
from kefu.core.errors import ApiError
from kefu.routing import transfers
from kefu.routing.access import incoming_request
from kefu.routing.models import TransferRequest
from kefu.routing.targets import transfer_targets
from kefu.routing.waiting_schemas import (
    TransferIn,
    TransferOut,
    TransferRequestOut,
    TransferTargetsOut,
)

router = APIRouter(tags=["transfers"], route_class=UnitOfWorkRoute)
Sessions = require_page("agent.sessions")
Transferring = require_any_page("agent.sessions", "agent.waiting")
Reassigning = require_page("admin.history")
ConvId = Annotated[int, Path(ge=1, le=2**53)]
ReqId = Annotated[int, Path(ge=1, le=2**53)]


@router.get("/transfer-targets", summary="Agents and skill groups I may transfer to")
async def list_targets(db: Db, principal: Principal = Transferring) -> TransferTargetsOut:
    return await transfer_targets(db, principal)


@router.post("/conversations/{conversation_id}/transfer", summary="Transfer my conversation")
async def transfer_conversation(
    conversation_id: ConvId, body: TransferIn, db: Db, principal: Principal = Sessions
) -> TransferOut:
    conv = await conversation_for_staff(db, principal, conversation_id)
    outcome, req = await transfers.transfer(
        db,
        principal,
        conv,
        agent_id=body.agent_id,
        skill_group_id=body.skill_group_id,
        from_queue=False,
    )
    return TransferOut(
        outcome=outcome,
        conversation=ConversationOut(**await conversation_view(db, conv, "staff")),
        request=await transfers.request_view(db, req) if req is not None else None,
    )


@router.get("/transfer-requests", summary="Transfers waiting for my confirmation")
async def my_requests(db: Db, principal: Principal = Sessions) -> list[TransferRequestOut]:
    rows = await db.scalars(
        select(TransferRequest)
        .where(
            TransferRequest.tenant_id == principal.tenant_id,
            TransferRequest.to_agent_id == principal.user.id,
            TransferRequest.state == "pending",
        )
        .order_by(TransferRequest.id)
    )
    return [await transfers.request_view(db, r) for r in rows]


@router.post("/transfer-requests/{request_id}/accept", summary="Accept a transfer")
async def accept(request_id: ReqId, db: Db, principal: Principal = Sessions) -> TransferRequestOut:
    req = await incoming_request(db, principal, request_id)
    await transfers.decide(db, principal, req, accept=True)
    return await transfers.request_view(db, req)


@router.post("/transfer-requests/{request_id}/reject", summary="Reject a transfer")
async def reject(request_id: ReqId, db: Db, principal: Principal = Sessions) -> TransferRequestOut:
    req = await incoming_request(db, principal, request_id)
    await transfers.decide(db, principal, req, accept=False)
    return await transfers.request_view(db, req)


@router.post(
    "/conversations/{conversation_id}/reassign",
    status_code=201,
    summary="Admins: a new conversation for an ended one's visitor (§3.10)",
)
async def reassign(
    conversation_id: ConvId, body: TransferIn, db: Db, principal: Principal = Reassigning
) -> ConversationOut:
    conv = await db.scalar(
        select(Conversation).where(
            Conversation.id == conversation_id, Conversation.tenant_id == principal.tenant_id
        )
    )
    if conv is None:
        raise ApiError("not_found")
    new = await transfers.reassign(
        db, principal, conv, agent_id=body.agent_id, skill_group_id=body.skill_group_id
    )
    return ConversationOut(**await conversation_view(db, new, "staff"))
