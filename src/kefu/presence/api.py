"""HTTP routes: colleagues' presence, my status, and an admin forcing someone's status."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy import select

from kefu.access.guards import require_page
from kefu.access.principal import Principal, SignedIn
from kefu.accounts.access import get_user
from kefu.accounts.models import User
from kefu.api.deps import Db, UnitOfWorkRoute, client_ip
from kefu.approvals import actions as approvals
from kefu.approvals.schemas import MyStatusOut
from kefu.presence import actions
from kefu.presence.schemas import MyStatusIn, PresenceOut, StatusIn

router = APIRouter(tags=["presence"], route_class=UnitOfWorkRoute)
ManageAgents = require_page("admin.members.agents")
UserId = Annotated[int, Path(ge=1, le=2**53)]


@router.get("/presence", summary="Colleagues' statuses in my company")
async def list_presence(principal: SignedIn, db: Db) -> list[PresenceOut]:
    users = (
        await db.execute(
            select(User.id, User.nickname)
            .where(User.tenant_id == principal.tenant_id, User.enabled.is_(True))
            .order_by(User.id)
        )
    ).all()
    status = await actions.statuses(
        db, tenant_id=principal.tenant_id, user_ids=[u.id for u in users]
    )
    return [PresenceOut(user_id=u.id, nickname=u.nickname, status=status[u.id]) for u in users]


@router.put(
    "/me/status",
    summary="Switch my status (idle, busy, away, invisible)",
    description="When the tenant's `status_change_approval` switch is on and an agent leaves "
    "Idle, a `reason` is required (else 422 with field rule `reason_required`) and the change "
    "becomes a pending approval request: 202, the status unchanged, `approval` set.",
    responses={202: {"model": MyStatusOut, "description": "Sent for approval; status unchanged"}},
)
async def put_my_status(
    body: MyStatusIn, principal: SignedIn, db: Db, response: Response
) -> MyStatusOut:
    status, approval = await approvals.change_own_status(db, principal, body.status, body.reason)
    user = principal.user
    out = MyStatusOut(user_id=user.id, nickname=user.nickname, status=status)
    if approval is not None:
        response.status_code = 202
        out.approval = await approvals.view_one(db, approval)
    return out


@router.put(
    "/users/{user_id}/status",
    summary="Force a user's status (built-in Admin only; not for an offline user)",
)
async def force_user_status(
    user_id: UserId, body: StatusIn, request: Request, db: Db, principal: Principal = ManageAgents
) -> PresenceOut:
    actions.ensure_can_force(principal)
    user = await get_user(db, principal, user_id)
    status = await actions.force_status(db, principal, user, body.status, client_ip(request))
    return PresenceOut(user_id=user.id, nickname=user.nickname, status=status)
