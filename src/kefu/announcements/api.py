"""Announcement routes (§15.2): admins with the Message center page publish; recipients read."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile

from kefu.access.guards import require_page
from kefu.access.principal import Principal, SignedIn
from kefu.announcements import actions
from kefu.announcements.schemas import AnnouncementIn, AnnouncementOut, RecipientOption
from kefu.api.deps import Db, UnitOfWorkRoute, client_ip
from kefu.attachments.actions import accept_upload, attachment_view
from kefu.conversations.schemas import AttachmentOut
from kefu.core.schemas import PageOut, PageParams

router = APIRouter(prefix="/announcements", tags=["announcements"], route_class=UnitOfWorkRoute)
Publish = require_page("admin.message_center")
AnnouncementId = Annotated[int, Path(ge=1, le=2**53)]


@router.get("/recipients", summary="Skill groups and agents an announcement can go to")
async def recipients(
    db: Db,
    q: Annotated[str, Query(max_length=50, pattern=r"^[^\x00-\x1f\x7f]*$")] = "",
    principal: Principal = Publish,
) -> list[RecipientOption]:
    return await actions.recipient_options(db, principal.tenant_id, q)


@router.post(
    "/attachments",
    status_code=201,
    summary="Upload an image or file (≤ 10 MB) to attach to an announcement; kept permanently",
)
async def upload(
    request: Request,
    db: Db,
    file: Annotated[UploadFile, File()],
    kind: Annotated[Literal["image", "file"], Form()],
    principal: Principal = Publish,
) -> AttachmentOut:
    att = await accept_upload(
        db,
        request.app.state.settings,
        tenant_id=principal.tenant_id,
        upload=file,
        kind=kind,
        uploader_type="agent",
        uploader_id=principal.user.id,
        conversation_id=None,
        permanent=True,
    )
    return AttachmentOut(**attachment_view(request.app.state.settings, att))


@router.post("", status_code=201, summary="Publish an announcement to members, groups or all")
async def publish(
    body: AnnouncementIn, request: Request, db: Db, principal: Principal = Publish
) -> AnnouncementOut:
    ann = await actions.publish(db, principal, body, client_ip(request))
    return await actions.view(db, request.app.state.settings, ann)


@router.get("", summary="Announcements published in the company, newest first")
async def list_published(
    request: Request,
    db: Db,
    params: Annotated[PageParams, Depends()],
    principal: Principal = Publish,
) -> PageOut[AnnouncementOut]:
    rows, total = await actions.published(
        db, principal.tenant_id, offset=params.offset, limit=params.page_size
    )
    settings = request.app.state.settings
    return PageOut[AnnouncementOut](
        items=[await actions.view(db, settings, a) for a in rows],
        total=total,
        page=params.page,
        page_size=params.page_size,
    )


@router.get("/{announcement_id}", summary="One announcement (its author and recipients only)")
async def read(
    announcement_id: AnnouncementId, request: Request, db: Db, principal: SignedIn
) -> AnnouncementOut:
    ann = await actions.readable(db, principal, announcement_id)
    return await actions.view(db, request.app.state.settings, ann)
