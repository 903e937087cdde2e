"""HTTP routes: colleagues' presence, my status, and an admin forcing someone's status."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from sqlalchemy import select

from kefu.access.guards import require_page
from kefu.access.principal import Principal, SignedIn
from kefu.accounts.access import get_user
from kefu.accounts.models import User
from kefu.api.deps import Db, UnitOfWorkRoute, client_ip
from kefu.presence import actions
from kefu.presence.schemas import PresenceOut, StatusIn

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


@router.put("/me/status", summary="Switch my status (idle, busy, away, invisible)")
async def put_my_status(body: StatusIn, principal: SignedIn, db: Db) -> PresenceOut:
    status = await actions.set_own_status(db, principal, body.status)
    user = principal.user
    return PresenceOut(user_id=user.id, nickname=user.nickname, status=status)


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
