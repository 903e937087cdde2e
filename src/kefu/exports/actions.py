"""Export jobs (§14): create, list, delete, record downloads, expire. The caller owns the
transaction; the runner (kefu.exports.runner) writes the files."""

from __future__ import annotations

import contextlib
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal, tenant_pages
from kefu.accounts.models import AuthSession, User
from kefu.core import clock
from kefu.core.db import settings_of
from kefu.core.errors import CODES, ApiError, register_codes, validation_fields
from kefu.core.i18n import current_language, pick
from kefu.exports.models import ExportDownload, ExportJob
from kefu.exports.registry import ExportKind, export_kind
from kefu.exports.schemas import ExportDownloadOut, ExportJobOut, ExportUserRef
from kefu.roles.models import Role
from kefu.tenants.models import Tenant
from kefu.workers.scheduler import cancel_timer, schedule_timer

register_codes(
    {
        "export_kind_unknown": (422, "不支持的导出类型", "Unknown export kind"),
        "export_not_ready": (
            409,
            "文件尚未生成完成，请稍后再下载",
            "The file is not ready yet; download it when it is done",
        ),
        "export_expired": (
            410,
            "文件已过期（有效期 7 天），请重新导出",
            "The file has expired (files are kept 7 days); export again",
        ),
        "export_too_many_conversations": (
            422,
            "会话数超过 {limit} 条上限，请缩小筛选范围后重新导出",
            "More than {limit} conversations; narrow the filter and export again",
        ),
        "export_too_many_rows": (
            422,
            "数据超过 {limit} 行上限，请缩小筛选范围后重新导出",
            "More than {limit} rows; narrow the filter and export again",
        ),
        "export_too_large": (
            422,
            "文件超过 {limit} 上限，请缩小筛选范围后重新导出",
            "The file would exceed {limit}; narrow the filter and export again",
        ),
        "export_failed": (
            500,
            "导出失败，请稍后重试",
            "The export failed; please try again later",
        ),
        "export_too_many_pending": (
            429,
            "你已有 {limit} 个导出任务在排队或生成中，请等待完成后再导出",
            "You already have {limit} exports queued or running; wait for them to finish",
        ),
    }
)

EXPORT_PAGES = ("agent.exports", "admin.exports")
# Who may call POST /exports at all: the pages §14 exports from, and Export management itself.
# Each kind then asks for its own pages; a kind's pages must be among these.
SOURCE_PAGES = (
    "agent.leave_messages",
    "agent.history",
    "admin.members.agents",
    "admin.history",
    "admin.search",
    "admin.customers",
    "admin.leave_messages",
    "admin.qa",
    "admin.stats",
    "admin.monitor.realtime",
    "admin.monitor.field",
    *EXPORT_PAGES,
)
ADMIN_PAGE = "admin.exports"
KEEP_DAYS = 7
EXPIRE_TIMER = "export_expire"
MAX_PENDING_PER_USER = 5
DEFAULT_MAX_BYTES = 50 * 1024 * 1024


def max_bytes() -> int:
    """The file cap (§14: 50 MB); `KEFU_EXPORT_MAX_BYTES` lowers it (tests, small servers)."""
    raw = os.environ.get("KEFU_EXPORT_MAX_BYTES", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_MAX_BYTES


def max_units(kind: ExportKind) -> int | None:
    """The kind's unit cap; `KEFU_EXPORT_MAX_UNITS` caps every kind lower (tests, operators)."""
    raw = os.environ.get("KEFU_EXPORT_MAX_UNITS", "")
    env = int(raw) if raw.isdigit() and int(raw) > 0 else None
    caps = [c for c in (kind.max_units, env) if c is not None]
    return min(caps) if caps else None


def size_text(n: int) -> str:
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MB"
    if n >= 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n} B"


def error_params(job: ExportJob) -> dict[str, Any]:
    kind = export_kind(job.kind)
    if job.error_code == "export_too_large":
        return {"limit": size_text(max_bytes())}
    if job.error_code in ("export_too_many_conversations", "export_too_many_rows"):
        return {"limit": (max_units(kind) if kind else None) or 0}
    if job.error_code == "export_too_many_pending":
        return {"limit": MAX_PENDING_PER_USER}
    return {}


def error_message(job: ExportJob) -> str | None:
    if not job.error_code or job.error_code not in CODES:
        return None
    _, zh, en = CODES[job.error_code]
    try:
        return pick(zh, en).format(**error_params(job))
    except (KeyError, IndexError):
        return pick(zh, en)


def data_root(db: AsyncSession) -> Path:
    return settings_of(db).data_dir / "exports"


def file_of(db: AsyncSession, job: ExportJob) -> Path | None:
    return data_root(db) / job.file_path if job.file_path else None


def remove_file(path: Path | None) -> None:
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


