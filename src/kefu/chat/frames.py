"""Frame handling shared by staff and visitor sockets: parse, run, ack or nack."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.chat.batcher import BulkFn, batcher_of
from kefu.chat.hub import Conn
from kefu.chat.unit import run_unit
from kefu.conversations import log
from kefu.conversations.models import Conversation, Message
from kefu.conversations.presenters import message_view
from kefu.conversations.schemas import SendIn, parse_send
from kefu.core.errors import ApiError, validation_fields

logger = logging.getLogger("kefu.realtime")

# The database is unreachable (stopped, restarting, pool exhausted): retryable, not a bug.
# Connecting to a stopped server raises a raw OSError that SQLAlchemy does not wrap.
STORAGE_ERRORS: tuple[type[BaseException], ...] = (DBAPIError, OSError, TimeoutError, PoolTimeout)


def error_frame(kind: str, err: ApiError, client_msg_id: Any = None) -> dict[str, Any]:
    body = err.body()["error"]
    frame = {"type": kind, "code": body["code"], "message": body["message"]}
    if client_msg_id is not None:
        frame["client_msg_id"] = client_msg_id
    if "fields" in body:
        frame["fields"] = body["fields"]
    return frame


def parse_send_frame(msg: dict[str, Any]) -> tuple[SendIn, dict[str, Any]]:
    fields = {k: msg.get(k) for k in ("client_msg_id", "kind", "body") if k in msg}
    try:
        send = SendIn.model_validate(fields)
    except ValidationError as err:
        details = validation_fields(err.errors())  # type: ignore[arg-type]
        raise ApiError("validation_error", fields=details, detail=details[0]["message"]) from None
    return send, parse_send(send)


SendFn = Callable[[AsyncSession, bool], Awaitable[tuple[Message, bool]]]


def ack_frame(
    client_msg_id: str,
    message: Message,
    view: dict[str, Any],
    *,
    replayed: bool,
    plain: bool = False,
) -> dict[str, Any]:
    """The sender's ack of a stored message (its view as the sender's audience sees it).
    `plain`: the view is plain JSON already (`log.plain_view`)."""
    return {
        "type": "ack",
        "client_msg_id": client_msg_id,
        "conversation_id": message.conversation_id,
        "seq": message.seq,
        "message": view if plain else log.plain_json(view),
        "replayed": replayed,
    }


async def send_and_ack(
    app: FastAPI,
    conn: Conn,
    client_msg_id: str,
    audience: str,
    fn: SendFn,
    *,
    conversation_id: int | None = None,
    bulk: tuple[BulkFn, Any] | None = None,
) -> None:
    """Persist through `fn` (group-committed with concurrent sends, see `chat.batcher`), then ack
    the sender, then publish the events (persist-then-ack).

    `fn(db, fast)`: `fast` lets the send trust the unique index over an idempotency lookup.
    `conversation_id`: the conversation the send probably writes (the batch's lock order).
    `bulk`: how the batch may write this send set-wise with others (its result is the ack)."""

    async def work(db: AsyncSession, fast: bool) -> dict[str, Any]:
        msg, replayed = await fn(db, fast)
        view = await message_view(db, msg, "staff" if audience == "staff" else "visitor")
        return ack_frame(client_msg_id, msg, view, replayed=replayed)

    async def ack(frame: dict[str, Any]) -> None:
        await conn.send(frame)

    try:
        await batcher_of(app).run(work, deliver=ack, order_key=conversation_id, bulk=bulk)
    except ApiError as err:
        await conn.send(error_frame("nack", err, client_msg_id))
    except STORAGE_ERRORS:
        # Nothing was stored (the transaction rolled back): the client retries with the same id.
        logger.warning("send %s not stored: database unavailable", client_msg_id, exc_info=True)
        await conn.send(error_frame("nack", ApiError("server_busy"), client_msg_id))


async def resume(
    app: FastAPI,
    conn: Conn,
    conv_seqs: dict[int, int],
    audience: str,
    load: Callable[[AsyncSession, int], Awaitable[Conversation]],
    *,
    retry: bool = False,
) -> None:
    """Replay what each conversation's client missed, or tell it to resync.

    The database unreachable: raises, or with `retry` (a client's own `resume`, whose live
    events it holds until `resumed`) tries again in the background until the replay is read."""

    async def work(db: AsyncSession) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for conv_id, after in conv_seqs.items():
            try:
                conv = await load(db, conv_id)
            except ApiError:
                out.append({"type": "resync", "conversation_id": conv_id, "reason": "not_found"})
                continue
            frames = await log.replay(db, conv, after, audience)
            if frames is None:
                out.append(
                    {"type": "resync", "conversation_id": conv_id, "reason": "too_far_behind"}
                )
            else:
                out.extend(frames)
                out.append({"type": "resumed", "conversation_id": conv_id, "seq": conv.last_seq})
        return out

    conn.hold()
    sent: set[tuple[int, int]] = set()
    try:
        try:
            replay = await run_unit(app, work, write=False)
        except STORAGE_ERRORS:
            if not retry:
                raise
            logger.warning("resume failed: database unavailable; trying again", exc_info=True)

            async def again() -> bool:
                try:
                    await resume(app, conn, conv_seqs, audience, load)
                except STORAGE_ERRORS:
                    return False
                return True

            conn.retry(again)
            return
        for frame in replay:
            if frame.get("type") == "event":
                sent.add((frame["conversation_id"], frame["seq"]))
            await conn.send_replayed(frame)  # also what the socket's gap repair knows was sent
    finally:
        await conn.release(sent)
