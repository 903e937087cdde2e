"""What paused the server under test during a window, from its own /metrics.

Kefu reports how late its event loop ran a probe every 0.25 s, each garbage-collector run, and
how long the SQLite WAL checkpoint's last step held the write gate (docs/observability.md). Read
at the start and end of a window, and every 10 s within it, they tell whether a stretch of high
p99 came with a late loop, and whether collector runs or checkpoints account for it. Targets
without these metrics (the relays) report nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

SLICE_S = 10.0
LATE_S = "0.05"  # a probe later than this counts as a pause felt by every socket

Totals = dict[str, float]


def totals(metrics_text: str) -> Totals:
    """Cumulative figures from one /metrics text."""
    out: Totals = {
        "probes": 0.0,
        "probes_within_50ms": 0.0,
        "loop_lag_s": 0.0,
        "gc_runs": 0.0,
        "gc_s": 0.0,
        "gc_full_runs": 0.0,
        "checkpoint_hold_s": 0.0,
        "checkpoint_holds": 0.0,
        "batched_sends": 0.0,
        "batches": 0.0,
    }
    for family in text_string_to_metric_families(metrics_text):
        for s in family.samples:
            if s.name == "kefu_event_loop_lag_seconds_count":
                out["probes"] = s.value
            elif s.name == "kefu_event_loop_lag_seconds_sum":
                out["loop_lag_s"] = s.value
            elif s.name == "kefu_event_loop_lag_seconds_bucket" and s.labels.get("le") == LATE_S:
                out["probes_within_50ms"] = s.value
            elif s.name == "kefu_gc_pause_seconds_count":
                out["gc_runs"] += s.value
                if s.labels.get("generation") == "2":
                    out["gc_full_runs"] += s.value
            elif s.name == "kefu_gc_pause_seconds_sum":
                out["gc_s"] += s.value
            elif s.name == "kefu_sqlite_checkpoint_hold_seconds_sum":
                out["checkpoint_hold_s"] = s.value
            elif s.name == "kefu_sqlite_checkpoint_hold_seconds_count":
                out["checkpoint_holds"] = s.value
            elif s.name == "kefu_send_batch_size_sum":
                out["batched_sends"] = s.value
            elif s.name == "kefu_send_batch_size_count":
                out["batches"] = s.value
    return out


def between(a: Totals, b: Totals) -> dict[str, Any]:
    """The window's (or slice's) figures from two readings."""

    def diff(key: str) -> float:
        return b[key] - a[key]

    probes, batches, wall = diff("probes"), diff("batches"), diff("at")
    return {
        "late_probes": int(probes - diff("probes_within_50ms")),
        "probes": int(probes),
        "loop_lag_ms_mean": round(1000 * diff("loop_lag_s") / probes, 2) if probes else None,
        "gc_ms": round(1000 * diff("gc_s"), 1),
        "gc_runs": int(diff("gc_runs")),
        "gc_full_runs": int(diff("gc_full_runs")),
        "checkpoint_hold_ms": round(1000 * diff("checkpoint_hold_s"), 1),
        "checkpoint_holds": int(diff("checkpoint_holds")),
        # Sends per group commit: it grows as the server falls behind (bench/README.md).
        "mean_send_batch": round(diff("batched_sends") / batches, 1) if batches else None,
        "server_cpu_pct": round(100 * diff("cpu_s") / wall, 1) if wall > 0 else None,
    }


class Sampler:
    """Readings at the start, every SLICE_S seconds, and at the end of a window."""

    def __init__(
        self, read: Callable[[], Awaitable[Totals | None]], cpu: Callable[[], float]
    ) -> None:
        """`read`: the target's totals (None: it has no such metrics); `cpu`: the server
        process's CPU seconds so far (all threads)."""
        self._totals = read
        self._cpu = cpu
        self._readings: list[Totals] = []
        self._task: asyncio.Task[None] | None = None

    async def _read(self) -> Totals | None:
        totals = await self._totals()
        if totals is not None:
            totals["at"] = time.perf_counter()
            totals["cpu_s"] = self._cpu()
        return totals

    async def start(self) -> None:
        first = await self._read()
        if first is None:
            return  # a target without these metrics
        self._readings.append(first)
        self._task = asyncio.create_task(self._every_slice())

    async def _every_slice(self) -> None:
        next_at = time.perf_counter() + SLICE_S
        while True:
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            next_at += SLICE_S
            with contextlib.suppress(Exception):  # a slow scrape: that slice joins the next
                reading = await self._read()
                if reading is not None:
                    self._readings.append(reading)

    async def stop(self, *, timeline: bool) -> dict[str, Any]:
        """{"server_pauses": window figures[, "server_pauses_by_10s": per slice]}."""
        if self._task is None:
            return {}
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task
        last = await self._read()
        if last is not None:
            self._readings.append(last)
        out: dict[str, Any] = {"server_pauses": between(self._readings[0], self._readings[-1])}
        if timeline:
            out["server_pauses_by_10s"] = [
                between(a, b) for a, b in zip(self._readings, self._readings[1:], strict=False)
            ]
        return out
