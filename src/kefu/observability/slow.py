"""Naming what a slow request is waiting for, while it still waits.

The loop-stall watchdog (kefu.observability.stalls) covers a loop that stops turning. A request
can also hang with the loop turning: it awaits a lock another transaction holds, a pool
connection, a peer. Nothing is logged until it ends, and a client that gave up never sees how it
ended. Each request (and each socket's handshake) arms a timer; when the timer fires first, the
request's chain of awaits, from its handler down to the innermost one, is logged: the line it is
stuck on. Arming costs one timer handle per request.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import logging
import time
from collections.abc import Callable
from types import AsyncGeneratorType, CoroutineType, FrameType, GeneratorType
from typing import Any

from kefu.observability.metrics import SLOW_REQUESTS

log = logging.getLogger("kefu.slow")

CHAIN_LIMIT = 40  # lines; a report longer than this is cut at its outer end
INNERMOST = 4  # frames always listed at the inner end, whoever's they are


def _generator_of(step: Any) -> Any:
    """The async generator behind an `asend`/`athrow` step (an `async with` on an
    `@asynccontextmanager`): the step does not expose it, its references do."""
    return next((r for r in gc.get_referents(step) if isinstance(r, AsyncGeneratorType)), None)


def _frame_of(awaitable: Any) -> FrameType | None:
    if isinstance(awaitable, CoroutineType):
        return awaitable.cr_frame
    if isinstance(awaitable, GeneratorType):
        return awaitable.gi_frame
    if isinstance(awaitable, AsyncGeneratorType):
        return awaitable.ag_frame
    return getattr(awaitable, "cr_frame", None)


def _next_of(awaitable: Any) -> Any:
    if isinstance(awaitable, CoroutineType):
        return awaitable.cr_await
    if isinstance(awaitable, GeneratorType):
        return awaitable.gi_yieldfrom
    if isinstance(awaitable, AsyncGeneratorType):
        return awaitable.ag_await
    return getattr(awaitable, "cr_await", None)


def await_chain(task: asyncio.Task[Any]) -> list[str]:
    """`file:line in function` for each coroutine the task is suspended in, outermost first,
    then what the innermost one awaits (a future: a lock's waiter, a socket read)."""
    lines: list[str] = []
    current: Any = task.get_coro()
    while current is not None:
        if type(current).__name__ in ("async_generator_asend", "async_generator_athrow"):
            current = _generator_of(current) or current
        frame = _frame_of(current)
        if frame is None:
            lines.append(f"awaiting {type(current).__name__}")
            break
        where = _short(frame.f_code.co_filename)
        lines.append(f"{where}:{frame.f_lineno} in {frame.f_code.co_name}")
        current = _next_of(current)
    return _folded(lines)


def _short(path: str) -> str:
    for marker in ("/site-packages/", "/src/", "/lib/python3."):
        if marker in path:
            rest = path.split(marker, 1)[1]
            return rest.split("/", 1)[1] if marker == "/lib/python3." else rest
    return path


def _folded(lines: list[str]) -> list[str]:
    """Kefu's own frames, and the innermost few (what it waits in); other library frames on the
    way down are counted, not listed, so the report stays a few lines long."""
    keep = set(range(max(0, len(lines) - INNERMOST), len(lines)))
    out: list[str] = []
    skipped = 0
    for i, line in enumerate(lines):
        if i in keep or line.startswith("kefu/"):
            if skipped:
                out.append(f"({skipped} library frames)")
                skipped = 0
            out.append(line)
        else:
            skipped += 1
    if len(out) > CHAIN_LIMIT:
        out = ["…", *out[-CHAIN_LIMIT:]]
    return out


class SlowWatch:
    """`arm(describe)` on the request's task; call the returned function when it ends.

    `describe` is called only when the report is due (the route is matched by then)."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def arm(self, describe: Callable[[], str]) -> Callable[[], None]:
        if self.threshold <= 0:
            return _nothing
        task = asyncio.current_task()
        if task is None:
            return _nothing
        started = time.monotonic()
        # Run in the request's context, so the record carries its request id and tenant.
        handle = asyncio.get_running_loop().call_later(
            self.threshold,
            self._report,
            task,
            describe,
            started,
            context=contextvars.copy_context(),
        )
        return handle.cancel

    @staticmethod
    def _report(task: asyncio.Task[Any], describe: Callable[[], str], started: float) -> None:
        if task.done():
            return
        SLOW_REQUESTS.inc()
        chain = "\n".join(f"  {line}" for line in await_chain(task))
        log.warning(
            "%s still running after %.1f s; it waits at:\n%s",
            describe(),
            time.monotonic() - started,
            chain,
        )


def _nothing() -> None:
    return None
