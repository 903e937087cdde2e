"""Message center routes (§15.1): every signed-in user reads only their own notices."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from kefu.access.principal import SignedIn
from kefu.api.deps import Db, UnitOfWorkRoute
from kefu.core.schemas import PageOut, PageParams
from kefu.notifications import actions
from kefu.notifications.access import own_notification
from kefu.notifications.schemas import NotificationOut, UnreadCountOut

router = APIRouter(prefix="/notifications", tags=["notifications"], route_class=UnitOfWorkRoute)
NotificationId = Annotated[int, Path(ge=1, le=2**53)]


@router.get("", summary="My message-center notices, newest first")
async def list_notifications(
    principal: SignedIn,
    db: Db,
    params: Annotated[PageParams, Depends()],
    unread_only: Annotated[bool, Query(description="Only notices not read yet")] = False,
) -> PageOut[NotificationOut]:
    # Always newest first (§15.1); `sort` is accepted like on every list and not used.
    rows, total = await actions.page(
        db,
        principal.user,
        unread_only=unread_only,
        offset=params.offset,
        limit=params.page_size,
    )
    return PageOut[NotificationOut](
        items=[actions.view(n) for n in rows],
        total=total,
        page=params.page,
        page_size=params.page_size,
    )


@router.get("/unread-count", summary="How many of my notices are unread")
async def unread_count(principal: SignedIn, db: Db) -> UnreadCountOut:
    return UnreadCountOut(unread=await actions.unread_count(db, principal.user))


@router.post("/read-all", status_code=204, summary="Mark my notices read")
async def read_all(
    principal: SignedIn,
    db: Db,
    up_to_id: Annotated[
        int | None,
        Query(
            ge=1,
            le=2**53,
            description="Only notices with an id up to this one (the newest the reader has seen)",
        ),
    ] = None,
) -> None:
    await actions.mark_all_read(db, principal.user, up_to_id=up_to_id)


@router.post("/{notification_id}/read", status_code=204, summary="Mark one of my notices read")
async def read_one(notification_id: NotificationId, principal: SignedIn, db: Db) -> None:
    actions.mark_read(await own_notification(db, principal, notification_id))
