"""Members > Teams: the team tree under Headquarters and its members."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy import func, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.guards import require_page
from kefu.access.principal import Principal
from kefu.accounts.models import User
from kefu.api.deps import Db, UnitOfWorkRoute, client_ip
from kefu.audit.actions import record
from kefu.core import clock
from kefu.core.errors import ApiError
from kefu.roles.models import Role
from kefu.teams.models import Team
from kefu.teams.repo import all_teams, descendants
from kefu.teams.schemas import TeamCreate, TeamMembersIn, TeamOut, TeamPatch, TeamPersonOut

router = APIRouter(prefix="/teams", tags=["teams"], route_class=UnitOfWorkRoute)
ManageTeams = require_page("admin.members.teams")
TeamId = Annotated[int, Path(ge=1, le=2**53)]


async def _get(db: AsyncSession, principal: Principal, team_id: int) -> Team:
    team = await db.scalar(
        select(Team).where(Team.id == team_id, Team.tenant_id == principal.tenant_id)
    )
    if team is None:
        raise ApiError("not_found")
    return team


async def _sibling_name_free(
    db: AsyncSession, team: Team | None, tenant_id: int, parent_id: int | None, name: str
) -> None:
    stmt = select(Team.id).where(
        Team.tenant_id == tenant_id, Team.parent_id == parent_id, Team.name == name
    )
    if team is not None:
        stmt = stmt.where(Team.id != team.id)
    if await db.scalar(stmt):
        raise ApiError("team_name_taken")


async def _tree(db: AsyncSession, tenant_id: int) -> list[TeamOut]:
    teams = await all_teams(db, tenant_id=tenant_id)
    members: dict[int | None, list[int]] = {}
    for uid, tid in (
        await db.execute(
            select(User.id, User.team_id)
            .where(User.tenant_id == tenant_id, User.team_id.is_not(None))
            .order_by(User.id)
        )
    ).all():
        members.setdefault(tid, []).append(uid)
    nodes = {
        t.id: TeamOut(
            id=t.id,
            parent_id=t.parent_id,
            name=t.name,
            is_root=t.is_root,
            member_ids=members.get(t.id, []),
            children=[],
        )
        for t in teams
    }
    roots = []
    for t in teams:
        node = nodes[t.id]
        if t.parent_id is not None and t.parent_id in nodes:
            nodes[t.parent_id].children.append(node)
        else:
            roots.append(node)
    return roots


@router.get("", summary="The team tree, Headquarters at the root")
async def list_teams(db: Db, principal: Principal = ManageTeams) -> list[TeamOut]:
    return await _tree(db, principal.tenant_id)


@router.get("/people", summary="Everyone who can be a team member, with their current team")
async def team_people(db: Db, principal: Principal = ManageTeams) -> list[TeamPersonOut]:
    rows = (
        await db.execute(
            select(User, Role)
            .join(Role, Role.id == User.role_id)
            .where(User.tenant_id == principal.tenant_id)
            .order_by(User.nickname, User.id)
        )
    ).all()
    return [
        TeamPersonOut(
            id=u.id,
            nickname=u.nickname,
            real_name=u.real_name,
            email=u.email,
            role_name=r.display_name,
            enabled=u.enabled,
            team_id=u.team_id,
        )
        for u, r in rows
    ]


@router.post("", status_code=201, summary="Add a sub-team")
async def create_team(
    body: TeamCreate, request: Request, db: Db, principal: Principal = ManageTeams
) -> list[TeamOut]:
    parent = await _get(db, principal, body.parent_id)
    name = body.name.strip()
    await _sibling_name_free(db, None, principal.tenant_id, parent.id, name)
    team = Team(
        tenant_id=principal.tenant_id, parent_id=parent.id, name=name, created_at=clock.now()
    )
    db.add(team)
    await db.flush()
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="team.create",
        target_type="team",
        target_id=team.id,
        detail={"name": name, "parent_id": parent.id},
        ip=client_ip(request),
    )
    return await _tree(db, principal.tenant_id)


@router.patch("/{team_id}", summary="Rename or move a team")
async def patch_team(
    team_id: TeamId, body: TeamPatch, request: Request, db: Db, principal: Principal = ManageTeams
) -> list[TeamOut]:
    team = await _get(db, principal, team_id)
    parent_id = team.parent_id
    if body.parent_id is not None and body.parent_id != team.parent_id:
        if team.is_root:
            raise ApiError("team_root_protected")
        parent = await _get(db, principal, body.parent_id)
        if parent.id in descendants(await all_teams(db, tenant_id=principal.tenant_id), team.id):
            raise ApiError("team_cycle")
        parent_id = parent.id
    name = body.name.strip() if body.name is not None else team.name
    await _sibling_name_free(db, team, principal.tenant_id, parent_id, name)
    team.name, team.parent_id = name, parent_id
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="team.update",
        target_type="team",
        target_id=team.id,
        detail=body.model_dump(exclude_unset=True),
        ip=client_ip(request),
    )
    return await _tree(db, principal.tenant_id)


@router.delete("/{team_id}", status_code=204, summary="Delete a team without sub-teams")
async def delete_team(
    team_id: TeamId, request: Request, db: Db, principal: Principal = ManageTeams
) -> Response:
    team = await _get(db, principal, team_id)
    if team.is_root:
        raise ApiError("team_root_protected")
    if await db.scalar(select(func.count()).select_from(Team).where(Team.parent_id == team.id)):
        raise ApiError("team_not_empty")
    await db.execute(update(User).where(User.team_id == team.id).values(team_id=None))
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="team.delete",
        target_type="team",
        target_id=team.id,
        detail={"name": team.name},
        ip=client_ip(request),
    )
    await db.delete(team)
    return Response(status_code=204)


@router.put("/{team_id}/members", summary="Set the members of a team (a user is in one team)")
async def set_members(
    team_id: TeamId,
    body: TeamMembersIn,
    request: Request,
    db: Db,
    principal: Principal = ManageTeams,
) -> list[TeamOut]:
    team = await _get(db, principal, team_id)
    wanted = set(body.user_ids)
    found = (
        set(
            (
                await db.scalars(
                    select(User.id).where(
                        User.tenant_id == principal.tenant_id, User.id.in_(wanted)
                    )
                )
            ).all()
        )
        if wanted
        else set()
    )
    if found != wanted:
        raise ApiError("not_found")
    await db.execute(
        update(User)
        .where(
            User.tenant_id == principal.tenant_id,
            User.team_id == team.id,
            User.id.not_in(wanted) if wanted else true(),
        )
        .values(team_id=None)
    )
    if wanted:
        await db.execute(update(User).where(User.id.in_(wanted)).values(team_id=team.id))
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="team.members",
        target_type="team",
        target_id=team.id,
        detail={"user_ids": sorted(wanted)},
        ip=client_ip(request),
    )
    return await _tree(db, principal.tenant_id)
