"""Status-change approval (§2.1) and deciding requests (§15.4). The caller owns the transaction."""

from __future__ import annotations

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from kefu.access.principal import Principal, role_pages
from kefu.accounts.models import User
from kefu.approvals.models import ApprovalRequest
from kefu.approvals.schemas import ApprovalOut
from kefu.audit.actions import record
from kefu.core import clock
from kefu.core.errors import ApiError, field_error
from kefu.notifications.actions import notify
from kefu.presence import actions as presence
from kefu.roles.models import Role

STATUS_CHANGE = "status_change"
APPROVALS_PAGE = "admin.approvals"
# Leaving Idle for one of these stops new sessions coming in, which is what admins approve.
GATED = frozenset({"busy", "away", "invisible"})


def is_approver(principal: Principal) -> bool:
    """Admins decide and are never gated: the built-in Admin and roles granting Approvals."""
    return principal.is_admin or APPROVALS_PAGE in principal.pages


def needs_approval(principal: Principal, current: str, to: str) -> bool:
    switches = principal.tenant.switches or {}
    if not switches.get("status_change_approval", False) or is_approver(principal):
        return False
    return current == "idle" and to in GATED


async def change_own_status(
    db: AsyncSession, principal: Principal, status: str, reason: str | None
) -> tuple[str, ApprovalRequest | None]:
    """Switch the caller's status, or file a request for it when the switch says so (§2.1).

    Returns the caller's status afterwards and the request filed, if any."""
    user = principal.user
    current = await presence.effective_status(db, tenant_id=user.tenant_id, user_id=user.id)
    if needs_approval(principal, current, status):
        if not reason:
            raise field_error(
                "reason",
                "reason_required",
                "切换为该状态需要管理员审批，请填写原因",
                "switching to this status needs an admin's approval; give a reason",
            )
        approval = await _file_status_request(db, principal, current, status, reason)
        return await presence.status_of(db, tenant_id=user.tenant_id, user_id=user.id), approval
    # Choosing a status freely withdraws a request still waiting: the agent changed their mind.
    await _cancel_pending(db, user)
    return await presence.set_own_status(db, principal, status), None


async def _cancel_pending(db: AsyncSession, user: User) -> None:
    await db.execute(
        update(ApprovalRequest)
        .where(
            ApprovalRequest.tenant_id == user.tenant_id,
            ApprovalRequest.requester_id == user.id,
            ApprovalRequest.kind == STATUS_CHANGE,
            ApprovalRequest.state == "pending",
        )
        .values(state="cancelled", decided_at=clock.now())
    )


async def _file_status_request(
    db: AsyncSession, principal: Principal, current: str, to: str, reason: str
) -> ApprovalRequest:
    """One pending request per agent: a new one replaces the one still waiting."""
    user = principal.user
    await _cancel_pending(db, user)
    approval = ApprovalRequest(
        tenant_id=user.tenant_id,
        kind=STATUS_CHANGE,
        requester_id=user.id,
        data={"from": current, "to": to},
        reason=reason,
        state="pending",
        comment="",
        created_at=clock.now(),
    )
    db.add(approval)
    await db.flush()
    for admin_id in await approver_ids(db, tenant_id=user.tenant_id):
        await notify(
            db,
            tenant_id=user.tenant_id,
            user_id=admin_id,
            kind="status_change_requested",
            data={
                "approval_id": approval.id,
                "requester_id": user.id,
                "requester_name": user.nickname,
                "from_status": current,
                "to_status": to,
                "reason": reason,
            },
        )
    return approval


async def approver_ids(db: AsyncSession, *, tenant_id: int) -> list[int]:
    """Enabled users whose role opens Approval management (always the built-in Admin)."""
    rows = await db.execute(
        select(User.id, Role)
        .join(Role, Role.id == User.role_id)
        .where(User.tenant_id == tenant_id, User.enabled.is_(True))
        .order_by(User.id)
    )
    return [uid for uid, role in rows.all() if APPROVALS_PAGE in role_pages(role)]


async def decide(
    db: AsyncSession,
    principal: Principal,
    approval: ApprovalRequest,
    *,
    approve: bool,
    comment: str,
    ip: str,
) -> ApprovalRequest:
    """Approve (the agent's status switches) or reject; the requester is told either way."""
    if approval.state != "pending":
        raise ApiError("approval_decided")
    actor = principal.user
    approval.state = "approved" if approve else "rejected"
    approval.comment = comment
    approval.decided_by = actor.id
    approval.decided_at = clock.now()
    before, to = approval.data["from"], approval.data["to"]
    if approve:
        await presence.apply_decided_status(
            db,
            tenant_id=approval.tenant_id,
            user_id=approval.requester_id,
            status=to,
            actor_id=actor.id,
        )
    await notify(
        db,
        tenant_id=approval.tenant_id,
        user_id=approval.requester_id,
        kind="status_change_decided",
        data={
            "approval_id": approval.id,
            "decision": approval.state,
            "from_status": before,
            "to_status": to,
            "comment": comment,
            "actor_id": actor.id,
            "actor_name": actor.nickname,
        },
    )
    record(
        db,
        principal,
        tenant_id=approval.tenant_id,
        action=f"approval.{approval.state}",
        target_type="approval",
        target_id=approval.id,
        detail={"kind": approval.kind, "requester_id": approval.requester_id, "to": to},
        ip=ip,
    )
    return approval


def _listing() -> Select[ApprovalRequest, str, str | None]:
    requester, decider = aliased(User), aliased(User)
    return (
        select(ApprovalRequest, requester.nickname, decider.nickname)
        .join(requester, requester.id == ApprovalRequest.requester_id)
        .outerjoin(decider, decider.id == ApprovalRequest.decided_by)
    )


def view(
    approval: ApprovalRequest, requester_name: str, decided_by_name: str | None
) -> ApprovalOut:
    return ApprovalOut(
        id=approval.id,
        kind=STATUS_CHANGE,
        requester_id=approval.requester_id,
        requester_name=requester_name,
        from_status=approval.data["from"],
        to_status=approval.data["to"],
        reason=approval.reason,
        state=approval.state,
        comment=approval.comment,
        decided_by=approval.decided_by,
        decided_by_name=decided_by_name or "",
        decided_at=approval.decided_at,
        created_at=approval.created_at,
    )


async def view_one(db: AsyncSession, approval: ApprovalRequest) -> ApprovalOut:
    row = (await db.execute(_listing().where(ApprovalRequest.id == approval.id))).one()
    return view(row[0], row[1], row[2])


async def page(
    db: AsyncSession, *, tenant_id: int, state: str, offset: int, limit: int
) -> tuple[list[ApprovalOut], int]:
    """Requests of the tenant, newest first; `state` all, or one state."""
    stmt = _listing().where(ApprovalRequest.tenant_id == tenant_id)
    if state != "all":
        stmt = stmt.where(ApprovalRequest.state == state)
    total = int(await db.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = await db.execute(stmt.order_by(ApprovalRequest.id.desc()).offset(offset).limit(limit))
    return [view(r[0], r[1], r[2]) for r in rows.all()], total
