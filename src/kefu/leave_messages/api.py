"""Leave messages (§11.1): the visitor's form, the agent and admin lists, lookup by number,
assign / status / comment (one or a batch), and the menu badge."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy import func, select

import kefu.leave_messages.exports  # noqa: F401  (registers the export kind at start-up)
from kefu.access.principal import Principal
from kefu.api.deps import Db, UnitOfWorkRoute
from kefu.chat.visitor_api import VisitorIn
from kefu.core.errors import ApiError
from kefu.core.schemas import Line20, Line50, PageOut, PageParams
from kefu.leave_messages import access, actions, presenters
from kefu.leave_messages.schemas import (
    AgentView,
    AssignIn,
    BadgeOut,
    BatchAssignIn,
    BatchOut,
    BatchStatusIn,
    CommentIn,
    CommentOut,
    LeaveFilter,
    LeaveMessageCreated,
    LeaveMessageDetail,
    LeaveMessageIn,
    LeaveMessageOut,
    LeaveOfferOut,
    Status,
    StatusIn,
    UserRef,
)

router = APIRouter(tags=["leave-messages"], route_class=UnitOfWorkRoute)
ItemId = Annotated[int, Path(ge=1, le=2**53)]


# --- visitor ---------------------------------------------------------------------------------


@router.get(
    "/visitor/leave-message/offer",
    summary="Whether the widget should offer the leave-message form now (off hours, waiting)",
)
async def get_offer(db: Db, vp: VisitorIn) -> LeaveOfferOut:
    o = await actions.offer(db, vp)
    return LeaveOfferOut(off_hours=o.off_hours, waiting=o.waiting)


@router.post(
    "/visitor/leave-message",
    status_code=201,
    summary="The visitor leaves a message: while waiting (ends the conversation) or off hours",
)
async def post_leave_message(body: LeaveMessageIn, db: Db, vp: VisitorIn) -> LeaveMessageCreated:
    msg = await actions.leave_message(db, vp, body)
    return LeaveMessageCreated(
        id=msg.id,
        number=msg.number,
        conversation_id=msg.conversation_id,
        created_at=msg.created_at,
    )


# --- staff: reading -------------------------------------------------------------------------


def _filter(
    mode: Annotated[
        Literal["agent", "admin"] | None,
        Query(description="Default: admin when I have the admin page, else agent"),
    ] = None,
    view: Annotated[AgentView, Query(description="Agent views (mode=agent)")] = "unhandled",
    status: Annotated[Status | None, Query()] = None,
    agent_id: Annotated[int | None, Query(ge=1, le=2**53)] = None,
    agent: Annotated[Line50, Query(description="Fuzzy agent nickname (admin)")] = "",
    assigned: Annotated[bool | None, Query()] = None,
    sender: Annotated[Line50, Query()] = "",
    channel: Annotated[Line20, Query()] = "",
    created_from: Annotated[datetime | None, Query()] = None,
    created_to: Annotated[datetime | None, Query()] = None,
    updated_from: Annotated[datetime | None, Query()] = None,
    updated_to: Annotated[datetime | None, Query()] = None,
) -> LeaveFilter:
    return LeaveFilter(
        mode=mode or "agent",
        view=view,
        status=status,
        agent_id=agent_id,
        agent=agent,
        assigned=assigned,
        sender=sender,
        channel=channel,
        created_from=created_from,
        created_to=created_to,
        updated_from=updated_from,
        updated_to=updated_to,
    )


def check_mode(principal: Principal, mode: str) -> None:
    page = actions.ADMIN_PAGE if mode == "admin" else actions.AGENT_PAGE
    if page not in principal.pages:
        raise ApiError("forbidden")


@router.get(
    "/leave-messages",
    summary="A list of leave messages: agent views (mine by status, unassigned, filter) or all",
)
async def list_leave_messages(
    db: Db,
    f: Annotated[LeaveFilter, Depends(_filter)],
    params: Annotated[PageParams, Depends()],
    principal: Principal = access.AnyLeavePage,
    mode: Annotated[Literal["agent", "admin"] | None, Query(include_in_schema=False)] = None,
) -> PageOut[LeaveMessageOut]:
    if mode is None and actions.ADMIN_PAGE in principal.pages:
        f = f.model_copy(update={"mode": "admin"})
    check_mode(principal, f.mode)
    stmt = actions.listing(principal, f)
    total = int(await db.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = list(await db.scalars(stmt.offset(params.offset).limit(params.page_size)))
    return PageOut[LeaveMessageOut](
        items=await presenters.views(db, rows),
        total=total,
        page=params.page,
        page_size=params.page_size,
    )


@router.get("/leave-messages/badge", summary="Unhandled counts: mine (agent), all (admin)")
async def leave_badge(db: Db, principal: Principal = access.AnyLeavePage) -> BadgeOut:
    mine, every = await actions.badge(db, principal)
    return BadgeOut(mine_unhandled=mine, all_unhandled=every)


@router.get(
    "/leave-messages/lookup",
    summary="Exact lookup by number: any message of the tenant, whoever handles it",
)
async def lookup_leave_message(
    db: Db,
    number: Annotated[int, Query(ge=1, le=2**31 - 1)],  # an INTEGER column
    principal: Principal = access.AnyLeavePage,
) -> LeaveMessageOut:
    [out] = await presenters.views(db, [await access.by_number(db, principal, number)])
    return out


@router.get(
    "/leave-messages/assignees",
    summary="Enabled members a leave message may be assigned to",
)
async def leave_assignees(db: Db, principal: Principal = access.AnyLeavePage) -> list[UserRef]:
    from kefu.accounts.models import User

    rows = await db.scalars(
        select(User)
        .where(User.tenant_id == principal.tenant_id, User.enabled.is_(True))
        .order_by(User.nickname, User.id)
    )
    return [UserRef(id=u.id, nickname=u.nickname) for u in rows]


@router.get("/leave-messages/{message_id}", summary="One leave message with its comments")
async def get_leave_message(
    message_id: ItemId, db: Db, principal: Principal = access.AnyLeavePage
) -> LeaveMessageDetail:
    return await presenters.detail(db, await access.get_message(db, principal, message_id))


# --- staff: handling ------------------------------------------------------------------------


@router.post(
    "/leave-messages/batch/assign",
    summary="Assign several messages at once (all or none)",
)
async def batch_assign(
    body: BatchAssignIn, db: Db, principal: Principal = access.AnyLeavePage
) -> BatchOut:
    msgs = await access.get_many(db, principal, body.ids)
    await actions.assign(db, principal, msgs, body.assignee_id)
    return BatchOut(updated=len(msgs))


@router.post(
    "/leave-messages/batch/status",
    summary="Change the status of several messages at once (all or none)",
)
async def batch_status(
    body: BatchStatusIn, db: Db, principal: Principal = access.AnyLeavePage
) -> BatchOut:
    msgs = await access.get_many(db, principal, body.ids)
    await actions.set_status(db, principal, msgs, body.status)
    return BatchOut(updated=len(msgs))


@router.post(
    "/leave-messages/{message_id}/assign",
    summary="Assign (admins: anyone or nobody; agents: an unassigned message to themselves)",
)
async def assign_leave_message(
    message_id: ItemId, body: AssignIn, db: Db, principal: Principal = access.AnyLeavePage
) -> LeaveMessageDetail:
    msg = await access.get_message(db, principal, message_id, lock=True)
    await actions.assign(db, principal, [msg], body.assignee_id)
    return await presenters.detail(db, msg)


@router.post(
    "/leave-messages/{message_id}/status",
    summary="Change the status (admins: any message; agents: their own)",
)
async def status_leave_message(
    message_id: ItemId, body: StatusIn, db: Db, principal: Principal = access.AnyLeavePage
) -> LeaveMessageDetail:
    msg = await access.get_message(db, principal, message_id, lock=True)
    await actions.set_status(db, principal, [msg], body.status)
    return await presenters.detail(db, msg)


@router.post(
    "/leave-messages/{message_id}/comments",
    status_code=201,
    summary="Add a staff comment (≤ 2000 characters; visitors on the web never see comments)",
)
async def comment_leave_message(
    message_id: ItemId, body: CommentIn, db: Db, principal: Principal = access.AnyLeavePage
) -> CommentOut:
    msg = await access.get_message(db, principal, message_id, lock=True)
    row = await actions.comment(db, principal, msg, body.text)
    return CommentOut(
        id=row.id,
        author=UserRef(id=principal.user.id, nickname=principal.user.nickname),
        author_name=row.author_name,
        text=row.text,
        created_at=row.created_at,
    )
