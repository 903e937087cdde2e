"""Members > Skill groups (§5.2) and the signed-in user's favourite groups (§24)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from kefu.access.guards import require_any_page, require_page
from kefu.access.principal import Principal, SignedIn
from kefu.api.deps import Db, UnitOfWorkRoute, client_ip
from kefu.core.errors import ApiError
from kefu.core.schemas import SearchText
from kefu.routing import groups
from kefu.routing.group_schemas import (
    FavouriteGroupsIn,
    FavouriteGroupsOut,
    GroupCandidateOut,
    GroupMemberOut,
    GroupMembersIn,
    MembersCodeIn,
    MembersCodeOut,
    SkillGroupIn,
    SkillGroupOut,
    SkillGroupPatch,
)

router = APIRouter(tags=["routing"], route_class=UnitOfWorkRoute)
# Pages that pick groups (assignment rules, channels, current sessions) may read the list.
ReadGroups = require_any_page(
    "admin.members.skill_groups",
    "admin.settings.assignment_rules",
    "admin.channels",
    "admin.current_sessions",
)
ManageGroups = require_page("admin.members.skill_groups")
GroupId = Annotated[int, Path(ge=1, le=2**53)]
STATUSES = frozenset({"idle", "busy", "away", "invisible", "offline"})


@router.get("/skill-groups", summary="Skill groups, Ungrouped first")
async def list_skill_groups(db: Db, principal: Principal = ReadGroups) -> list[SkillGroupOut]:
    return await groups.list_groups(db, principal.tenant_id)


@router.get(
    "/skill-groups/candidates",
    summary="Agents that can be added to a group (users whose role opens Sessions)",
)
async def list_member_candidates(
    db: Db, principal: Principal = ManageGroups
) -> list[GroupCandidateOut]:
    return await groups.candidates(db, principal.tenant_id)


@router.post("/skill-groups", status_code=201, summary="Create a skill group")
async def create_skill_group(
    body: SkillGroupIn, request: Request, db: Db, principal: Principal = ManageGroups
) -> SkillGroupOut:
    group = await groups.create_group(db, principal, body, client_ip(request))
    return await groups.one_group_out(db, principal.tenant_id, group)


@router.get("/skill-groups/{group_id}", summary="One skill group")
async def get_skill_group(
    group_id: GroupId, db: Db, principal: Principal = ManageGroups
) -> SkillGroupOut:
    group = await groups.get_group(db, principal.tenant_id, group_id)
    return await groups.one_group_out(db, principal.tenant_id, group)


@router.patch("/skill-groups/{group_id}", summary="Edit a skill group (Ungrouped: not its name)")
async def patch_skill_group(
    group_id: GroupId,
    body: SkillGroupPatch,
    request: Request,
    db: Db,
    principal: Principal = ManageGroups,
) -> SkillGroupOut:
    group = await groups.get_group(db, principal.tenant_id, group_id)
    await groups.update_group(db, principal, group, body, client_ip(request))
    return await groups.one_group_out(db, principal.tenant_id, group)


@router.delete(
    "/skill-groups/{group_id}",
    status_code=204,
    summary="Delete a skill group (its sessions go to Ungrouped; rules pointing at it go)",
)
async def delete_skill_group(
    group_id: GroupId, request: Request, db: Db, principal: Principal = ManageGroups
) -> Response:
    group = await groups.get_group(db, principal.tenant_id, group_id)
    await groups.delete_group(db, principal, group, client_ip(request))
    return Response(status_code=204)


@router.get("/skill-groups/{group_id}/members", summary="Members (computed for Ungrouped)")
async def list_skill_group_members(
    group_id: GroupId,
    db: Db,
    q: Annotated[SearchText, Query(description="Part of a nickname or login email")] = "",
    status: Annotated[
        str | None,
        Query(
            max_length=60,
            description="Comma list of idle, busy, away, invisible, offline (default: all)",
        ),
    ] = None,
    principal: Principal = ManageGroups,
) -> list[GroupMemberOut]:
    wanted: set[str] | None = None
    if status is not None:
        wanted = {s.strip() for s in status.split(",") if s.strip()}
        if not wanted <= STATUSES:
            message = "status: idle, busy, away, invisible, offline"
            raise ApiError(
                "validation_error",
                fields=[{"field": "status", "rule": "enum", "message": message}],
                detail=message,
            )
    group = await groups.get_group(db, principal.tenant_id, group_id)
    return await groups.list_members(db, principal.tenant_id, group, q=q, statuses=wanted)


@router.put("/skill-groups/{group_id}/members", summary="Replace the member set")
async def put_skill_group_members(
    group_id: GroupId,
    body: GroupMembersIn,
    request: Request,
    db: Db,
    principal: Principal = ManageGroups,
) -> SkillGroupOut:
    group = await groups.get_group(db, principal.tenant_id, group_id)
    await groups.set_members(db, principal, group, body.user_ids, client_ip(request))
    return await groups.one_group_out(db, principal.tenant_id, group)


@router.post(
    "/skill-groups/{group_id}/members/code",
    summary="Code mode: add or remove members by login email, one per line",
)
async def skill_group_members_code(
    group_id: GroupId,
    body: MembersCodeIn,
    request: Request,
    db: Db,
    principal: Principal = ManageGroups,
) -> MembersCodeOut:
    group = await groups.get_group(db, principal.tenant_id, group_id)
    return await groups.members_by_code(
        db, principal, group, body.text, body.action, client_ip(request)
    )


@router.get("/me/favourite-groups", tags=["me"], summary="My favourite skill groups")
async def get_favourite_groups(principal: SignedIn, db: Db) -> FavouriteGroupsOut:
    return await groups.favourites_out(db, principal)


@router.put("/me/favourite-groups", tags=["me"], summary="Replace my favourite skill groups")
async def put_favourite_groups(
    body: FavouriteGroupsIn, principal: SignedIn, db: Db
) -> FavouriteGroupsOut:
    await groups.set_favourites(db, principal, body.skill_group_ids)
    return await groups.favourites_out(db, principal)
