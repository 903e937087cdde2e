"""Approval management routes (§15.4): the Approvals page lists and decides requests."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from kefu.access.guards import require_page
from kefu.access.principal import Principal
from kefu.api.deps import Db, UnitOfWorkRoute, client_ip
from kefu.approvals import actions
from kefu.approvals.access import get_approval
from kefu.approvals.schemas import ApprovalOut, DecisionIn
from kefu.core.schemas import PageOut, PageParams

router = APIRouter(prefix="/approvals", tags=["approvals"], route_class=UnitOfWorkRoute)
Approvals = require_page("admin.approvals")
ApprovalId = Annotated[int, Path(ge=1, le=2**53)]


@router.get("", summary="Approval requests of my company, newest first")
async def list_approvals(
    db: Db,
    params: Annotated[PageParams, Depends()],
    state: Annotated[
        Literal["pending", "approved", "rejected", "all"],
        Query(description="Only requests in this state; `all` includes cancelled ones"),
    ] = "pending",
    principal: Principal = Approvals,
) -> PageOut[ApprovalOut]:
    items, total = await actions.page(
        db,
        tenant_id=principal.tenant_id,
        state=state,
        offset=params.offset,
        limit=params.page_size,
    )
    return PageOut[ApprovalOut](
        items=items, total=total, page=params.page, page_size=params.page_size
    )


async def _decide(
    db: Db,
    principal: Principal,
    approval_id: int,
    body: DecisionIn | None,
    request: Request,
    *,
    approve: bool,
) -> ApprovalOut:
    approval = await get_approval(db, principal, approval_id, lock=True)
    await actions.decide(
        db,
        principal,
        approval,
        approve=approve,
        comment=body.comment if body else "",
        ip=client_ip(request),
    )
    return await actions.view_one(db, approval)


@router.post(
    "/{approval_id}/approve",
    summary="Approve a request (a status change is applied at once)",
)
async def approve(
    approval_id: ApprovalId,
    request: Request,
    db: Db,
    body: DecisionIn | None = None,
    principal: Principal = Approvals,
) -> ApprovalOut:
    return await _decide(db, principal, approval_id, body, request, approve=True)


@router.post("/{approval_id}/reject", summary="Reject a request")
async def reject(
    approval_id: ApprovalId,
    request: Request,
    db: Db,
    body: DecisionIn | None = None,
    principal: Principal = Approvals,
) -> ApprovalOut:
    return await _decide(db, principal, approval_id, body, request, approve=False)
