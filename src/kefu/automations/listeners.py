"""Conversation hooks of automations: start, restart and stop the §7 countdowns as messages
flow; send the enterprise greeting (§6) and the end message; notify on automatic ends."""

from __future__ import annotations

import sqlite3

from sqlalchemy import BigInteger, Table, any_, bindparam, delete, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import User
from kefu.automations import timers as t
from kefu.automations.actions import batch_timers, settings_row, timers_of
from kefu.automations.models import AutomationState
from kefu.conversations import actions as conversations
from kefu.conversations.hooks import (
    BulkSql,
    Ending,
    NewSegment,
    after_assign,
    after_assign_many,
    after_end,
    after_message,
    after_open,
    after_requeue,
    bulk_sql,
    bulk_sql_results,
    defer,
    in_batch,
)
from kefu.conversations.models import Conversation, Message, Segment
from kefu.core.db import sqlite_call
from kefu.notifications.actions import notify
from kefu.routing.time_plans import working_at
from kefu.tenants.models import Tenant
from kefu.visitors.actions import display_name
from kefu.visitors.models import Visitor
from kefu.workers.models import Timer

GREETING_CODE = "enterprise_greeting"
END_CODE = "end_message"


async def _greet(db: AsyncSession, conv: Conversation, text: str) -> None:
    """The enterprise greeting after the visitor's first message, in the default plan's hours."""
    from kefu.routing import greetings

    tenant = await db.get(Tenant, conv.tenant_id)
    assert tenant is not None
    if not await working_at(db, tenant, None):
        return
    await conversations.system_message(
        db, conv, GREETING_CODE, await greetings.fill(db, tenant, conv, text)
    )


_VISITOR_WROTE = "automations.visitor_wrote"  # db.info: conv id → conversation, this batch


@after_message(order=60)
async def on_message(db: AsyncSession, conv: Conversation, msg: Message) -> None:
    if msg.sender_type not in ("visitor", "agent"):
        return  # system prompts belong to neither side (§10.1)
    if (
        msg.sender_type == "visitor"
        and in_batch(db)
        and conv.state == "ongoing"
        and conv.last_visitor_message_at is not None  # not the first: no greeting
    ):
        # The common case of a busy chat: done for the whole batch before it commits.
        db.info.setdefault(_VISITOR_WROTE, {})[conv.id] = conv
        defer(db, _visitors_wrote)
        return
    await _visitors_wrote(db)  # what this batch gathered comes first
    row = await settings_row(db, conv.tenant_id)
    cfg = timers_of(row)
    ongoing = conv.state == "ongoing"
    if msg.sender_type == "visitor":
        first = conv.last_visitor_message_at is None
        await t.cancel(db, conv, t.VISITOR_TIMEOUT)
        st = await t.existing_state(db, conv)
        if st is not None:
            st.visitor_prompts = 0
        if first and row is not None and row.greeting_text.strip():
            await _greet(db, conv, row.greeting_text)
        if conv.state == "waiting" and st is not None and st.waiting_asked:
            # "Keep waiting?" answered: the wait starts over.
            st.waiting_asked = False
            if cfg.waiting_end.enabled and cfg.waiting_end.mode == "keep_waiting":
                await t.schedule(db, conv, t.WAITING_END, cfg.waiting_end.remind_after)
        if (
            ongoing
            and cfg.agent_no_reply.enabled
            and conv.agent_id is not None
            and not await t.pending(db, t.AGENT_NO_REPLY, conv.id)
        ):
            # Counted from the first unanswered message.
            await t.schedule(db, conv, t.AGENT_NO_REPLY, cfg.agent_no_reply.timeout)
    else:
        await t.cancel(db, conv, t.AGENT_NO_REPLY)
        await t.set_overdue(db, conv, None)
        if ongoing and cfg.visitor_timeout.enabled:
            st = await t.state_of(db, conv)
            st.visitor_prompts = 0
            await t.schedule(db, conv, t.VISITOR_TIMEOUT, cfg.visitor_timeout.first_timeout)
    if ongoing and cfg.inactive.enabled:
        await t.schedule(db, conv, t.INACTIVE, cfg.inactive.timeout)


# `_visitors_wrote`'s statements, built once, on the tables: the ORM's DML and loading
# machinery cost more than these statements.
_TIMERS: Table = Timer.__table__  # type: ignore[assignment]
_STATES: Table = AutomationState.__table__  # type: ignore[assignment]


def _sqlite_end_then_prompted(conn: sqlite3.Connection, kind: str, ids: list[int]) -> list[int]:
    """SQLite, on the sqlite3 connection itself (`sqlite_call`): the visitor timeouts of the
    conversations end, and those whose prompts need a reset are read. Through SQLAlchemy these
    two statements cost a batch more than SQLite spends on them."""
    marks = ", ".join("?" * len(ids))  # placeholders only: the ids are bound
    conn.execute(f"DELETE FROM timers WHERE kind = ? AND subject_id IN ({marks})", [kind, *ids])  # noqa: S608
    rows = conn.execute(
        "SELECT conversation_id FROM automation_states"  # noqa: S608
        f" WHERE conversation_id IN ({marks}) AND visitor_prompts != 0",
        ids,
    )
    return [conversation_id for (conversation_id,) in rows]


