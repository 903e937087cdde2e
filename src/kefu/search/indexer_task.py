"""The server's search indexer (SQLite), run in a process of its own.

Why a process: an indexing pass calls `kefu_grams` (Python, `kefu.search.grams`) for every
message it indexes, so a thread running it needs the GIL once per message, and every time the
event loop's thread lets the GIL go (each socket write, each SQLite call) the indexer may take
it, so the loop then waits for it. Measured with the chat benchmark on SQLite (session 23,
docs/decisions.md): with the indexer on a thread the server's capacity was 1,186-1,321 msgs/s;
with no indexing at all 1,485-1,591, in the same minutes. In a process of its own the indexer
costs the event loop only the hand-off of each pass (a few hundred bytes over a pipe).

The process comes from a forkserver that has this module imported already (once per server
process), so a server start pays a fork, not a fresh interpreter. It holds one end of a pipe
whose other end only the server holds: when the server ends, even by SIGKILL, the indexer
process ends at once (then the forkserver, which lives as long as any of its children).
A pass that the process's death breaks is retried on a new process (`IndexerTask._run`); its
transaction was rolled back by SQLite, so nothing is indexed twice or missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
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

# The indexer process's own state: its indexer, opened by `_open`.
_INDEXER: SearchIndexer | None = None

# (mark, behind, first, remade, pid) of the indexer process after a call: what the server
# mirrors.
State = tuple[int, int, int, bool, int]


def _open(main: str, lifeline: Connection) -> None:
    """The indexer process's initializer."""
    global _INDEXER
    _INDEXER = SearchIndexer(Path(main))
    threading.Thread(target=_exit_with_server, args=(lifeline,), daemon=True).start()


def _exit_with_server(lifeline: Connection) -> None:
    """End this process once the server is gone: it would otherwise wait forever for work.
    Only the server holds the pipe's other end, so a read ends when the server does, however
    it ended. (Not the parent: that is the forkserver, which lives as long as its children.)"""
    with contextlib.suppress(EOFError, OSError):
        lifeline.recv_bytes()
    os._exit(0)


def _call(method: str, args: tuple[Any, ...]) -> tuple[Any, State]:
    """Run one `SearchIndexer` method in the indexer process."""
    assert _INDEXER is not None, "the pool's initializer opens the indexer"
    return _run(_INDEXER, method, args)


def _run(indexer: SearchIndexer, method: str, args: tuple[Any, ...]) -> tuple[Any, State]:
    result = getattr(indexer, method)(*args)
    return result, (indexer.mark, indexer.behind, indexer.first, indexer.remade, os.getpid())


def _context() -> Any:
    ctx = multiprocessing.get_context("forkserver")
    # Imported once in the forkserver, so each indexer process starts ready (a fork). Only
    # read when the forkserver starts, the first time any indexer starts in this process.
    ctx.set_forkserver_preload([__name__])
    return ctx


class IndexerTask:
    """The server's indexer (SQLite): a pass every `IDLE_SECONDS`, at once while behind."""

    def __init__(self, settings: Settings, write_gate: WriteGate) -> None:
        self._main = main_path(settings)
        # KEFU_SEARCH_INDEXER=thread: the indexer lives here and runs on a worker thread.
        self._here = SearchIndexer(self._main) if settings.search_indexer == "thread" else None
        self._gate = write_gate
        self._pool: ProcessPoolExecutor | None = None
        self._lifeline: Connection | None = None  # the end only this process holds (`_open`)
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
            result, state = await asyncio.to_thread(_run, self._here, method, args)
        else:
            try:
                result, state = await asyncio.get_running_loop().run_in_executor(
                    self._process(), _call, method, args
                )
            except BrokenProcessPool:
                self._discard_pool()  # the process died: the next call starts another
                raise
        self.mark, self.behind, self.first, self.remade, self.pid = state
        return result

    def _process(self) -> ProcessPoolExecutor:
        """The pool of one indexer process, made on first use (again after the process died)."""
        if self._pool is None:
            ctx = _context()
            theirs, self._lifeline = ctx.Pipe(duplex=False)
            self._pool = ProcessPoolExecutor(
                max_workers=1, mp_context=ctx, initializer=_open, initargs=(str(self._main), theirs)
            )
        return self._pool

    def _discard_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self._cut_lifeline()

    def _cut_lifeline(self) -> None:
        if self._lifeline is not None:
            self._lifeline.close()
            self._lifeline = None

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
        if self._pool is not None or self._here is not None:
            with contextlib.suppress(BrokenProcessPool):
                await self._call("close")
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.to_thread(pool.shutdown, wait=True)
        self._cut_lifeline()

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