async def principal_for_user(db: AsyncSession, tenant_id: int, user_id: int | None) -> Principal:
    """The user's rights right now, without a sign-in session (background jobs run as them).

    A missing or disabled user, or an expired tenant, is `forbidden`.
    """
    user = await db.get(User, user_id) if user_id is not None else None
    tenant = await db.get(Tenant, tenant_id)
    if user is None or tenant is None or user.tenant_id != tenant.id or not user.enabled:
        raise ApiError("forbidden")
    now = clock.now()
    if tenant.expires_at is not None and tenant.expires_at <= now:
        raise ApiError("forbidden")
    role = await db.get(Role, user.role_id)
    if role is None:
        raise ApiError("forbidden")
    # A stand-in session (never stored): the job is not a sign-in.
    session = AuthSession(
        token_digest="",
        tenant_id=tenant.id,
        user_id=user.id,
        client="job",
        role_id_at_login=role.id,
        created_at=now,
        last_seen_at=now,
        expires_at=now,
    )
    return Principal(
        user=user,
        tenant=tenant,
        session=session,
        role=role,
        pages=tenant_pages(role, tenant),
        data_scopes=dict(role.data_scopes or {}),
    )


def may_start(principal: Principal, kind: ExportKind) -> bool:
    return bool(principal.pages & set(kind.pages))


def is_export_admin(principal: Principal) -> bool:
    return ADMIN_PAGE in principal.pages


def local_stamp(tenant: Tenant, at: datetime) -> str:
    try:
        zone = ZoneInfo(tenant.time_zone)
    except (KeyError, ValueError):
        zone = ZoneInfo("Asia/Shanghai")
    return at.astimezone(zone).strftime("%Y%m%d_%H%M%S")


async def create_job(
    db: AsyncSession, principal: Principal, kind_name: str, params: dict[str, Any], fmt: str
) -> ExportJob:
    kind = export_kind(kind_name)
    if kind is None:
        raise ApiError("export_kind_unknown")
    if not may_start(principal, kind):
        raise ApiError("forbidden")
    try:
        checked = kind.params_model.model_validate(params)
    except ValidationError as e:
        fields = validation_fields(
            [{**err, "loc": ("params", *err.get("loc", ()))} for err in e.errors()]
        )
        raise ApiError(
            "validation_error", fields=fields, detail="; ".join(f["message"] for f in fields)
        ) from e
    # Counting now runs the kind's own rights check (e.g. History's admin mode) and the caps, so
    # a request that cannot succeed is refused here rather than accepted and failed as a job.
    total = int(await kind.count(db, principal, checked))
    cap = max_units(kind)
    if cap is not None and total > cap:
        code = (
            "export_too_many_conversations"
            if kind.max_units is not None
            else "export_too_many_rows"
        )
        raise ApiError(code, limit=cap)
    pending = await db.scalar(
        select(func.count())
        .select_from(ExportJob)
        .where(
            ExportJob.tenant_id == principal.tenant_id,
            ExportJob.user_id == principal.user.id,
            ExportJob.state.in_(("queued", "running")),
        )
    )
    if int(pending or 0) >= MAX_PENDING_PER_USER:
        raise ApiError("export_too_many_pending", limit=MAX_PENDING_PER_USER)
    lang = current_language()
    now = clock.now()
    stem = kind.title(lang).strip() or kind.kind
    job = ExportJob(
        tenant_id=principal.tenant_id,
        user_id=principal.user.id,
        user_name=principal.user.nickname,
        kind=kind.kind,
        params=checked.model_dump(mode="json", exclude_none=True),
        format=fmt,
        lang=lang,
        state="queued",
        progress_done=0,
        progress_total=0,
        file_name=f"{stem}_{local_stamp(principal.tenant, now)}.{fmt}"[:200],
        size_bytes=0,
        attempts=0,
        created_at=now,
    )
    db.add(job)
    await db.flush()
    return job


def _visible(stmt: Any, principal: Principal, *, everyone: bool) -> Any:
    stmt = stmt.where(ExportJob.tenant_id == principal.tenant_id)
    if not everyone:
        stmt = stmt.where(ExportJob.user_id == principal.user.id)
    return stmt


async def get_job(
    db: AsyncSession, principal: Principal, job_id: int, *, lock: bool = False
) -> ExportJob:
    """A job the caller may see: their own, or any of the tenant's for export admins."""
    stmt = _visible(
        select(ExportJob).where(ExportJob.id == job_id),
        principal,
        everyone=is_export_admin(principal),
    )
    if lock:
        stmt = stmt.with_for_update()
    job: ExportJob | None = await db.scalar(stmt)
    if job is None:
        raise ApiError("not_found")
    return job


