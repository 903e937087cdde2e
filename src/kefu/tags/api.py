"""Visitor tags (§9.2): the tenant's tag definitions and the tags a visitor carries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Path, Request, Response, UploadFile

from kefu.access.guards import require_page
from kefu.access.principal import Principal, SignedIn
from kefu.api.deps import Db, UnitOfWorkRoute, client_ip
from kefu.tags import actions, transfer
from kefu.tags.models import VisitorTag
from kefu.tags.schemas import VisitorTagIn, VisitorTagOut, VisitorTagPatch, VisitorTagsIn
from kefu.tags.xlsx import XLSX_RESPONSE, read_upload, workbook_response

router = APIRouter(tags=["tags"], route_class=UnitOfWorkRoute)
ManageTags = require_page("admin.settings.visitor_tags")
Sessions = require_page("agent.sessions")
ItemId = Annotated[int, Path(ge=1, le=2**53)]


def tag_out(tag: VisitorTag) -> VisitorTagOut:
    return VisitorTagOut(id=tag.id, name=tag.name, color=tag.color)


@router.get("/visitor-tags", summary="The tenant's visitor tags, by name")
async def list_visitor_tags(db: Db, principal: SignedIn) -> list[VisitorTagOut]:
    # Any signed-in staff user: agents apply tags, admins build rules and levels with them.
    return [tag_out(t) for t in await actions.list_tags(db, principal.tenant_id)]


@router.post("/visitor-tags", status_code=201, summary="Create a visitor tag")
async def create_visitor_tag(
    body: VisitorTagIn, request: Request, db: Db, principal: Principal = ManageTags
) -> VisitorTagOut:
    return tag_out(await actions.create_tag(db, principal, body, client_ip(request)))


@router.get(
    "/visitor-tags/template",
    summary="The visitor-tag import template (xlsx)",
    response_class=Response,
    responses=XLSX_RESPONSE,
)
async def visitor_tag_template(principal: Principal = ManageTags) -> Response:
    return workbook_response(transfer.SHEET, transfer.HEADERS, [], "visitor-tags-template.xlsx")


@router.get(
    "/visitor-tags/export",
    summary="Export the visitor tags (xlsx)",
    response_class=Response,
    responses=XLSX_RESPONSE,
)
async def export_visitor_tags(db: Db, principal: Principal = ManageTags) -> Response:
    rows = await transfer.export_rows(db, principal.tenant_id)
    return workbook_response(transfer.SHEET, transfer.HEADERS, rows, "visitor-tags.xlsx")


@router.post(
    "/visitor-tags/import",
    summary="Import visitor tags (existing names are skipped silently)",
)
async def import_visitor_tags(
    request: Request,
    db: Db,
    file: Annotated[UploadFile, File()],
    principal: Principal = ManageTags,
) -> transfer.VisitorTagImportOut:
    data = await read_upload(file)
    return await transfer.import_tags(db, principal, data, client_ip(request))


@router.patch("/visitor-tags/{tag_id}", summary="Rename or recolour a visitor tag")
async def patch_visitor_tag(
    tag_id: ItemId,
    body: VisitorTagPatch,
    request: Request,
    db: Db,
    principal: Principal = ManageTags,
) -> VisitorTagOut:
    tag = await actions.get_tag(db, principal, tag_id)
    await actions.update_tag(db, principal, tag, body, client_ip(request))
    return tag_out(tag)


@router.delete(
    "/visitor-tags/{tag_id}",
    status_code=204,
    summary="Delete a visitor tag (also from visitors, routing rules and priority levels)",
)
async def delete_visitor_tag(
    tag_id: ItemId, request: Request, db: Db, principal: Principal = ManageTags
) -> None:
    tag = await actions.get_tag(db, principal, tag_id)
    await actions.delete_tag(db, principal, tag, client_ip(request))


@router.get("/visitors/{visitor_id}/tags", summary="A visitor's tags")
async def get_visitor_tags(
    visitor_id: ItemId, db: Db, principal: Principal = Sessions
) -> list[VisitorTagOut]:
    visitor = await actions.visitor_for_staff(db, principal, visitor_id)
    return [tag_out(t) for t in await actions.visitor_tags(db, visitor)]


@router.put("/visitors/{visitor_id}/tags", summary="Replace a visitor's tags")
async def put_visitor_tags(
    visitor_id: ItemId, body: VisitorTagsIn, db: Db, principal: Principal = Sessions
) -> list[VisitorTagOut]:
    visitor = await actions.visitor_for_staff(db, principal, visitor_id)
    if await actions.set_visitor_tags(db, visitor, body.tag_ids):
        await actions.notify_visitor_tags_changed(db, visitor, principal.user)
    return [tag_out(t) for t in await actions.visitor_tags(db, visitor)]
