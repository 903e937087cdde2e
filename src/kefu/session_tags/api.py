"""Session tags (§9.1): the tag tree (admins edit, everyone reads), tags on conversations,
suggestions, import / export."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Path, Request, Response, UploadFile

from kefu.access.guards import require_any_page, require_page
from kefu.access.principal import Principal, SignedIn
from kefu.api.deps import Db, UnitOfWorkRoute, client_ip
from kefu.conversations.models import Conversation
from kefu.session_tags import actions, importing
from kefu.session_tags.access import TAGGING_PAGES, conversation_for_tagging
from kefu.session_tags.models import SessionTag
from kefu.session_tags.schemas import (
    AppliedTagOut,
    ConversationTagsIn,
    ConversationTagsOut,
    SessionTagImportOut,
    SessionTagIn,
    SessionTagOrderIn,
    SessionTagOut,
    SessionTagPatch,
)
from kefu.tags.xlsx import XLSX_RESPONSE, read_upload, workbook_response

router = APIRouter(tags=["session-tags"], route_class=UnitOfWorkRoute)
ManageTags = require_page("admin.settings.session_tags")
Tagging = require_any_page(*TAGGING_PAGES)
ItemId = Annotated[int, Path(ge=1, le=2**53)]


def tag_out(tree: actions.Tree, tag: SessionTag) -> SessionTagOut:
    return SessionTagOut(
        id=tag.id,
        parent_id=tag.parent_id,
        name=tag.name,
        color=tag.color,
        position=tag.position,
        level=tree.level(tag.id),
        path=tree.path(tag.id),
    )


def tree_out(tree: actions.Tree) -> list[SessionTagOut]:
    out: list[SessionTagOut] = []

    def walk(parent_id: int | None) -> None:
        for tag in tree.kids(parent_id):
            out.append(tag_out(tree, tag))
            walk(tag.id)

    walk(None)
    return out


async def conv_tags_out(db: Db, conv: Conversation) -> ConversationTagsOut:
    applied = await actions.conversation_tags(db, conv)
    return ConversationTagsOut(
        conversation_id=conv.id,
        tags=[AppliedTagOut(**vars(t)) for t in applied.tags],
        remark=applied.remark,
        updated_by=applied.updated_by,
        updated_at=applied.updated_at,
    )


@router.get(
    "/session-tags",
    summary="The tenant's session-tag tree, depth-first in sibling order (flat, with parent_id)",
)
async def list_session_tags(db: Db, principal: SignedIn) -> list[SessionTagOut]:
    # Any signed-in staff user: agents apply tags, admins maintain them.
    return tree_out(await actions.load_tree(db, principal.tenant_id))


@router.get("/session-tags/suggested", summary="The caller's 5 most-used session tags")
async def suggested_session_tags(db: Db, principal: SignedIn) -> list[SessionTagOut]:
    tree = await actions.load_tree(db, principal.tenant_id)
    ids = await actions.suggested(db, principal.user)
    return [tag_out(tree, tree.by_id[i]) for i in ids if i in tree.by_id]


@router.post("/session-tags", status_code=201, summary="Create a session tag")
async def create_session_tag(
    body: SessionTagIn, request: Request, db: Db, principal: Principal = ManageTags
) -> SessionTagOut:
    tag = await actions.create_tag(
        db,
        principal,
        name=body.name,
        parent_id=body.parent_id,
        color=body.color,
        ip=client_ip(request),
    )
    return tag_out(await actions.load_tree(db, principal.tenant_id), tag)


@router.put("/session-tags/order", summary="Reorder the children of one parent (drag and drop)")
async def order_session_tags(
    body: SessionTagOrderIn, request: Request, db: Db, principal: Principal = ManageTags
) -> list[SessionTagOut]:
    await actions.reorder(db, principal, body.parent_id, body.tag_ids, client_ip(request))
    return tree_out(await actions.load_tree(db, principal.tenant_id))


@router.get(
    "/session-tags/template",
    summary="The session-tag import template (xlsx)",
    response_class=Response,
    responses=XLSX_RESPONSE,
)
async def session_tag_template(principal: Principal = ManageTags) -> Response:
    return workbook_response(importing.SHEET, importing.HEADERS, [], "session-tags-template.xlsx")


@router.get(
    "/session-tags/export",
    summary="Export the session-tag tree (xlsx, one row per tag)",
    response_class=Response,
    responses=XLSX_RESPONSE,
)
async def export_session_tags(db: Db, principal: Principal = ManageTags) -> Response:
    tree = await actions.load_tree(db, principal.tenant_id)
    return workbook_response(
        importing.SHEET, importing.HEADERS, importing.export_rows(tree), "session-tags.xlsx"
    )


@router.post(
    "/session-tags/import",
    summary="Import session tags from the template (new ones only; duplicates are counted)",
)
async def import_session_tags(
    request: Request,
    db: Db,
    file: Annotated[UploadFile, File()],
    principal: Principal = ManageTags,
) -> SessionTagImportOut:
    data = await read_upload(file)
    return await importing.import_tags(db, principal, data, client_ip(request))


@router.patch(
    "/session-tags/{session_tag_id}",
    summary="Rename, recolour or move a session tag to another parent",
)
async def patch_session_tag(
    session_tag_id: ItemId,
    body: SessionTagPatch,
    request: Request,
    db: Db,
    principal: Principal = ManageTags,
) -> SessionTagOut:
    tag = await actions.get_tag(db, principal.tenant_id, session_tag_id)
    await actions.update_tag(
        db, principal, tag, body.model_dump(exclude_unset=True), client_ip(request)
    )
    return tag_out(await actions.load_tree(db, principal.tenant_id), tag)


@router.delete(
    "/session-tags/{session_tag_id}",
    status_code=204,
    summary="Delete a session tag and its sub-tags (conversations keep showing them)",
)
async def delete_session_tag(
    session_tag_id: ItemId, request: Request, db: Db, principal: Principal = ManageTags
) -> None:
    tag = await actions.get_tag(db, principal.tenant_id, session_tag_id)
    await actions.delete_tag(db, principal, tag, client_ip(request))


@router.get(
    "/conversations/{conversation_id}/session-tags",
    summary="A conversation's session tags and remark",
)
async def get_conversation_tags(
    conversation_id: ItemId, db: Db, principal: Principal = Tagging
) -> ConversationTagsOut:
    conv = await conversation_for_tagging(db, principal, conversation_id)
    return await conv_tags_out(db, conv)


@router.put(
    "/conversations/{conversation_id}/session-tags",
    summary="Replace a conversation's session tags and remark (during or after it)",
)
async def put_conversation_tags(
    conversation_id: ItemId, body: ConversationTagsIn, db: Db, principal: Principal = Tagging
) -> ConversationTagsOut:
    conv = await conversation_for_tagging(db, principal, conversation_id)
    await actions.tag_conversation(
        db, conv, tag_ids=body.tag_ids, remark=body.remark, actor=principal.user
    )
    return await conv_tags_out(db, conv)