async def page(
    db: AsyncSession,
    principal: Principal,
    *,
    everyone: bool,
    state: str | None,
    kind: str | None,
    offset: int,
    limit: int,
) -> tuple[list[ExportJob], int]:
    stmt = _visible(select(ExportJob), principal, everyone=everyone)
    if state:
        stmt = stmt.where(ExportJob.state == state)
    if kind:
        stmt = stmt.where(ExportJob.kind == kind)
    total = int(await db.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = await db.scalars(stmt.order_by(ExportJob.id.desc()).offset(offset).limit(limit))
    return list(rows), total


def _name(names: dict[int, str], user_id: int | None, kept: str) -> str:
    return names.get(user_id, kept) if user_id is not None else kept


async def views(db: AsyncSession, jobs: list[ExportJob]) -> list[ExportJobOut]:
    if not jobs:
        return []
    ids = [j.id for j in jobs]
    counts = dict(
        (
            await db.execute(
                select(ExportDownload.job_id, func.count())
                .where(ExportDownload.job_id.in_(ids))
                .group_by(ExportDownload.job_id)
            )
        ).all()
    )
    user_ids = {j.user_id for j in jobs if j.user_id is not None}
    names = (
        dict((await db.execute(select(User.id, User.nickname).where(User.id.in_(user_ids)))).all())
        if user_ids
        else {}
    )
    return [
        ExportJobOut(
            id=j.id,
            kind=j.kind,
            format=j.format,
            file_name=j.file_name,
            state=j.state,
            progress_done=j.progress_done,
            progress_total=j.progress_total,
            error_code=j.error_code,
            error_message=error_message(j),
            size_bytes=j.size_bytes,
            requested_by=ExportUserRef(
                id=j.user_id,
                nickname=names.get(j.user_id, j.user_name) if j.user_id else j.user_name,
            ),
            params=j.params or {},
            created_at=j.created_at,
            started_at=j.started_at,
            finished_at=j.finished_at,
            expires_at=j.expires_at,
            downloads=int(counts.get(j.id, 0)),
        )
        for j in jobs
    ]


async def view(db: AsyncSession, job: ExportJob) -> ExportJobOut:
    return (await views(db, [job]))[0]


def expired(job: ExportJob, now: datetime | None = None) -> bool:
    now = now or clock.now()
    return job.state == "expired" or (
        job.state == "done" and job.expires_at is not None and job.expires_at <= now
    )


def check_downloadable(db: AsyncSession, job: ExportJob) -> Path:
    if expired(job):
        raise ApiError("export_expired")
    path = file_of(db, job)
    if job.state != "done" or path is None:
        raise ApiError("export_not_ready")
    if not path.is_file():
        raise ApiError("export_expired")
    return path


def add_download(db: AsyncSession, principal: Principal, job: ExportJob, ip: str) -> None:
    db.add(
        ExportDownload(
            tenant_id=job.tenant_id,
            job_id=job.id,
            user_id=principal.user.id,
            user_name=principal.user.nickname,
            at=clock.now(),
            ip=ip[:64],
        )
    )


async def downloads(db: AsyncSession, job: ExportJob) -> list[ExportDownloadOut]:
    rows = list(
        await db.scalars(
            select(ExportDownload)
            .where(ExportDownload.job_id == job.id, ExportDownload.tenant_id == job.tenant_id)
            .order_by(ExportDownload.id.desc())
            .limit(500)
        )
    )
    user_ids = {r.user_id for r in rows if r.user_id is not None}
    names = (
        dict((await db.execute(select(User.id, User.nickname).where(User.id.in_(user_ids)))).all())
        if user_ids
        else {}
    )
    return [
        ExportDownloadOut(
            id=r.id,
            user=ExportUserRef(id=r.user_id, nickname=_name(names, r.user_id, r.user_name)),
            at=r.at,
            ip=r.ip,
        )
        for r in rows
    ]


async def delete_job(db: AsyncSession, job: ExportJob) -> None:
    """Delete the job and its file. A running job notices at its next progress write and stops."""
    remove_file(file_of(db, job))
    await cancel_timer(db, kind=EXPIRE_TIMER, subject_id=job.id)
    await db.delete(job)


async def finish(db: AsyncSession, job: ExportJob, *, path: str, size: int) -> None:
    now = clock.now()
    job.state = "done"
    job.file_path = path
    job.size_bytes = size
    job.progress_done = max(job.progress_done, job.progress_total)
    job.finished_at = now
    job.expires_at = now + timedelta(days=KEEP_DAYS)
    job.lease_until = None
    job.error_code = None
    await schedule_timer(
        db, tenant_id=job.tenant_id, kind=EXPIRE_TIMER, subject_id=job.id, due_at=job.expires_at
    )


def fail(job: ExportJob, code: str) -> None:
    job.state = "failed"
    job.error_code = code
    job.file_path = None
    job.size_bytes = 0
    job.finished_at = clock.now()
    job.lease_until = None


def expire(db: AsyncSession, job: ExportJob) -> None:
    remove_file(file_of(db, job))
    job.state = "expired"
    job.file_path = None
