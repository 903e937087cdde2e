"""Customer center routes (§12.1–§12.5): list, profile, interaction records, callback, import;
customer-center settings (profile fields, automatic groups)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Path, Query, Request, Response, UploadFile

import kefu.customers.exports  # noqa: F401  # registers the "customers" export kind
from kefu.access.guards import require_any_page, require_page
from kefu.access.principal import Principal
from kefu.api.deps import Db, UnitOfWorkRoute, client_ip
from kefu.conversations import repo
from kefu.conversations.presenters import conversation_view, messages_view
from kefu.conversations.schemas import ConversationOut, MessageOut
from kefu.core.schemas import Line50, PageOut, PageParams
from kefu.customers import actions, importing
from kefu.customers import fields as fl
from kefu.customers.access import (
    PROFILE_PAGES,
    conversation_scope,
    customer_for_staff,
    default_mode,
    list_scope,
    profile_mode,
)
from kefu.customers.queries import visible_groups
from kefu.customers.schemas import (
    CustomerFieldIn,
    CustomerFieldOut,
    CustomerFieldPatch,
    CustomerGroupIn,
    CustomerGroupOut,
    CustomerGroupPatch,
    CustomerImportOut,
    CustomerItemOut,
    CustomerListFilter,
    CustomerOut,
    CustomerPatch,
    LayoutIn,
    RecordOut,
)
from kefu.history.schemas import CallbackOut
from kefu.tags import actions as tag_actions
from kefu.tags.xlsx import XLSX_RESPONSE, read_upload, workbook_response

router = APIRouter(tags=["customers"], route_class=UnitOfWorkRoute)
Customers = require_any_page("agent.customers", "admin.customers")
Manage = require_page("admin.customers")
Profile = require_any_page(*PROFILE_PAGES)
Sessions = require_page("agent.sessions")
Settings = require_page("admin.settings.customer_settings")
Groups = require_any_page("agent.customers", "admin.customers", "admin.settings.customer_settings")
ItemId = Annotated[int, Path(ge=1, le=2**53)]
ModeQ = Annotated[
    Literal["agent", "admin"] | None,
    Query(
        description="agent: customers I served; admin: my Customers data scope (page "
        "admin.customers). Default: admin when I have that page."
    ),
]
Text = Annotated[Line50 | None, Query()]


@router.get("/customers", summary="Customers, newest first consultation first (§12.1)")
async def list_customers(
    db: Db,
    params: Annotated[PageParams, Depends()],
    mode: ModeQ = None,
    created_from: Annotated[datetime | None, Query(description="First consulted at/after")] = None,
    created_to: Annotated[datetime | None, Query(description="First consultation before")] = None,
    tag_ids: Annotated[list[int] | None, Query(max_length=20)] = None,
    q: Annotated[Line50 | None, Query(description="Part of name, nickname or ID")] = None,
    nickname: Text = None,
    phone: Text = None,
    email: Text = None,
    group_id: Annotated[int | None, Query(ge=1, le=2**53)] = None,
    principal: Principal = Customers,
) -> PageOut[CustomerItemOut]:
    m = mode or default_mode(principal)
    scope = await list_scope(db, principal, m)
    f = CustomerListFilter(
        created_from=created_from,
        created_to=created_to,
        tag_ids=[t for t in (tag_ids or []) if 1 <= t <= 2**53],
        q=q or "",
        nickname=nickname or "",
        phone=phone or "",
        email=email or "",
        group_id=group_id,
    )
    items, total = await actions.page(
        db, principal, scope, f, m, offset=params.offset, limit=params.page_size
    )
    return PageOut[CustomerItemOut](
        items=items, total=total, page=params.page, page_size=params.page_size
    )


@router.get(
    "/customers/template",
    summary="The customer import template (xlsx, §12.5)",
    response_class=Response,
    responses=XLSX_RESPONSE,
)
async def customer_template(principal: Principal = Manage) -> Response:
    return workbook_response(
        importing.SHEET, importing.HEADERS, [importing.EXAMPLE], "customers-template.xlsx"
    )


@router.post(
    "/customers/import",
    summary="Import customers: valid rows are imported, invalid ones listed (§12.5)",
)
async def import_customers(
    request: Request,
    db: Db,
    file: Annotated[UploadFile, File()],
    principal: Principal = Manage,
) -> CustomerImportOut:
    data = await read_upload(file)
    return await importing.import_customers(db, principal, data, client_ip(request))


@router.get("/customers/{visitor_id}", summary="A customer's profile, tags and groups")
async def get_customer(
    visitor_id: ItemId,
    db: Db,
    mode: Annotated[Literal["agent", "admin"] | None, Query()] = None,
    principal: Principal = Profile,
) -> CustomerOut:
    m = profile_mode(principal, mode)
    visitor = await customer_for_staff(db, principal, visitor_id)
    return await actions.profile(db, visitor, m)


@router.patch("/customers/{visitor_id}", summary="Edit a customer's profile fields and tags")
async def patch_customer(
    visitor_id: ItemId,
    body: CustomerPatch,
    db: Db,
    mode: Annotated[Literal["agent", "admin"] | None, Query()] = None,
    principal: Principal = Profile,
) -> CustomerOut:
    m = profile_mode(principal, mode)
    visitor = await customer_for_staff(db, principal, visitor_id)
    await actions.patch_profile(db, principal, visitor, dict(body.fields), m)
    if body.tag_ids is not None and await tag_actions.set_visitor_tags(db, visitor, body.tag_ids):
        await tag_actions.notify_visitor_tags_changed(db, visitor, principal.user)
    return await actions.profile(db, visitor, m)


@router.get(
    "/customers/{visitor_id}/conversations",
    summary="Interaction records: the customer's conversations I may read, oldest first",
)
async def customer_conversations(
    visitor_id: ItemId, db: Db, mode: ModeQ = None, principal: Principal = Customers
) -> list[RecordOut]:
    m = mode or default_mode(principal)
    visible = await conversation_scope(db, principal, m)
    visitor = await customer_for_staff(db, principal, visitor_id)
    return await actions.records(db, visitor, visible)


@router.get(
    "/customers/{visitor_id}/conversations/{conversation_id}/messages",
    summary="Messages of one of the customer's conversations (continuous reading, §3.10)",
)
async def customer_conversation_messages(
    visitor_id: ItemId,
    conversation_id: ItemId,
    db: Db,
    mode: ModeQ = None,
    before_seq: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
    principal: Principal = Customers,
) -> list[MessageOut]:
    m = mode or default_mode(principal)
    visible = await conversation_scope(db, principal, m)
    visitor = await customer_for_staff(db, principal, visitor_id)
    conv = await actions.record_conversation(db, visitor, visible, conversation_id)
    msgs = await repo.messages_page(
        db, conversation_id=conv.id, before_seq=before_seq, limit=limit, for_visitor=False
    )
    return [MessageOut(**m) for m in await messages_view(db, msgs, "staff")]


@router.post(
    "/customers/{visitor_id}/callback",
    status_code=201,
    summary="Contact the customer: a new conversation, mine (§3.8; imported customers too)",
)
async def callback_customer(
    visitor_id: ItemId, db: Db, principal: Principal = Sessions
) -> CallbackOut:
    visitor = await customer_for_staff(db, principal, visitor_id)
    new = await actions.call_back(db, principal, visitor)
    return CallbackOut(conversation=ConversationOut(**await conversation_view(db, new, "staff")))


# --- settings: profile fields (§12.2) -----------------------------------------------------


@router.get("/customer-fields", summary="Profile fields, system and custom, in order")
async def list_fields(db: Db, principal: Principal = Settings) -> list[CustomerFieldOut]:
    return [actions.field_out(f) for f in await fl.layout(db, principal.tenant_id)]


@router.post("/customer-fields", status_code=201, summary="Add a custom profile field")
async def create_field(
    body: CustomerFieldIn, request: Request, db: Db, principal: Principal = Settings
) -> CustomerFieldOut:
    return await actions.create_field(db, principal, body, client_ip(request))


@router.put(
    "/customer-fields/layout",
    summary="Order and flags (show, read-only, visible to agents) of every field",
)
async def save_layout(
    body: LayoutIn, request: Request, db: Db, principal: Principal = Settings
) -> list[CustomerFieldOut]:
    return await actions.save_layout(db, principal, body, client_ip(request))


@router.patch("/customer-fields/{field_id}", summary="Edit a custom profile field")
async def patch_field(
    field_id: ItemId,
    body: CustomerFieldPatch,
    request: Request,
    db: Db,
    principal: Principal = Settings,
) -> CustomerFieldOut:
    return await actions.update_field(db, principal, field_id, body, client_ip(request))


@router.delete("/customer-fields/{field_id}", status_code=204, summary="Delete a custom field")
async def delete_field(
    field_id: ItemId, request: Request, db: Db, principal: Principal = Settings
) -> None:
    await actions.delete_field(db, principal, field_id, client_ip(request))


# --- settings: automatic groups (§12.3) ---------------------------------------------------


@router.get(
    "/customer-groups",
    summary="Automatic customer groups (agent mode: the agent-visible ones)",
)
async def list_groups(
    db: Db, mode: ModeQ = None, principal: Principal = Groups
) -> list[CustomerGroupOut]:
    admin_ok = bool(principal.pages & {"admin.customers", "admin.settings.customer_settings"})
    m = mode or ("admin" if admin_ok else "agent")
    if m == "admin" and not admin_ok:
        from kefu.core.errors import ApiError

        raise ApiError("forbidden")
    return [actions.group_out(g) for g in await visible_groups(db, principal.tenant_id, m)]


@router.post("/customer-groups", status_code=201, summary="Add an automatic group (at most 10)")
async def create_group(
    body: CustomerGroupIn, request: Request, db: Db, principal: Principal = Settings
) -> CustomerGroupOut:
    return actions.group_out(await actions.create_group(db, principal, body, client_ip(request)))


@router.patch("/customer-groups/{group_id}", summary="Edit an automatic group")
async def patch_group(
    group_id: ItemId,
    body: CustomerGroupPatch,
    request: Request,
    db: Db,
    principal: Principal = Settings,
) -> CustomerGroupOut:
    g = await actions.update_group(db, principal, group_id, body, client_ip(request))
    return actions.group_out(g)


@router.delete("/customer-groups/{group_id}", status_code=204, summary="Delete a group")
async def delete_group(
    group_id: ItemId, request: Request, db: Db, principal: Principal = Settings
) -> None:
    await actions.delete_group(db, principal, group_id, client_ip(request))
