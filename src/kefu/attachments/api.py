"""Serving attachments by signed link: only clients that could see the message got the link."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse

from kefu.api.deps import Db, UnitOfWorkRoute
from kefu.attachments.actions import check_signature, storage_for
from kefu.attachments.models import Attachment
from kefu.core.errors import ApiError

router = APIRouter(tags=["attachments"], route_class=UnitOfWorkRoute)


@router.get(
    "/files/{attachment_id}",
    summary="Download an attachment through the signed link in its message",
    response_class=FileResponse,
)
async def get_file(
    attachment_id: Annotated[int, Path(ge=1, le=2**53)],
    request: Request,
    db: Db,
    exp: Annotated[int, Query(ge=0, le=2**40)],
    sig: Annotated[str, Query(max_length=64)],
) -> FileResponse:
    settings = request.app.state.settings
    if not check_signature(settings, attachment_id, exp, sig):
        raise ApiError("link_expired")
    att = await db.get(Attachment, attachment_id)
    path = storage_for(settings).path(att.storage_key) if att is not None else None
    if att is None or att.removed_at is not None or path is None:
        raise ApiError("not_found")
    # Served as an inert download whatever it contains: no sniffing, no inline rendering.
    return FileResponse(
        path,
        media_type=att.content_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(att.name)}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, max-age=86400",
        },
    )
