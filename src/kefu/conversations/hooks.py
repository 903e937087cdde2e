"""Extension points other domains plug into conversation actions (§6, §7, §9, §10, §3.9).

Hooks run inside the action's transaction, so what they write commits or rolls back with it;
a `before_*` hook refuses by raising `ApiError`. Domains register at import time (see
`kefu.models.load_all_models`), ordered by `order` (lower first), so e.g. the end message
goes out before the satisfaction invitation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from kefu.conversations.models import Conversation, Message, Segment


@dataclass(frozen=True)
class Ending:
    """Why a conversation ends. `by`: agent | admin | visitor | system. `reason` is set for
    automatic ends: visitor_timeout | inactive | waiting_timeout | blacklist | leave_message."""

    by: str
    actor_id: int | None
    reason: str | None = None

    @property
    def automatic(self) -> bool:
        return self.reason is not None


BeforeEnd = Callable[[AsyncSession, "Conversation", Ending], Awaitable[None]]
AfterEnd = Callable[[AsyncSession, "Conversation", Ending], Awaitable[None]]
AfterMessage = Callable[[AsyncSession, "Conversation", "Message"], Awaitable[None]]
AfterOpen = Callable[[AsyncSession, "Conversation"], Awaitable[None]]
AfterAssign = Callable[[AsyncSession, "Conversation", "Segment"], Awaitable[None]]


class NewSegment(NamedTuple):
    """A segment as a dispatch pass inserted it: its values, not a row loaded into the session
    (building hundreds of ORM objects a pass cost more than choosing their agents)."""

    id: int
    tenant_id: int
    conversation_id: int
    agent_id: int
    start_reason: str
    skill_group_id: int | None
    started_at: datetime


# The bulk form of an after_assign hook: a dispatch pass calls it once with all its
# assignments, in place of the per-assignment hook it stands for (same effect).
AfterAssignMany = Callable[[AsyncSession, list[tuple["Conversation", NewSegment]]], Awaitable[None]]


@dataclass
class _Hooks:
    before_end: list[tuple[int, BeforeEnd]] = field(default_factory=list)
    after_end: list[tuple[int, AfterEnd]] = field(default_factory=list)
    # Every stored non-whisper message: visitor, agent and system (check `message.sender_type`).
    after_message: list[tuple[int, AfterMessage]] = field(default_factory=list)
    # A new conversation exists (state waiting, before routing places it).
    after_open: list[tuple[int, AfterOpen]] = field(default_factory=list)
    # A conversation went back to waiting in a group's queue (a transfer to a busy group).
    after_requeue: list[tuple[int, AfterOpen]] = field(default_factory=list)
    # An agent received the conversation (dispatch, pickup, transfer, callback, reassign).
    after_assign: list[tuple[int, AfterAssign]] = field(default_factory=list)
    # Bulk forms of some after_assign hooks, keyed by the hook they replace in a drain pass.
    after_assign_many: dict[AfterAssign, AfterAssignMany] = field(default_factory=dict)


HOOKS = _Hooks()


F = TypeVar("F")


def _add(hooks: list[tuple[int, F]], order: int, fn: F) -> F:
    if all(existing is not fn for _, existing in hooks):
        hooks.append((order, fn))
        hooks.sort(key=lambda pair: pair[0])
    return fn


def before_end(order: int = 100) -> Callable[[BeforeEnd], BeforeEnd]:
    return lambda fn: _add(HOOKS.before_end, order, fn)


def after_end(order: int = 100) -> Callable[[AfterEnd], AfterEnd]:
    return lambda fn: _add(HOOKS.after_end, order, fn)


def after_message(order: int = 100) -> Callable[[AfterMessage], AfterMessage]:
    return lambda fn: _add(HOOKS.after_message, order, fn)


def after_open(order: int = 100) -> Callable[[AfterOpen], AfterOpen]:
    return lambda fn: _add(HOOKS.after_open, order, fn)


def after_requeue(order: int = 100) -> Callable[[AfterOpen], AfterOpen]:
    return lambda fn: _add(HOOKS.after_requeue, order, fn)


def after_assign(order: int = 100) -> Callable[[AfterAssign], AfterAssign]:
    return lambda fn: _add(HOOKS.after_assign, order, fn)


def after_assign_many(per_item: AfterAssign) -> Callable[[AfterAssignMany], AfterAssignMany]:
    """Register the bulk form of the after_assign hook `per_item` (see `actions.assign_many`)."""

    def register(fn: AfterAssignMany) -> AfterAssignMany:
        HOOKS.after_assign_many[per_item] = fn
        return fn

    return register


# Deferred set-wise work. In a group-committed batch of socket sends (`kefu.chat.batcher`),
# a hook may gather what each message asks of it and do it once for the whole batch, just
# before the batch commits (e.g. one timers DELETE for every conversation a visitor wrote in).
# Outside a batch nothing is deferred: hooks run their work at once.
_BATCH = "send_batch"
_DEFERRED = "deferred_hooks"
Deferred = Callable[[AsyncSession], Awaitable[None]]


def begin_batch(db: AsyncSession) -> None:
    """The session runs a batch of sends without savepoints: hooks may defer (see above)."""
    db.info[_BATCH] = True


def in_batch(db: AsyncSession) -> bool:
    return bool(db.info.get(_BATCH))


def defer(db: AsyncSession, fn: Deferred) -> None:
    """Run `fn(db)` before the batch commits (once, however often it is deferred)."""
    pending: dict[Deferred, None] = db.info.setdefault(_DEFERRED, {})
    pending[fn] = None


async def run_deferred(db: AsyncSession) -> None:
    """Run the deferred work (the batcher, before its commit)."""
    pending: dict[Deferred, None] = db.info.get(_DEFERRED, {})
    while pending:
        fn = next(iter(pending))
        del pending[fn]
        await fn(db)


@dataclass(frozen=True, eq=False)  # hashed by identity: statements are built per set of parts
class BulkSql:
    """SQL an after_message hook's set-wise work runs inside PostgreSQL's one statement for a
    batch of visitor sends (`conversations.bulk_pg`), saving that work's own round trip.

    Both parts see `c`: the conversations the statement wrote, with their stored columns. `cte`
    is a data-modifying statement (run as a CTE: it runs whether or not anything reads it);
    `column` an SQL expression, one value per conversation, handed back to the hook through
    `bulk_sql_results`. Bound values go in `params`, named after `name`."""

    name: str  # unique; also names the CTE and the result column
    cte: str | None = None
    column: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


BULK_SQL: list[BulkSql] = []  # registered at import time, like the hooks
_BULK_SQL_RESULTS = "bulk_sql_results"


def bulk_sql(part: BulkSql) -> BulkSql:
    if all(existing.name != part.name for existing in BULK_SQL):
        BULK_SQL.append(part)
    return part


def record_bulk_sql(db: AsyncSession, name: str, values: dict[int, Any]) -> None:
    """`bulk_pg`: what `name`'s column gave per conversation (the part ran for these)."""
    db.info.setdefault(_BULK_SQL_RESULTS, {}).setdefault(name, {}).update(values)


def bulk_sql_results(db: AsyncSession, name: str, ids: list[int]) -> dict[int, Any]:
    """Of the conversations `ids`, those `name`'s SQL already ran for in this session's batch,
    with its column's values; handed over once (taken out)."""
    recorded: dict[int, Any] = db.info.get(_BULK_SQL_RESULTS, {}).get(name, {})
    return {i: recorded.pop(i) for i in ids if i in recorded}
