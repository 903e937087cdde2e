"""Prometheus metrics (docs/observability.md lists each with its type, labels and meaning).

No label ever holds a tenant, user, visitor or conversation id: label values come from small
fixed sets (socket kind, sender kind, timer kind, route template, method, status class).

Several worker processes on one machine (`kefu serve --workers N`) write to files in
`PROMETHEUS_MULTIPROC_DIR` (prometheus-client's multiprocess mode, set up by
`prepare_multiprocess` before the workers start), and `/metrics` on any worker answers for the
whole machine. Each machine is one scrape target; Prometheus's `instance` label tells them apart.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from kefu.core import clock

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

# Waits in a queue range from milliseconds (an idle agent) to many minutes.
_WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
_FAST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600)

WS_CONNECTIONS = Gauge(
    "kefu_websocket_connections",
    "Open WebSocket connections on this node, by kind (staff | visitor).",
    ["kind"],
    multiprocess_mode="livesum",
)
MESSAGES = Counter(
    "kefu_messages_persisted",
    "Chat messages stored by this node, by sender kind (visitor | agent | system).",
    ["sender"],
)
DISPATCH_LATENCY = Histogram(
    "kefu_dispatch_latency_seconds",
    "Time a waiting conversation spent queued before an agent got it, by how "
    "(assigned: automatic dispatch; picked: manual pickup).",
    ["reason"],
    buckets=_WAIT_BUCKETS,
)
DRAIN_DURATION = Histogram(
    "kefu_queue_drain_duration_seconds",
    "Wall time of one pass draining a tenant's waiting queue (one transaction).",
    buckets=_FAST_BUCKETS,
)
QUEUE_WAITING = Gauge(
    "kefu_queue_waiting",
    "Conversations waiting in a queue, all tenants together (read from the database at scrape "
    "time: every node reports the same cluster-wide figure).",
    multiprocess_mode="mostrecent",
)
TIMER_LAG = Histogram(
    "kefu_timer_lag_seconds",
    "How late a durable timer ran: run time minus due time, by timer kind.",
    ["kind"],
    buckets=_LAG_BUCKETS,
)
TIMERS_DUE = Gauge(
    "kefu_timers_due",
    "Timers already due but not yet run (cluster-wide, read at scrape time).",
    multiprocess_mode="mostrecent",
)
HTTP_DURATION = Histogram(
    "kefu_http_request_duration_seconds",
    "HTTP request duration until the response starts, by route template, method and status "
    "class (2xx…5xx).",
    ["route", "method", "status"],
    buckets=_FAST_BUCKETS,
)
SEND_BATCH_SIZE = Histogram(
    "kefu_send_batch_size",
    "Socket sends written by one group commit (one transaction); sum / count is the mean.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
SLOW_SOCKETS = Counter(
    "kefu_websocket_slow_closed",
    "Sockets dropped because their client stopped reading (more than the outbox limit of "
    "frames waiting), by kind (staff | visitor).",
    ["kind"],
)
BUS_FAILURES = Counter(
    "kefu_event_listener_failures",
    "Event-bus listeners that raised while handling an event, by event type.",
    ["event"],
)
SEARCH_INDEX_BEHIND = Gauge(
    "kefu_search_index_behind",
    "SQLite: message changes not yet in the search file (kefu-search.db), at the indexer's last "
    "pass; searches stay exact, they scan these messages. Always 0 on PostgreSQL.",
    multiprocess_mode="livemax",
)
DB_POOL_IN_USE = Gauge(
    "kefu_db_connections_in_use",
    "Database connections checked out of this node's pool.",
    multiprocess_mode="livesum",
)
# Set by the Redis broker (kefu.events.broker) as its connection comes and goes:
# `metrics.REDIS_UP.set(1)` / `.set(0)`; /readyz sets it too when it pings Redis.
REDIS_UP = Gauge(
    "kefu_redis_up",
    "1 while this node's Redis connection works, 0 while it is down; stays 0 without Redis.",
    multiprocess_mode="livemin",
)
REDIS_CONFIGURED = Gauge(
    "kefu_redis_configured",
    "1 when this node is configured with Redis (KEFU_REDIS_URL), else 0.",
    multiprocess_mode="livemax",
)

# Pauses of a node's event loop and collector runs (kefu.observability.runtime): from a
# millisecond, below which nothing is felt, to seconds.
_PAUSE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
EVENT_LOOP_LAG = Histogram(
    "kefu_event_loop_lag_seconds",
    "How much later than asked this process's event loop ran a probe scheduled every 0.25 s: "
    "the time every socket frame and send waited behind other work at that moment.",
    buckets=_PAUSE_BUCKETS,
)
EVENT_LOOP_STALLS = Counter(
    "kefu_event_loop_stalls_total",
    "Times this process's event loop stopped turning for KEFU_LOOP_STALL_SECONDS or more; each "
    "is logged (logger kefu.stalls) with the stack the loop was held at.",
)
SLOW_REQUESTS = Counter(
    "kefu_slow_requests_total",
    "HTTP requests and socket handshakes still running after KEFU_SLOW_REQUEST_SECONDS; each "
    "is logged (logger kefu.slow) with the chain of awaits it is stuck in.",
)
GC_PAUSE = Histogram(
    "kefu_gc_pause_seconds",
    "Duration of each run of Python's garbage collector (the whole process stops meanwhile), "
    "by generation collected (0, 1, 2).",
    ["generation"],
    buckets=_PAUSE_BUCKETS,
)
SQLITE_CHECKPOINT_HOLD = Histogram(
    "kefu_sqlite_checkpoint_hold_seconds",
    "SQLite: time a WAL checkpoint's last step held the write gate (sends waited meanwhile) so "
    "that the WAL could start over. Always 0 observations on PostgreSQL.",
    buckets=_PAUSE_BUCKETS,
)

_EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_.]{0,40}$")


# --- Sockets ---------------------------------------------------------------------------------


def _socket_kind(conn: Any) -> str:
    return "visitor" if getattr(conn, "visitor_id", None) is not None else "staff"


def socket_opened(conn: Any) -> None:
    """Count a socket once (the hub may be told twice about the same connection)."""
    if getattr(conn, "_kefu_counted", False):
        return
    conn._kefu_counted = True
    WS_CONNECTIONS.labels(_socket_kind(conn)).inc()


def slow_socket_dropped(conn: Any) -> None:
    SLOW_SOCKETS.labels(_socket_kind(conn)).inc()


def socket_closed(conn: Any) -> None:
    if not getattr(conn, "_kefu_counted", False):
        return
    conn._kefu_counted = False
    WS_CONNECTIONS.labels(_socket_kind(conn)).dec()


# --- Timers and dispatch ----------------------------------------------------------------------


def timer_ran(kind: str, due_at: datetime) -> None:
    """A durable timer ran now (the injectable clock's now, so tests can move it)."""
    lag = (clock.now() - due_at).total_seconds()
    TIMER_LAG.labels(kind[:40]).observe(max(lag, 0.0))


P = ParamSpec("P")
R = TypeVar("R")


def timed_drain(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Decorator for the queue drain: observes its wall time."""

    @wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        started = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            DRAIN_DURATION.observe(time.perf_counter() - started)

    return wrapper


def listener_failed(event_type: Any) -> None:
    name = str(event_type)
    BUS_FAILURES.labels(name if _EVENT_TYPE.match(name) else "other").inc()


# --- Exposition -------------------------------------------------------------------------------


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def prepare_multiprocess(workers: int) -> str | None:
    """Before `kefu serve --workers N` (N > 1) starts its workers: give them one metrics
    directory (PROMETHEUS_MULTIPROC_DIR), emptied of a previous run's files. An operator's own
    PROMETHEUS_MULTIPROC_DIR is used as is (emptied too). Returns the directory, or None for a
    single process (plain in-memory metrics)."""
    path = multiprocess_dir()
    if workers <= 1 and path is None:
        return None
    if path is None:
        path = tempfile.mkdtemp(prefix="kefu-metrics-")
        os.environ[MULTIPROC_ENV] = path
    os.makedirs(path, exist_ok=True)
    for name in glob.glob(os.path.join(path, "*.db")):
        os.remove(name)
    return path


def remove_multiprocess_dir(path: str | None) -> None:
    if path and os.path.basename(path).startswith("kefu-metrics-"):
        shutil.rmtree(path, ignore_errors=True)


def _reap_dead_workers(path: str) -> None:
    """Live gauges (sockets, pool) of a worker that died must not count: drop its files."""
    from prometheus_client import multiprocess

    pids: set[int] = set()
    for name in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        digits = name.rsplit("_", 1)[-1][: -len(".db")]
        if digits.isdigit():
            pids.add(int(digits))
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
        except PermissionError:
            pass


def render() -> bytes:
    """The exposition text for this process, or for every worker of this machine."""
    path = multiprocess_dir()
    if path is None:
        return generate_latest(REGISTRY)
    from prometheus_client import multiprocess

    _reap_dead_workers(path)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    return generate_latest(registry)
