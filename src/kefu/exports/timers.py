"""Export files expire 7 days after they are made (§14): a durable timer per job."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.exports import actions
from kefu.exports.models import ExportJob
from kefu.workers.scheduler import DueTimer, timer_handler


@timer_handler(actions.EXPIRE_TIMER)
async def expire_job(db: AsyncSession, due: DueTimer) -> None:
    job = await db.get(ExportJob, due.subject_id)
    if job is not None and job.tenant_id == due.tenant_id and job.state == "done":
        actions.expire(db, job)
