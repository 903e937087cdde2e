"""Permission-checked fetches of the waiting queue and transfer requests."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.conversations.models import Conversation
from kefu.core.errors import ApiError
from kefu.routing.models import TransferRequest
from kefu.routing.queueing import in_my_queue, is_queue_admin


async def waiting_for_staff(
    db: AsyncSession, principal: Principal, conversation_id: int
) -> Conversation:
    """A waiting conversation in the caller's queue (admins: any); otherwise 404."""
    conv = await db.scalar(
        select(Conversation).where(
            Conversation.id == conversation_id, Conversation.tenant_id == principal.tenant_id
        )
    )
    if conv is None or not await in_my_queue(db, principal, conv):
        raise ApiError("not_found")
    return conv


def require_queue_admin(principal: Principal) -> None:
    if not is_queue_admin(principal):
        raise ApiError("forbidden")


async def incoming_request(
    db: AsyncSession, principal: Principal, request_id: int
) -> TransferRequest:
    """A transfer request addressed to the caller."""
    req = await db.scalar(
        select(TransferRequest).where(
            TransferRequest.id == request_id,
            TransferRequest.tenant_id == principal.tenant_id,
            TransferRequest.to_agent_id == principal.user.id,
        )
    )
    if req is None:
        raise ApiError("not_found")
    return req
