"""Knowledge base routes (§8.2): admins edit (admin.knowledge); staff read and send."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Path, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse

from kefu.access.guards import require_any_page, require_page
from kefu.access.principal import Principal
from kefu.api.deps import Db, UnitOfWorkRoute, client_ip
from kefu.attachments.actions import storage_for
from kefu.conversations.access import conversation_for_staff
from kefu.conversations.presenters import messages_view
from kefu.conversations.schemas import MessageOut
from kefu.core.errors import ApiError
from kefu.core.schemas import SearchText
from kefu.knowledge import actions, content, send, transfer
from kefu.knowledge import settings as kb_settings
from kefu.knowledge.models import KnowledgeCategory, KnowledgeItem
from kefu.knowledge.schemas import (
    KnowledgeCategoryIn,
    KnowledgeCategoryOrderIn,
    KnowledgeCategoryOut,
    KnowledgeCategoryPatch,
    KnowledgeFileOut,
    KnowledgeImportOut,
    KnowledgeItemIn,
    KnowledgeItemOut,
    KnowledgeItemPageOut,
    KnowledgeItemPatch,
    KnowledgeItemSummaryOut,
    KnowledgeSendIn,
    KnowledgeSettingsIn,
    KnowledgeSettingsOut,
)

router = APIRouter(tags=["knowledge"], route_class=UnitOfWorkRoute)
Manage = require_page("admin.knowledge")
# Agents read on the Knowledge page and in the workbench's side tab.
Read = require_any_page("admin.knowledge", "agent.knowledge", "agent.sessions")
Sessions = require_page("agent.sessions")
ItemId = Annotated[int, Path(ge=1, le=2**53)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def _categories_out(db: Db, tenant_id: int) -> list[KnowledgeCategoryOut]:
    cats = await actions.all_categories(db, tenant_id)
    depth = actions.depths(cats)
    counts = await actions.item_counts(db, tenant_id)
    return [
        KnowledgeCategoryOut(
            id=c.id,
            parent_id=c.parent_id,
            name=c.name,
            position=c.position,
            depth=depth[c.id],
            item_count=counts.get(c.id, 0),
        )
        for c in cats
    ]


def _category_out(cat: KnowledgeCategory, cats: list[KnowledgeCategoryOut]) -> KnowledgeCategoryOut:
    return next(c for c in cats if c.id == cat.id)


async def _summaries(
    db: Db, tenant_id: int, items: list[KnowledgeItem]
) -> list[KnowledgeItemSummaryOut]:
    paths = actions.paths(await actions.all_categories(db, tenant_id))
    return [
        KnowledgeItemSummaryOut(
            id=i.id,
            category_id=i.category_id,
            category_path=paths.get(i.category_id, []),
            title=i.title,
            summary=content.summary(i.content_text, 80),
            author_name=i.author_name,
            attachment_count=len(i.attachment_ids or []),
            updated_at=i.updated_at,
        )
        for i in items
    ]


async def _item_out(db: Db, request: Request, item: KnowledgeItem) -> KnowledgeItemOut:
    settings = request.app.state.settings
    (summary,) = await _summaries(db, item.tenant_id, [item])
    files = [actions.file_view(settings, a) for a in await actions.item_files(db, item)]
    return KnowledgeItemOut(
        **summary.model_dump(),
        content_html=item.content_html,
        content_text=item.content_text,
        attachments=[KnowledgeFileOut(**f) for f in files],
        share_url=send.share_path(item),
        created_at=item.created_at,
    )


# --- categories -------------------------------------------------------------------------------


@router.get("/knowledge/categories", summary="The category tree, flat (parent_id, position)")
async def list_categories(db: Db, principal: Principal = Read) -> list[KnowledgeCategoryOut]:
    return await _categories_out(db, principal.tenant_id)


@router.post("/knowledge/categories", status_code=201, summary="Create a category (≤ 10 levels)")
async def create_category(
    body: KnowledgeCategoryIn, request: Request, db: Db, principal: Principal = Manage
) -> KnowledgeCategoryOut:
    cat = await actions.create_category(db, principal, body, client_ip(request))
    return _category_out(cat, await _categories_out(db, principal.tenant_id))


@router.put(
    "/knowledge/categories/order", status_code=204, summary="Order one parent's subcategories"
)
async def order_categories(
    body: KnowledgeCategoryOrderIn, db: Db, principal: Principal = Manage
) -> None:
    await actions.reorder_categories(db, principal, body.parent_id, body.ids)


@router.patch("/knowledge/categories/{knowledge_category_id}", summary="Rename or move a category")
async def patch_category(
    knowledge_category_id: ItemId,
    body: KnowledgeCategoryPatch,
    request: Request,
    db: Db,
    principal: Principal = Manage,
) -> KnowledgeCategoryOut:
    cat = await actions.get_category(db, principal.tenant_id, knowledge_category_id)
    await actions.update_category(db, principal, cat, body, client_ip(request))
    return _category_out(cat, await _categories_out(db, principal.tenant_id))


@router.delete(
    "/knowledge/categories/{knowledge_category_id}",
    status_code=204,
    summary="Delete an empty category",
)
async def delete_category(
    knowledge_category_id: ItemId, request: Request, db: Db, principal: Principal = Manage
) -> None:
    cat = await actions.get_category(db, principal.tenant_id, knowledge_category_id)
    await actions.delete_category(db, principal, cat, client_ip(request))


# --- items ------------------------------------------------------------------------------------


@router.get("/knowledge/items", summary="Search items (title and content), by category subtree")
async def list_items(
    db: Db,
    principal: Principal = Read,
    q: Annotated[SearchText, Query()] = "",
    category_id: Annotated[int | None, Query(ge=1, le=2**53)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> KnowledgeItemPageOut:
    items, total = await actions.search_items(
        db,
        principal.tenant_id,
        q=q,
        category_id=category_id,
        offset=(page - 1) * page_size,
        limit=page_size,
    )
    return KnowledgeItemPageOut(
        items=await _summaries(db, principal.tenant_id, items),
        total=total,
        page=page,
        page_size=page_size,
        capacity=actions.MAX_ITEMS,
        used=await actions.count_items(db, principal.tenant_id),
    )


@router.post("/knowledge/items", status_code=201, summary="Create an item (≤ 1000 per tenant)")
async def create_item(
    body: KnowledgeItemIn, request: Request, db: Db, principal: Principal = Manage
) -> KnowledgeItemOut:
    item = await actions.create_item(db, principal, body, client_ip(request))
    return await _item_out(db, request, item)


@router.get(
    "/knowledge/items/{knowledge_item_id}", summary="One item with its content and attachments"
)
async def get_item(
    knowledge_item_id: ItemId, request: Request, db: Db, principal: Principal = Read
) -> KnowledgeItemOut:
    return await _item_out(
        db, request, await actions.get_item(db, principal.tenant_id, knowledge_item_id)
    )


@router.patch(
    "/knowledge/items/{knowledge_item_id}", summary="Edit an item (the editor becomes its author)"
)
async def patch_item(
    knowledge_item_id: ItemId,
    body: KnowledgeItemPatch,
    request: Request,
    db: Db,
    principal: Principal = Manage,
) -> KnowledgeItemOut:
    item = await actions.get_item(db, principal.tenant_id, knowledge_item_id)
    await actions.update_item(db, principal, item, body, client_ip(request))
    return await _item_out(db, request, item)


@router.delete("/knowledge/items/{knowledge_item_id}", status_code=204, summary="Delete an item")
async def delete_item(
    knowledge_item_id: ItemId, request: Request, db: Db, principal: Principal = Manage
) -> None:
    item = await actions.get_item(db, principal.tenant_id, knowledge_item_id)
    await actions.delete_item(db, principal, item, client_ip(request))


@router.post(
    "/knowledge/files",
    status_code=201,
    summary="Upload a content image or an attachment (≤ 10 MB); kept once an item saves it",
)
async def upload_file(
    request: Request,
    db: Db,
    file: Annotated[UploadFile, File()],
    kind: Annotated[Literal["image", "file"], Form()],
    principal: Principal = Manage,
) -> KnowledgeFileOut:
    settings = request.app.state.settings
    att = await actions.upload_file(db, settings, principal, file, kind)
    return KnowledgeFileOut(**actions.file_view(settings, att))


@router.get(
    "/knowledge/assets/{asset}",
    summary="A content image of a knowledge item (the signed path is the credential)",
    response_class=FileResponse,
)
async def get_asset(
    asset: Annotated[str, Path(pattern=r"^[0-9]{1,16}-[0-9a-f]{32}$")],
    request: Request,
    db: Db,
) -> FileResponse:
    settings = request.app.state.settings
    att = await actions.public_image(db, settings, asset)
    path = storage_for(settings).path(att.storage_key)
    if path is None:
        raise ApiError("not_found")
    return FileResponse(
        path,
        media_type=att.content_type,
        headers={
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "public, max-age=86400",
            "Cross-Origin-Resource-Policy": "cross-origin",
        },
    )


# --- import / export --------------------------------------------------------------------------


@router.get(
    "/knowledge/export",
    summary="Export every item as xlsx (category path, title, plain-text content)",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}}},
)
async def export_items(
    db: Db, principal: Principal = Manage, template: Annotated[bool, Query()] = False
) -> Response:
    data = await transfer.export_xlsx(db, principal.tenant_id, template=template)
    name = "knowledge-template.xlsx" if template else "knowledge.xlsx"
    return Response(
        data, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.post(
    "/knowledge/import",
    summary="Import items from the xlsx template: all rows or none (422 names the bad row)",
)
async def import_items(
    request: Request,
    db: Db,
    file: Annotated[UploadFile, File()],
    principal: Principal = Manage,
) -> KnowledgeImportOut:
    return KnowledgeImportOut(**await transfer.import_xlsx(db, principal, file, client_ip(request)))


# --- settings and sending ---------------------------------------------------------------------


@router.get("/knowledge/settings", summary="Send mode per channel (card or text)")
async def get_settings(db: Db, principal: Principal = Manage) -> KnowledgeSettingsOut:
    return KnowledgeSettingsOut(send_modes=await kb_settings.send_modes(db, principal.tenant_id))


@router.put("/knowledge/settings", summary="Set the send mode of channels (card or text)")
async def put_settings(
    body: KnowledgeSettingsIn, request: Request, db: Db, principal: Principal = Manage
) -> KnowledgeSettingsOut:
    modes = await kb_settings.set_send_modes(
        db, principal, {str(k): str(v) for k, v in body.send_modes.items()}, client_ip(request)
    )
    return KnowledgeSettingsOut(send_modes=modes)


@router.post(
    "/conversations/{conversation_id}/knowledge/{knowledge_item_id}/send",
    status_code=201,
    summary="Send a knowledge item (card or text per channel; attachments follow as files)",
)
async def send_item(
    conversation_id: ItemId,
    knowledge_item_id: ItemId,
    body: KnowledgeSendIn,
    response: Response,
    db: Db,
    principal: Principal = Sessions,
) -> list[MessageOut]:
    conv = await conversation_for_staff(db, principal, conversation_id)
    item = await actions.get_item(db, principal.tenant_id, knowledge_item_id)
    messages, replayed = await send.send_item(db, principal.user, conv, item, body.client_msg_id)
    if replayed:
        response.status_code = 200
    views = await messages_view(db, messages, "staff")
    return [MessageOut(**v, replayed=replayed) for v in views]
