"""Where the metrics come from: bus events, a conversation hook, pool and session events.

Nothing here touches the message or dispatch paths themselves:
- messages are counted from the `message.created` chat event after commit (bus listener);
- dispatch latency is read in an after_assign hook (conv.queued_at is in memory there) and
  recorded only when the transaction commits (SQLAlchemy session events);
- pool use comes from pool checkout/checkin events;
- listener failures from the bus's own error log line (a logging filter on `kefu.events`).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from kefu.conversations import hooks
from kefu.conversations.hooks import NewSegment
from kefu.core import clock
from kefu.events.types import ChatEvent, QueueChanged
from kefu.observability import metrics

if TYPE_CHECKING:
    from kefu.conversations.models import Conversation, Segment

_PENDING = "kefu_metrics_pending"
# Assignments that take a conversation out of the waiting queue.
QUEUE_REASONS = frozenset({"assigned", "picked"})
_SENDERS = frozenset({"visitor", "agent", "system"})


async def on_event(event_: BaseModel) -> None:
    """Bus listener: one persisted message per `message.created` chat event.

    Bus listeners run on the committing node only (the Redis broker hands other nodes' events
    straight to their hubs), so each message is counted once, by the node that stored it."""
    if not isinstance(event_, ChatEvent) or event_.staff_frame.get("name") != "message.created":
        return
    message = (event_.staff_frame.get("data") or {}).get("message") or {}
    sender = (message.get("sender") or {}).get("type")
    metrics.MESSAGES.labels(sender if sender in _SENDERS else "system").inc()


def _pending(db: AsyncSession) -> list[tuple[str, float]]:
    pending: list[tuple[str, float]] = db.info.setdefault(_PENDING, [])
    return pending


def _queued_for(conv: Conversation, segment: Segment | NewSegment) -> tuple[str, float] | None:
    if segment.start_reason not in QUEUE_REASONS or conv.queued_at is None:
        return None
    waited = (clock.now() - conv.queued_at).total_seconds()
    return segment.start_reason, max(waited, 0.0)


@hooks.after_assign(order=1000)
async def record_dispatch(db: AsyncSession, conv: Conversation, segment: Segment) -> None:
    observed = _queued_for(conv, segment)
    if observed is not None:
        _pending(db).append(observed)


async def record_dispatch_many(
    db: AsyncSession, assigned: list[tuple[Conversation, NewSegment]]
) -> None:
    pending = _pending(db)
    for conv, segment in assigned:
        observed = _queued_for(conv, segment)
        if observed is not None:
            pending.append(observed)


# A dispatch pass may call the bulk form in place of the per-assignment hook.
if hasattr(hooks, "after_assign_many"):
    hooks.after_assign_many(record_dispatch)(record_dispatch_many)


def _after_commit(session: Session) -> None:
    for reason, waited in session.info.pop(_PENDING, ()):
        metrics.DISPATCH_LATENCY.labels(reason).observe(waited)


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def install_session_events() -> None:
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_rollback", _after_rollback)


def _checkout(*_: Any) -> None:
    metrics.DB_POOL_IN_USE.inc()


def _checkin(*_: Any) -> None:
    metrics.DB_POOL_IN_USE.dec()


def install_pool_events(engine: AsyncEngine) -> None:
    event.listen(engine.sync_engine, "checkout", _checkout)
    event.listen(engine.sync_engine, "checkin", _checkin)


class _ListenerFailures(logging.Filter):
    """The bus logs `event listener failed for <type>` with the exception: count it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and record.exc_info:
            args = record.args if isinstance(record.args, tuple) else ()
            metrics.listener_failed(args[0] if args else "other")
        return True


def install_failure_counter() -> None:
    logger = logging.getLogger("kefu.events")
    if not any(isinstance(f, _ListenerFailures) for f in logger.filters):
        logger.addFilter(_ListenerFailures())


class QueueTracker:
    """The waiting-queue gauge: every QueueChanged event carries its tenant's exact count;
    a recount from the database (at most once a minute, at scrape time) covers a fresh start
    and changes made on other nodes whose events this node did not hear."""

    RECOUNT_AFTER = 60.0

    def __init__(self) -> None:
        self.by_tenant: dict[int, int] = {}
        self.changed_at: dict[int, float] = {}
        self.recounted_at: float | None = None

    def changed(self, tenant_id: int, waiting: int) -> None:
        self.by_tenant[tenant_id] = max(waiting, 0)
        self.changed_at[tenant_id] = time.monotonic()
        self.publish()

    def publish(self) -> None:
        metrics.QUEUE_WAITING.set(sum(self.by_tenant.values()))

    def due(self) -> bool:
        return (
            self.recounted_at is None or time.monotonic() - self.recounted_at > self.RECOUNT_AFTER
        )

    def recounted(self, started: float, counts: dict[int, int]) -> None:
        """Database counts taken from `started` on; events heard since then win."""
        for tenant_id in set(self.by_tenant) | set(counts):
            if self.changed_at.get(tenant_id, float("-inf")) > started:
                continue
            if tenant_id in counts:
                self.by_tenant[tenant_id] = counts[tenant_id]
            else:
                self.by_tenant.pop(tenant_id, None)
        self.recounted_at = time.monotonic()
        self.publish()

    async def on_event(self, event_: BaseModel) -> None:
        if isinstance(event_, QueueChanged):
            self.changed(event_.tenant_id, event_.waiting)