# PostgreSQL: the same as one statement, the DELETE riding along with the read (a data-modifying
# WITH runs whether or not the query reads it): one round trip fewer for every batch of sends.
# SQLite has no DML in WITH. The ids are one array (`= ANY`): the same text, prepared once, for
# every batch size.
_IDS = bindparam("ids", type_=ARRAY(BigInteger))
_DELETE_THEN_PROMPTED = (
    select(_STATES.c.conversation_id)
    .where(_STATES.c.conversation_id == any_(_IDS), _STATES.c.visitor_prompts != 0)
    .add_cte(
        delete(_TIMERS)
        .where(_TIMERS.c.kind == bindparam("kind"), _TIMERS.c.subject_id == any_(_IDS))
        .cte("ended_timeouts")
    )
)
# PostgreSQL's batch of visitor sends is one statement (`conversations.bulk_pg`); the same
# DELETE and read ride in it, over `c`, the conversations it wrote: no round trip of their own.
_IN_BULK = bulk_sql(
    BulkSql(
        name="automations_visitor_wrote",
        cte="DELETE FROM timers WHERE kind = :automations_timeout"
        " AND subject_id IN (SELECT id FROM c)",
        column="EXISTS (SELECT 1 FROM automation_states s"
        " WHERE s.conversation_id = c.id AND s.visitor_prompts != 0)",
        params={"automations_timeout": t.VISITOR_TIMEOUT},
    )
)
_STATES_OF = select(AutomationState).where(
    AutomationState.conversation_id.in_(bindparam("ids", expanding=True))
)


async def _visitors_wrote(db: AsyncSession) -> None:
    """`on_message` for visitor messages in ongoing conversations, set-wise (one batch's): one
    DELETE of the visitor timeouts and one read of the states (one statement on PostgreSQL,
    none when they rode in the sends' own statement), the agent no-reply and inactivity timers
    together. The same effect as running it message by message."""
    convs: dict[int, Conversation] = db.info.pop(_VISITOR_WROTE, {})
    # Still ongoing: anything that changed a conversation since ran `_visitors_wrote` first.
    by_tenant: dict[int, list[Conversation]] = {}
    for conv in convs.values():
        by_tenant.setdefault(conv.tenant_id, []).append(conv)
    if not by_tenant:
        return
    done = bulk_sql_results(db, _IN_BULK.name, list(convs))  # conv id → prompted
    prompted = [cid for cid, was_prompted in done.items() if was_prompted]
    ids = [cid for cid in convs if cid not in done]
    if ids:
        # Core statements do not autoflush: a timer this batch scheduled (an agent's earlier
        # send started the visitor's countdown) must be in the table for the DELETE to end it.
        await db.flush()
        if db.get_bind().dialect.name == "postgresql":
            params = {"ids": ids, "kind": t.VISITOR_TIMEOUT}
            prompted += await db.scalars(_DELETE_THEN_PROMPTED, params)
        else:
            prompted += await sqlite_call(db, _sqlite_end_then_prompted, t.VISITOR_TIMEOUT, ids)
    if prompted:
        for st in await db.scalars(_STATES_OF, {"ids": prompted}):
            st.visitor_prompts = 0
    for tenant_id, group in by_tenant.items():
        cfg = await batch_timers(db, tenant_id)
        if cfg.agent_no_reply.enabled:
            owed = [c.id for c in group if c.agent_id is not None]
            # Counted from the first unanswered message: a pending timer stays.
            running = set(
                await db.scalars(
                    select(Timer.subject_id).where(
                        Timer.kind == t.AGENT_NO_REPLY, Timer.subject_id.in_(owed)
                    )
                )
            )
            for cid in owed:
                if cid not in running:
                    await t.schedule(db, convs[cid], t.AGENT_NO_REPLY, cfg.agent_no_reply.timeout)
        if cfg.inactive.enabled:
            for conv in group:
                await t.schedule(db, conv, t.INACTIVE, cfg.inactive.timeout)


@after_requeue(order=60)
@after_open(order=60)
async def on_open(db: AsyncSession, conv: Conversation) -> None:
    await _visitors_wrote(db)
    cfg = timers_of(await settings_row(db, conv.tenant_id))
    if cfg.waiting_reminder.enabled:
        await t.schedule(db, conv, t.WAITING_REMINDER, cfg.waiting_reminder.first_after)
    end = cfg.waiting_end
    if end.enabled:
        await t.schedule(
            db, conv, t.WAITING_END, end.timeout if end.mode == "remind_end" else end.remind_after
        )


