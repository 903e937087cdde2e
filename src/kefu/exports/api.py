"""Export management routes (§14): start an export job, list jobs, download, download records.

Agent mode (`agent.exports`) sees the caller's own files; admin mode (`admin.exports`) sees
every file of the tenant. Starting a job needs one of the pages of its kind (not an exports page).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Path, Query, Request, Response
from fastapi.responses import FileResponse
from sqlalchemy.ext.asyncio import AsyncSession

import kefu.exports.kinds  # registers the export kinds of every domain
import kefu.exports.timers  # noqa: F401  (registers the expiry timer)
from kefu.access.guards import require_any_page
from kefu.access.principal import Principal
from kefu.api.deps import Db, UnitOfWorkRoute, client_ip
from kefu.core.db import run_in_own_transaction
from kefu.core.errors import ApiError
from kefu.core.schemas import Line40, PageOut, PageParams
from kefu.exports import actions
from kefu.exports.models import ExportJob
from kefu.exports.runner import runner_of
from kefu.exports.schemas import ExportCreate, ExportDownloadOut, ExportJobOut, ExportState

router = APIRouter(prefix="/exports", tags=["exports"], route_class=UnitOfWorkRoute)
Exports = require_any_page(*actions.EXPORT_PAGES)
Start = require_any_page(*actions.SOURCE_PAGES)
BINARY = {"type": "string", "format": "binary"}
JobId = Annotated[int, Path(ge=1, le=2**53)]
MEDIA = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


def _wake(request: Request) -> None:
    runner = runner_of(request.app)
    if runner is not None:
        runner.wake()


@router.post(
    "",
    status_code=202,
    summary="Start an export job (the page's current filter); the file is made in the background",
)
async def create_export(
    body: ExportCreate,
    request: Request,
    background: BackgroundTasks,
    db: Db,
    principal: Principal = Start,
) -> ExportJobOut:
    job = await actions.create_job(db, principal, body.kind, body.params, body.format)
    # Runs after the response, i.e. after the job row is committed.
    background.add_task(_wake, request)
    return await actions.view(db, job)


@router.get("", summary="Export jobs, newest first (agent mode: mine; admin mode: everyone's)")
async def list_exports(
    db: Db,
    params: Annotated[PageParams, Depends()],
    mode: Annotated[
        Literal["agent", "admin"],
        Query(description="agent: my files; admin: every file of the tenant (admin.exports)"),
    ] = "agent",
    state: Annotated[ExportState | None, Query()] = None,
    kind: Annotated[Line40 | None, Query()] = None,
    principal: Principal = Exports,
) -> PageOut[ExportJobOut]:
    everyone = mode == "admin"
    if everyone and not actions.is_export_admin(principal):
        raise ApiError("forbidden")
    jobs, total = await actions.page(
        db,
        principal,
        everyone=everyone,
        state=state,
        kind=kind,
        offset=params.offset,
        limit=params.page_size,
    )
    return PageOut[ExportJobOut](
        items=await actions.views(db, jobs),
        total=total,
        page=params.page,
        page_size=params.page_size,
    )


@router.get("/{export_id}", summary="One export job")
async def read_export(export_id: JobId, db: Db, principal: Principal = Exports) -> ExportJobOut:
    return await actions.view(db, await actions.get_job(db, principal, export_id))


@router.get(
    "/{export_id}/download",
    summary="Download the file (recorded: who, when, IP); 410 after 7 days",
    response_class=FileResponse,
    responses={
        200: {
            "content": {
                m: {"schema": {"type": "string", "format": "binary"}} for m in MEDIA.values()
            }
        }
    },
)
async def download_export(
    export_id: JobId, request: Request, db: Db, principal: Principal = Exports
) -> FileResponse:
    job = await actions.get_job(db, principal, export_id)
    path = actions.check_downloadable(db, job)
    ip = client_ip(request)

    async def record(session: AsyncSession) -> None:
        fresh = await session.get(ExportJob, job.id)
        if fresh is not None:
            actions.add_download(session, principal, fresh, ip)

    # A GET is a read-only unit of work; the download record commits on its own.
    async with request.app.state.write_gate.hold():
        await run_in_own_transaction(request.app.state.sessionmaker, record)
    return FileResponse(
        path,
        media_type=MEDIA.get(job.format, "application/octet-stream"),
        filename=job.file_name,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/{export_id}/downloads", summary="Who downloaded the file, when and from which IP")
async def list_downloads(
    export_id: JobId, db: Db, principal: Principal = Exports
) -> list[ExportDownloadOut]:
    return await actions.downloads(db, await actions.get_job(db, principal, export_id))


@router.delete("/{export_id}", status_code=204, summary="Delete an export job and its file")
async def delete_export(export_id: JobId, db: Db, principal: Principal = Exports) -> Response:
    job = await actions.get_job(db, principal, export_id, lock=True)
    await actions.delete_job(db, job)
    return Response(status_code=204)
