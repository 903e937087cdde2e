"""The server's search indexer (SQLite), run in a process of its own.

Why a process: an indexing pass calls `kefu_grams` (Python, `kefu.search.grams`) for every
message it indexes, so a thread running it needs the GIL once per message, and every time the
event loop's thread lets the GIL go (each socket write, each SQLite call) the indexer may take
it, so the loop then waits for it. Measured with the chat benchmark on SQLite (session 23,
docs/decisions.md): with the indexer on a thread the server's capacity was 1,186-1,321 msgs/s;
with no indexing at all 1,485-1,591, in the same minutes. In a process of its own the indexer
costs the event loop only the hand-off of each pass (a few hundred bytes over a pipe).

The process comes from a forkserver that has this module imported already (once per server
process), so a server start pays a fork, not a fresh interpreter. The server talks to it over
one pipe, read with the event loop's own reader: no helper threads, which would take the GIL
from the loop as the indexer's thread did (`concurrent.futures.ProcessPoolExecutor` runs two).
The pipe is also its lifeline: when the server ends, even by SIGKILL, the indexer reads the
end of it and exits. A pass that the process's death breaks is retried on a new process
(`IndexerTask._run`); SQLite rolled its transaction back, so nothing is indexed twice or missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from kefu.core.config import Settings
from kefu.core.db import WriteGate
from kefu.observability import metrics
from kefu.search.sqlite_index import (
    BATCH,
    REMADE,
    SearchIndexer,
    main_path,
    search_path_of,
)

log = logging.getLogger("kefu.search")

IDLE_SECONDS = 0.1  # between passes that found less than a batch
CLEAN_ROWS = 20_000  # indexed log rows that make a cleanup due ...
CLEAN_SECONDS = 10.0  # ... or this long since the last one
CLEAN_SLICE = 4000  # log rows deleted per hold of the write gate
NICE = 10  # the indexer process's niceness, added to the server's

# (mark, behind, first, remade, pid) of the indexer after a call: what the server mirrors.
State = tuple[int, int, int, bool, int]


class IndexerFailed(Exception):
    """A call failed in the indexer's process (its traceback is the message), or the process
    died under it."""


def _state(indexer: SearchIndexer) -> State:
    return indexer.mark, indexer.behind, indexer.first, indexer.remade, os.getpid()


def _serve(main: str, pipe: Connection) -> None:
    """The indexer process: answers (method, args) calls until the server is gone."""
    # Background work: below the server in the scheduler's eyes, so that the indexer, woken
    # by a call, never takes the core from the event loop that made it (measured: without
    # this the loop lost about 1 ms per pass waiting for the core, docs/decisions.md).
    with contextlib.suppress(OSError):
        os.nice(NICE)
    indexer = SearchIndexer(Path(main))
    try:
        while True:
            try:
                method, args = pipe.recv()
            except (EOFError, OSError):
                return  # the server closed its end, or ended
            try:
                reply = (True, getattr(indexer, method)(*args))
            except Exception:
                reply = (False, traceback.format_exc())
            pipe.send((*reply, _state(indexer)))
    finally:
        indexer.close()


def _context() -> Any:
    ctx = multiprocessing.get_context("forkserver")
    # Imported once in the forkserver, so each indexer process starts ready (a fork). Only
    # read when the forkserver starts, the first time any indexer starts in this process.
    ctx.set_forkserver_preload([__name__])
    return ctx


class _Process:
    """One indexer process and the server's end of its pipe; one call at a time."""

    def __init__(self, main: Path) -> None:
        ctx = _context()
        self.pipe, theirs = ctx.Pipe()
        self.proc = ctx.Process(
            target=_serve, args=(str(main), theirs), name="kefu-search-indexer", daemon=True
        )
        self.proc.start()
        theirs.close()  # only the process holds it now: its end closes when it dies

    async def call(self, method: str, args: tuple[Any, ...]) -> tuple[bool, Any, State]:
        try:
            self.pipe.send((method, args))  # a few bytes: the pipe's buffer takes them at once
            await self._readable()
            reply: tuple[bool, Any, State] = self.pipe.recv()  # written whole, and small
        except (EOFError, OSError) as err:  # end of file, or a broken pipe: the process died
            self.close()
            await asyncio.to_thread(self.proc.join, 5)  # reaped, not left a zombie
            code = self.proc.exitcode
            raise IndexerFailed(f"the indexer process ended (exit code {code})") from err
        except asyncio.CancelledError:
            self.close()  # its reply may still come: the pipe is out of step, not to be reused
            raise
        return reply

    async def _readable(self) -> None:
        loop = asyncio.get_running_loop()
        readable = loop.create_future()

        def wake() -> None:
            if not readable.done():
                readable.set_result(None)

        fd = self.pipe.fileno()
        loop.add_reader(fd, wake)
        try:
            await readable
        finally:
            loop.remove_reader(fd)

    def close(self) -> None:
        """Close the server's end: the process reads end-of-file and exits."""
        self.pipe.close()


