"""Colleague chat routes (§4.9): any signed-in user of the company with each other."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from kefu.access.principal import SignedIn
from kefu.accounts.access import get_user
from kefu.api.deps import Db, UnitOfWorkRoute
from kefu.colleagues import actions
from kefu.colleagues.schemas import ColleagueMessageOut, ColleagueSendIn, ColleagueUnreadOut

router = APIRouter(prefix="/colleagues", tags=["colleagues"], route_class=UnitOfWorkRoute)
UserId = Annotated[int, Path(ge=1, le=2**53)]


@router.get("/unread", summary="Unread colleague messages by sender")
async def unread(principal: SignedIn, db: Db) -> list[ColleagueUnreadOut]:
    counts = await actions.unread_counts(db, principal.user)
    return [ColleagueUnreadOut(user_id=u, unread=n) for u, n in sorted(counts.items())]


@router.get("/{user_id}/messages", summary="My conversation with a colleague, oldest first")
async def messages(
    user_id: UserId,
    principal: SignedIn,
    db: Db,
    before_id: Annotated[int | None, Query(ge=1, le=2**53)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> list[ColleagueMessageOut]:
    other = await get_user(db, principal, user_id)
    rows = await actions.thread(db, principal.user, other, before_id=before_id, limit=limit)
    return [actions.view(m) for m in rows]


@router.post(
    "/{user_id}/messages",
    status_code=201,
    summary="Send a colleague a message (kept for them if offline; idempotent)",
)
async def send(
    user_id: UserId, body: ColleagueSendIn, response: Response, principal: SignedIn, db: Db
) -> ColleagueMessageOut:
    other = await get_user(db, principal, user_id)
    msg, replayed = await actions.send(
        db, principal.user, other, client_msg_id=body.client_msg_id, text=body.text
    )
    if replayed:
        response.status_code = 200
    return actions.view(msg, replayed)


@router.post("/{user_id}/read", status_code=204, summary="Mark a colleague's messages read")
async def read(user_id: UserId, principal: SignedIn, db: Db) -> None:
    other = await get_user(db, principal, user_id)
    await actions.mark_read(db, principal.user, other)
