"""The export job runner: a background loop in every server process (§14).

A job row is written (queued) before `POST /exports` answers. The loop claims queued jobs —
PostgreSQL with `FOR UPDATE SKIP LOCKED`, so several nodes never take the same job; SQLite has
one writer — and runs each one outside any write transaction: the kind reads in its own pages
through a read-only session while progress (and the job's lease) is written in short
transactions about once a second. A job left `running` by a stopped process is taken again when
its lease has passed (at most MAX_ATTEMPTS times).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kefu.core import clock
from kefu.core.db import WriteGate, sqlite_write_intent
from kefu.core.errors import ApiError
from kefu.core.i18n import set_language
from kefu.events.bus import EventBus, publish_all, take_events
from kefu.exports import actions
from kefu.exports.models import ExportJob
from kefu.exports.registry import export_kind
from kefu.exports.writer import TooLarge, write_file
from kefu.notifications.actions import notify

log = logging.getLogger("kefu.exports")

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 3
POLL_SECONDS = 0.5
PROGRESS_SECONDS = 1.0


class _Gone(Exception):
    """The job was deleted (or taken by another process) while it ran."""


class _Failed(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _claimable(now: Any) -> Any:
    return or_(
        ExportJob.state == "queued",
        and_(ExportJob.state == "running", ExportJob.lease_until < now),
    )


class JobRunner:
    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        bus: EventBus,
        gate: WriteGate | None = None,
        poll: float = POLL_SECONDS,
    ) -> None:
        self.maker = maker
        self.bus = bus
        self.gate = gate or WriteGate(False)
        self.poll = poll
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="kefu-exports")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                while await self.run_next():
                    pass
            except Exception:
                log.exception("export runner failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll)
            self._wake.clear()

    # -- short write transactions ---------------------------------------------------------
    async def _write(self, fn: Any) -> Any:
        token = sqlite_write_intent.set(True)
        try:
            async with self.gate.hold(), self.maker() as db:
                result = await fn(db)
                await db.commit()
                events = take_events(db)
        finally:
            sqlite_write_intent.reset(token)
        await publish_all(self.bus, events)
        return result

    async def _any_claimable(self) -> bool:
        token = sqlite_write_intent.set(False)
        try:
            async with self.maker() as db:
                found = await db.scalar(
                    select(ExportJob.id).where(_claimable(clock.now())).limit(1)
                )
                return found is not None
        finally:
            sqlite_write_intent.reset(token)

    async def _claim(self) -> tuple[int, int] | bool | None:
        """(job id, attempt) claimed; None when nothing is left; False when a job was dropped."""

        async def claim(db: AsyncSession) -> tuple[int, int] | bool | None:
            now = clock.now()
            pick = select(ExportJob).where(_claimable(now)).order_by(ExportJob.id).limit(1)
            if db.get_bind().dialect.name == "postgresql":
                pick = pick.with_for_update(skip_locked=True)
            job = await db.scalar(pick)
            if job is None:
                return None
            if job.attempts >= MAX_ATTEMPTS:
                actions.fail(job, "export_failed")
                await _notice(db, job)
                return False
            job.state = "running"
            job.started_at = now
            job.lease_until = now + LEASE
            job.attempts += 1
            job.progress_done = 0
            return job.id, job.attempts

        result: tuple[int, int] | bool | None = await self._write(claim)
        return result

    async def run_next(self) -> bool:
        """Claim and run one job; False when none was waiting."""
        if not await self._any_claimable():
            return False
        claimed = await self._claim()
        if claimed is None:
            return False
        if claimed is False:
            return True
        assert isinstance(claimed, tuple)
        await self.run_job(*claimed)
        return True

    # -- one job ----------------------------------------------------------------------------
    async def run_job(self, job_id: int, attempt: int) -> None:
        done = 0
        abs_path = None
        rel_path = ""

        async def save_progress(total: int | None = None) -> None:
            async def write(db: AsyncSession) -> None:
                job = await db.get(ExportJob, job_id)
                if job is None or job.state != "running" or job.attempts != attempt:
                    raise _Gone
                job.progress_done = done
                if total is not None:
                    job.progress_total = total
                job.lease_until = clock.now() + LEASE

            await self._write(write)

        def progress(n: int) -> None:
            nonlocal done
            done += max(0, int(n))

        code: str | None = None
        size = 0
        token = sqlite_write_intent.set(False)
        try:
            async with self.maker() as db:
                job = await db.get(ExportJob, job_id)
                if job is None:
                    return
                set_language(job.lang)
                fmt = job.format if job.format in ("xlsx", "csv") else "xlsx"
                try:
                    principal = await actions.principal_for_user(db, job.tenant_id, job.user_id)
                    kind = export_kind(job.kind)
                    if kind is None:
                        raise _Failed("export_kind_unknown")
                    if not actions.may_start(principal, kind):
                        raise _Failed("forbidden")
                    params = kind.params_model.model_validate(job.params or {})
                    total = int(await kind.count(db, principal, params))
                    cap = actions.max_units(kind)
                    if cap is not None and total > cap:
                        raise _Failed(
                            "export_too_many_conversations"
                            if kind.max_units is not None
                            else "export_too_many_rows"
                        )
                    await save_progress(total)
                    try:
                        zone = ZoneInfo(principal.tenant.time_zone)
                    except (KeyError, ValueError):
                        zone = ZoneInfo("Asia/Shanghai")
                    folder = actions.data_root(db) / str(job.tenant_id)
                    folder.mkdir(parents=True, exist_ok=True)
                    rel_path = f"{job.tenant_id}/{secrets.token_hex(16)}.{fmt}"
                    abs_path = actions.data_root(db) / rel_path
                    sheets = kind.sheets(db, principal, params, job.lang, progress)
                    size = await write_file(
                        abs_path,
                        fmt,
                        sheets,
                        tz=zone,
                        max_bytes=actions.max_bytes(),
                        tick=save_progress,
                        tick_every=PROGRESS_SECONDS,
                    )
                except _Failed as e:
                    code = e.code
                except TooLarge:
                    code = "export_too_large"
                except ApiError as e:
                    code = e.code if e.code in ("forbidden", "not_found") else "export_failed"
                except _Gone:
                    actions.remove_file(abs_path)
                    return
                except Exception:
                    log.exception("export job %s failed", job_id)
                    code = "export_failed"
        finally:
            sqlite_write_intent.reset(token)

        if code is not None:
            actions.remove_file(abs_path)

        async def conclude(db: AsyncSession) -> None:
            job = await db.get(ExportJob, job_id)
            if job is None or job.state != "running" or job.attempts != attempt:
                actions.remove_file(abs_path)
                return
            job.progress_done = done
            if code is None:
                await actions.finish(db, job, path=rel_path, size=size)
            else:
                actions.fail(job, code)
            await _notice(db, job)

        try:
            await self._write(conclude)
        except Exception:
            actions.remove_file(abs_path)
            raise


async def _notice(db: AsyncSession, job: ExportJob) -> None:
    if job.user_id is None:
        return
    await notify(
        db,
        tenant_id=job.tenant_id,
        user_id=job.user_id,
        kind="export_finished" if job.state == "done" else "export_failed",
        data={
            "job_id": job.id,
            "kind": job.kind,
            "file_name": job.file_name,
            "error_code": job.error_code,
        },
    )


def runner_of(app: Any) -> JobRunner | None:
    return getattr(app.state, "export_runner", None)


def make_runner(app: Any) -> JobRunner:
    runner = JobRunner(app.state.sessionmaker, app.state.bus, app.state.write_gate)
    app.state.export_runner = runner
    return runner
