"""Canned-reply routes (§8.1): public set (admins keep it, every agent reads it), personal sets,
search and suggestions, usage, pins, sort preference, template import/export and submissions."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Path, Query, Request, Response, UploadFile

from kefu.access.guards import require_any_page, require_page
from kefu.access.principal import Principal
from kefu.api.deps import Db, UnitOfWorkRoute, client_ip
from kefu.canned import actions, submissions, transfer
from kefu.canned.access import get_category, get_reply, get_submission, get_usable_reply
from kefu.canned.models import CannedCategory, CannedReply
from kefu.canned.schemas import (
    CannedAcceptIn,
    CannedCategoryIn,
    CannedCategoryOut,
    CannedCategoryPatch,
    CannedImportOut,
    CannedPersonalCategoryIn,
    CannedPrefsIn,
    CannedPrefsOut,
    CannedRejectIn,
    CannedReplyIn,
    CannedReplyOut,
    CannedReplyPatch,
    CannedSetOut,
    CannedSubmissionIn,
    CannedSubmissionOut,
    CannedSuggestionOut,
    Query100,
)
from kefu.core.i18n import pick
from kefu.core.schemas import PageOut, PageParams

router = APIRouter(prefix="/canned", tags=["canned"], route_class=UnitOfWorkRoute)
# Admins keep the public set; every agent (workbench or Canned replies page) reads it.
Manage = require_page("admin.settings.canned")
ReadPublic = require_any_page("agent.sessions", "agent.canned", "admin.settings.canned")
# An agent's own set, usage, pins and sort: from the workbench panel or the Canned replies page.
Use = require_any_page("agent.sessions", "agent.canned")
CategoryId = Annotated[int, Path(ge=1, le=2**53)]
ReplyId = Annotated[int, Path(ge=1, le=2**53)]
SubmissionId = Annotated[int, Path(ge=1, le=2**53)]
SearchQ = Annotated[Query100, Query(description="Only replies whose text contains this")]
XLSX_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {transfer.XLSX: {"schema": {"type": "string", "format": "binary"}}},
        "description": "An .xlsx workbook",
    }
}


def _xlsx(data: bytes, name: str) -> Response:
    return Response(
        content=data,
        media_type=transfer.XLSX,
        headers={
            "Content-Disposition": (
                f"attachment; filename=canned.xlsx; filename*=UTF-8''{quote(name)}"
            ),
            "Cache-Control": "no-store",
        },
    )


async def _set(db: Db, principal: Principal, *, personal: bool, q: str) -> CannedSetOut:
    cats, replies, sort = await actions.list_set(db, principal, personal=personal, q=q)
    return CannedSetOut(
        categories=[actions.category_out(c) for c in cats], replies=replies, sort=sort
    )


async def _reply_view(db: Db, principal: Principal, reply: CannedReply) -> CannedReplyOut:
    marks = await actions.marks_of(db, principal, [reply.id])
    return actions.reply_out(reply, marks.get(reply.id))


def _cat(c: CannedCategory) -> CannedCategoryOut:
    return actions.category_out(c)


# --- public set ---------------------------------------------------------------------------


@router.get("/public", summary="The public canned replies: categories and replies in my order")
async def list_public(db: Db, q: SearchQ = "", principal: Principal = ReadPublic) -> CannedSetOut:
    return await _set(db, principal, personal=False, q=q)


@router.post("/public/categories", status_code=201, summary="Add a public category")
async def create_public_category(
    body: CannedCategoryIn, request: Request, db: Db, principal: Principal = Manage
) -> CannedCategoryOut:
    cat = await actions.create_category(
        db,
        principal,
        personal=False,
        name=body.name,
        parent_id=body.parent_id,
        ip=client_ip(request),
    )
    return _cat(cat)


@router.patch("/public/categories/{canned_category_id}", summary="Rename a public category")
async def patch_public_category(
    canned_category_id: CategoryId,
    body: CannedCategoryPatch,
    request: Request,
    db: Db,
    principal: Principal = Manage,
) -> CannedCategoryOut:
    cat = await get_category(db, principal, canned_category_id, personal=False)
    await actions.rename_category(db, principal, cat, body, client_ip(request))
    return _cat(cat)


@router.delete(
    "/public/categories/{canned_category_id}",
    status_code=204,
    summary="Delete a public category with its sub-categories and replies",
)
async def delete_public_category(
    canned_category_id: CategoryId, request: Request, db: Db, principal: Principal = Manage
) -> None:
    cat = await get_category(db, principal, canned_category_id, personal=False)
    await actions.delete_category(db, principal, cat, client_ip(request))


@router.post("/public/replies", status_code=201, summary="Add a public reply")
async def create_public_reply(
    body: CannedReplyIn, request: Request, db: Db, principal: Principal = Manage
) -> CannedReplyOut:
    reply = await actions.create_reply(db, principal, body, personal=False, ip=client_ip(request))
    return await _reply_view(db, principal, reply)


@router.patch("/public/replies/{canned_reply_id}", summary="Edit or move a public reply")
async def patch_public_reply(
    canned_reply_id: ReplyId,
    body: CannedReplyPatch,
    request: Request,
    db: Db,
    principal: Principal = Manage,
) -> CannedReplyOut:
    reply = await get_reply(db, principal, canned_reply_id, personal=False)
    await actions.update_reply(db, principal, reply, body, client_ip(request))
    return await _reply_view(db, principal, reply)


@router.delete(
    "/public/replies/{canned_reply_id}", status_code=204, summary="Delete a public reply"
)
async def delete_public_reply(
    canned_reply_id: ReplyId, request: Request, db: Db, principal: Principal = Manage
) -> None:
    reply = await get_reply(db, principal, canned_reply_id, personal=False)
    await actions.delete_reply(db, principal, reply, client_ip(request))


@router.get(
    "/public/export",
    summary="Export the public replies (.xlsx, the template's shape)",
    response_class=Response,
    responses=XLSX_RESPONSE,
)
async def export_public(db: Db, principal: Principal = Manage) -> Response:
    data = await transfer.export(db, principal, personal=False)
    return _xlsx(data, pick("公共常用语.xlsx", "public-canned-replies.xlsx"))


@router.post(
    "/public/import",
    summary="Import public replies from the template (all rows or none)",
)
async def import_public(
    request: Request,
    db: Db,
    file: Annotated[UploadFile, File()],
    principal: Principal = Manage,
) -> CannedImportOut:
    rows = await transfer.read_rows(file, personal=False)
    return await transfer.import_rows(db, principal, rows, personal=False, ip=client_ip(request))


# --- personal set -------------------------------------------------------------------------


@router.get("/personal", summary="My own canned replies: sub-categories and replies in my order")
async def list_personal(db: Db, q: SearchQ = "", principal: Principal = Use) -> CannedSetOut:
    return await _set(db, principal, personal=True, q=q)


@router.post("/personal/categories", status_code=201, summary="Add one of my sub-categories")
async def create_personal_category(
    body: CannedPersonalCategoryIn, request: Request, db: Db, principal: Principal = Use
) -> CannedCategoryOut:
    cat = await actions.create_category(
        db, principal, personal=True, name=body.name, parent_id=None, ip=client_ip(request)
    )
    return _cat(cat)


@router.patch("/personal/categories/{canned_category_id}", summary="Rename my sub-category")
async def patch_personal_category(
    canned_category_id: CategoryId,
    body: CannedCategoryPatch,
    request: Request,
    db: Db,
    principal: Principal = Use,
) -> CannedCategoryOut:
    cat = await get_category(db, principal, canned_category_id, personal=True)
    await actions.rename_category(db, principal, cat, body, client_ip(request))
    return _cat(cat)


@router.delete(
    "/personal/categories/{canned_category_id}",
    status_code=204,
    summary="Delete my sub-category and its replies",
)
async def delete_personal_category(
    canned_category_id: CategoryId, request: Request, db: Db, principal: Principal = Use
) -> None:
    cat = await get_category(db, principal, canned_category_id, personal=True)
    await actions.delete_category(db, principal, cat, client_ip(request))


@router.post("/personal/replies", status_code=201, summary="Add one of my replies")
async def create_personal_reply(
    body: CannedReplyIn, request: Request, db: Db, principal: Principal = Use
) -> CannedReplyOut:
    reply = await actions.create_reply(db, principal, body, personal=True, ip=client_ip(request))
    return await _reply_view(db, principal, reply)


@router.patch("/personal/replies/{canned_reply_id}", summary="Edit or move one of my replies")
async def patch_personal_reply(
    canned_reply_id: ReplyId,
    body: CannedReplyPatch,
    request: Request,
    db: Db,
    principal: Principal = Use,
) -> CannedReplyOut:
    reply = await get_reply(db, principal, canned_reply_id, personal=True)
    await actions.update_reply(db, principal, reply, body, client_ip(request))
    return await _reply_view(db, principal, reply)


@router.delete(
    "/personal/replies/{canned_reply_id}", status_code=204, summary="Delete one of my replies"
)
async def delete_personal_reply(
    canned_reply_id: ReplyId, request: Request, db: Db, principal: Principal = Use
) -> None:
    reply = await get_reply(db, principal, canned_reply_id, personal=True)
    await actions.delete_reply(db, principal, reply, client_ip(request))


@router.get(
    "/personal/export",
    summary="Export my replies (.xlsx, the template's shape)",
    response_class=Response,
    responses=XLSX_RESPONSE,
)
async def export_personal(db: Db, principal: Principal = Use) -> Response:
    data = await transfer.export(db, principal, personal=True)
    return _xlsx(data, pick("个人常用语.xlsx", "my-canned-replies.xlsx"))


@router.post("/personal/import", summary="Import my replies from the template (all rows or none)")
async def import_personal(
    request: Request,
    db: Db,
    file: Annotated[UploadFile, File()],
    principal: Principal = Use,
) -> CannedImportOut:
    rows = await transfer.read_rows(file, personal=True)
    return await transfer.import_rows(db, principal, rows, personal=True, ip=client_ip(request))


@router.get(
    "/template",
    summary="The import template (.xlsx)",
    response_class=Response,
    responses=XLSX_RESPONSE,
)
async def download_template(
    scope: Annotated[Literal["public", "personal"], Query()] = "public",
    principal: Principal = ReadPublic,
) -> Response:
    data = transfer.template(personal=scope == "personal")
    return _xlsx(data, pick("常用语导入模板.xlsx", "canned-replies-template.xlsx"))


# --- using replies ------------------------------------------------------------------------


@router.get("/suggest", summary="The best few replies of both sets matching what I type")
async def suggest(
    db: Db,
    q: Annotated[Query100, Query(description="What the agent is typing")],
    limit: Annotated[int, Query(ge=1, le=actions.SUGGEST_MAX)] = actions.SUGGEST_DEFAULT,
    principal: Principal = Use,
) -> list[CannedSuggestionOut]:
    return await actions.suggest(db, principal, q, limit)


@router.post("/replies/{canned_reply_id}/used", summary="Count one use of a reply (smart sort)")
async def mark_used(canned_reply_id: ReplyId, db: Db, principal: Principal = Use) -> CannedReplyOut:
    reply = await get_usable_reply(db, principal, canned_reply_id)
    await actions.mark_used(db, principal, reply)
    return await _reply_view(db, principal, reply)


@router.put("/replies/{canned_reply_id}/pin", summary="Pin a reply to the top of my lists")
async def pin(canned_reply_id: ReplyId, db: Db, principal: Principal = Use) -> CannedReplyOut:
    reply = await get_usable_reply(db, principal, canned_reply_id)
    await actions.set_pin(db, principal, reply, True)
    return await _reply_view(db, principal, reply)


@router.delete("/replies/{canned_reply_id}/pin", summary="Unpin a reply")
async def unpin(canned_reply_id: ReplyId, db: Db, principal: Principal = Use) -> CannedReplyOut:
    reply = await get_usable_reply(db, principal, canned_reply_id)
    await actions.set_pin(db, principal, reply, False)
    return await _reply_view(db, principal, reply)


@router.get("/prefs", summary="My sort of the canned lists")
async def get_prefs(db: Db, principal: Principal = Use) -> CannedPrefsOut:
    return CannedPrefsOut(sort=await actions.get_sort(db, principal))


@router.put("/prefs", summary="Remember my sort: smart (usage) or by update time")
async def put_prefs(body: CannedPrefsIn, db: Db, principal: Principal = Use) -> CannedPrefsOut:
    return CannedPrefsOut(sort=await actions.set_sort(db, principal, body.sort))


# --- submissions to the public set --------------------------------------------------------


@router.post("/submissions", status_code=201, summary="Submit one of my replies to the public set")
async def submit(
    body: CannedSubmissionIn, db: Db, principal: Principal = Use
) -> CannedSubmissionOut:
    s = await submissions.submit(db, principal, body)
    return await submissions.view_one(db, s)


@router.get("/submissions/mine", summary="My submissions, newest first")
async def my_submissions(
    db: Db,
    params: Annotated[PageParams, Depends()],
    state: Annotated[Literal["pending", "accepted", "rejected", "all"], Query()] = "all",
    principal: Principal = Use,
) -> PageOut[CannedSubmissionOut]:
    items, total = await submissions.listing(
        db,
        principal.tenant_id,
        state=state,
        requester_id=principal.user.id,
        offset=params.offset,
        limit=params.page_size,
    )
    return PageOut[CannedSubmissionOut](
        items=items, total=total, page=params.page, page_size=params.page_size
    )


@router.get("/submissions", summary="Submissions to the public set, newest first")
async def list_submissions(
    db: Db,
    params: Annotated[PageParams, Depends()],
    state: Annotated[Literal["pending", "accepted", "rejected", "all"], Query()] = "pending",
    principal: Principal = Manage,
) -> PageOut[CannedSubmissionOut]:
    items, total = await submissions.listing(
        db,
        principal.tenant_id,
        state=state,
        requester_id=None,
        offset=params.offset,
        limit=params.page_size,
    )
    return PageOut[CannedSubmissionOut](
        items=items, total=total, page=params.page, page_size=params.page_size
    )


@router.post(
    "/submissions/{canned_submission_id}/accept",
    summary="Accept a submission: it becomes a public reply",
)
async def accept_submission(
    canned_submission_id: SubmissionId,
    request: Request,
    db: Db,
    body: CannedAcceptIn | None = None,
    principal: Principal = Manage,
) -> CannedSubmissionOut:
    s = await get_submission(db, principal, canned_submission_id, lock=True)
    await submissions.accept(db, principal, s, body or CannedAcceptIn(), client_ip(request))
    return await submissions.view_one(db, s)


@router.post("/submissions/{canned_submission_id}/reject", summary="Reject a submission")
async def reject_submission(
    canned_submission_id: SubmissionId,
    request: Request,
    db: Db,
    body: CannedRejectIn | None = None,
    principal: Principal = Manage,
) -> CannedSubmissionOut:
    s = await get_submission(db, principal, canned_submission_id, lock=True)
    await submissions.reject(db, principal, s, body or CannedRejectIn(), client_ip(request))
    return await submissions.view_one(db, s)
