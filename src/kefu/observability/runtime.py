"""What pauses this process: late event-loop turns and garbage-collector runs.

Every socket frame, send and timer of a node runs on one event loop, so anything that holds the
loop (a collector run over many young objects, a long synchronous stretch) delays them all at
once: a chat benchmark's p99 rises by the length of the pause. These two histograms let such
stretches be told apart from plain load on a live server (docs/observability.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from typing import Any

from kefu.observability.metrics import EVENT_LOOP_LAG, GC_PAUSE
from kefu.observability.stalls import StallWatch

LOOP_PROBE_SECONDS = 0.25  # how often the loop's lateness is measured

_gc_started: float | None = None


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    global _gc_started
    if phase == "start":
        _gc_started = time.perf_counter()
    elif _gc_started is not None:
        GC_PAUSE.labels(str(info.get("generation", "?"))).observe(time.perf_counter() - _gc_started)
        _gc_started = None


def watch_gc() -> None:
    """Observe every collection's duration (idempotent)."""
    if _on_gc not in gc.callbacks:
        gc.callbacks.append(_on_gc)


def unwatch_gc() -> None:
    with contextlib.suppress(ValueError):
        gc.callbacks.remove(_on_gc)


async def watch_loop(
    interval: float = LOOP_PROBE_SECONDS, stalls: StallWatch | None = None
) -> None:
    """Forever: sleep `interval` and observe how much later than asked the loop woke us (and
    tell the stall watchdog, if any, that the loop turned)."""
    loop = asyncio.get_running_loop()
    while True:
        asked = loop.time() + interval
        await asyncio.sleep(interval)
        EVENT_LOOP_LAG.observe(max(loop.time() - asked, 0.0))
        if stalls is not None:
            stalls.tick()