class IndexerTask:
    """The server's indexer (SQLite): a pass every `IDLE_SECONDS`, at once while behind."""

    def __init__(self, settings: Settings, write_gate: WriteGate) -> None:
        self._main = main_path(settings)
        # KEFU_SEARCH_INDEXER=thread: the indexer lives here and runs on a worker thread.
        self._here = SearchIndexer(self._main) if settings.search_indexer == "thread" else None
        self._gate = write_gate
        self._process: _Process | None = None  # started on first use, again if it dies
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._cleaned_mark = 0
        self._cleaned_at = 0.0
        # Mirrors of the indexer's state, as of the last call.
        self.mark = 0
        self.behind = 0
        self.first = 0
        self.remade = False
        self.pid = 0  # the indexer's process (tests kill it)

    async def _call(self, method: str, *args: Any) -> Any:
        if self._here is not None:
            result = await asyncio.to_thread(getattr(self._here, method), *args)
            ok, state = True, _state(self._here)
        else:
            if self._process is None or self._process.pipe.closed:
                self._process = _Process(self._main)
            try:
                ok, result, state = await self._process.call(method, args)
            except IndexerFailed:
                self._process = None  # it died: the next call starts another
                raise
        self.mark, self.behind, self.first, self.remade, self.pid = state
        if not ok:
            raise IndexerFailed(result)
        return result

    async def start(self) -> None:
        """Before the server answers: the search file ready, and filled if it is new."""
        if await self._call("needs_fill"):
            if self.remade:
                log.warning(REMADE, search_path_of(self._main), self._main)
            async with self._gate.hold():
                await self._call("fill")
        self._cleaned_mark, self._cleaned_at = self.first, time.monotonic()
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="search-indexer")

    async def stop(self) -> None:
        """Finish the pass under way (a process is not interrupted mid-pass), then close."""
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self._here is not None:
            await asyncio.to_thread(self._here.close)
        if self._process is not None:
            process, self._process = self._process, None
            process.close()  # it closes its indexer and exits
            await asyncio.to_thread(process.proc.join, 10)

    async def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            done = 0
            try:
                done = await self._call("run_pass")
                metrics.SEARCH_INDEX_BEHIND.set(self.behind)
                await self._clean_if_due()
                failures = 0
            except Exception:  # a full disk, a damaged file: searches stay exact meanwhile
                failures += 1
                log.exception("search indexing failed (%d in a row); trying again", failures)
            if done < BATCH or failures:
                # Each failure in a row waits longer, up to a minute: no log flood.
                pause = min(IDLE_SECONDS * 10**failures, 60.0) if failures else IDLE_SECONDS
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), pause)

    async def _clean_if_due(self) -> None:
        behind = self.mark - self._cleaned_mark
        if behind <= 0 or (
            behind < CLEAN_ROWS and time.monotonic() - self._cleaned_at < CLEAN_SECONDS
        ):
            return
        # In slices, each under the gate: sends wait for one slice at most, never the whole.
        mark = self.mark
        for below in range(self._cleaned_mark + CLEAN_SLICE, mark + CLEAN_SLICE, CLEAN_SLICE):
            async with self._gate.hold():
                await self._call("clean", min(below, mark))
        self._cleaned_mark, self._cleaned_at = mark, time.monotonic()