@after_assign(order=60)
async def on_assign(db: AsyncSession, conv: Conversation, segment: Segment) -> None:
    await _visitors_wrote(db)
    await t.cancel(db, conv, t.WAITING_REMINDER, t.WAITING_END)
    st = await t.existing_state(db, conv)
    if st is not None:
        st.waiting_asked = False
    await t.set_overdue(db, conv, None)
    cfg = timers_of(await settings_row(db, conv.tenant_id))
    if cfg.inactive.enabled:
        await t.schedule(db, conv, t.INACTIVE, cfg.inactive.timeout)
    if cfg.agent_no_reply.enabled and await t.last_speaker(db, conv) == "visitor":
        # The new holder owes the reply from now on.
        await t.schedule(db, conv, t.AGENT_NO_REPLY, cfg.agent_no_reply.timeout)
    else:
        await t.cancel(db, conv, t.AGENT_NO_REPLY)


@after_assign_many(on_assign)
async def on_assign_many(db: AsyncSession, pairs: list[tuple[Conversation, NewSegment]]) -> None:
    """`on_assign` for a drain pass, set-wise: one DELETE of the timers it replaces or cancels,
    one read of the states and of the last speakers, the new timers inserted together."""
    from sqlalchemy import and_, delete, func, select

    from kefu.automations.models import AutomationState
    from kefu.core import clock
    from kefu.workers.models import Timer

    await _visitors_wrote(db)
    tenants = {conv.tenant_id for conv, _ in pairs}
    if not tenants:
        return
    if len(tenants) > 1:  # a drain is one tenant's; group the rest by tenant
        for tenant_id in tenants:
            await on_assign_many(db, [p for p in pairs if p[0].tenant_id == tenant_id])
        return
    convs = {conv.id: conv for conv, _ in pairs}
    ids = list(convs)
    cfg = timers_of(await settings_row(db, tenants.pop()))
    kinds = [t.WAITING_REMINDER, t.WAITING_END, t.AGENT_NO_REPLY]
    if cfg.inactive.enabled:
        kinds.append(t.INACTIVE)
    await db.execute(delete(Timer).where(Timer.kind.in_(kinds), Timer.subject_id.in_(ids)))
    states = list(
        await db.scalars(select(AutomationState).where(AutomationState.conversation_id.in_(ids)))
    )
    for st in states:
        st.waiting_asked = False
        if st.agent_overdue_at is not None:
            await t.set_overdue(db, convs[st.conversation_id], None)
    owes: list[int] = []
    if cfg.agent_no_reply.enabled:
        spoke = (
            Message.conversation_id.in_(ids),
            Message.sender_type.in_(("visitor", "agent")),
            Message.whisper.is_(False),
        )
        last = (
            select(Message.conversation_id, func.max(Message.seq).label("seq"))
            .where(*spoke)
            .group_by(Message.conversation_id)
            .subquery()
        )
        rows = await db.execute(
            select(Message.conversation_id, Message.sender_type).join(
                last,
                and_(Message.conversation_id == last.c.conversation_id, Message.seq == last.c.seq),
            )
        )
        owes = [cid for cid, sender in rows.all() if sender == "visitor"]
    now = clock.now()
    timers = [(t.INACTIVE, cid, cfg.inactive.timeout) for cid in ids if cfg.inactive.enabled]
    timers += [(t.AGENT_NO_REPLY, cid, cfg.agent_no_reply.timeout) for cid in owes]
    db.add_all(
        Timer(
            tenant_id=convs[cid].tenant_id,
            kind=kind,
            subject_id=cid,
            due_at=t.after(seconds),
            created_at=now,
        )
        for kind, cid, seconds in timers
    )


async def _notify_auto_end(db: AsyncSession, conv: Conversation, reason: str) -> None:
    visitor = await db.get(Visitor, conv.visitor_id)
    name = display_name(visitor) if visitor is not None else f"访客{conv.visitor_id}"
    data = {"conversation_id": conv.id, "visitor_name": name, "reason": reason}
    holder = await db.get(User, conv.agent_id) if conv.agent_id is not None else None
    if holder is not None and holder.tenant_id == conv.tenant_id:
        await notify(
            db,
            tenant_id=conv.tenant_id,
            user_id=holder.id,
            kind="conversation_auto_ended",
            data=data,
        )
        return
    from kefu.routing.overflow import notify_admins

    await notify_admins(db, conv.tenant_id, "conversation_auto_ended", data)


@after_end(order=50)
async def on_end(db: AsyncSession, conv: Conversation, ending: Ending) -> None:
    await _visitors_wrote(db)
    await t.cancel(db, conv, *t.ALL_KINDS)
    st = await t.existing_state(db, conv)
    if st is not None:
        st.agent_overdue_at = None
    row = await settings_row(db, conv.tenant_id)
    if row is not None and row.end_message.strip():
        await conversations.system_message(db, conv, END_CODE, row.end_message)
    if ending.automatic and ending.reason is not None:
        await _notify_auto_end(db, conv, ending.reason)
