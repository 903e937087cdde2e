"""`queue.changed` frames are coalesced per tenant (issue 7): a burst of arrivals sends a few
frames to each staff socket, at most one per `QUEUE_FRAME_SECONDS`, and the last one carries the
final count; the count itself is read after commit, at most once per interval."""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import BaseModel

from kefu.chat.hub import QUEUE_FRAME_SECONDS
from kefu.events.types import QueueChanged, QueueMoved
from tests.chat_helpers import Visitor, new_widget, recv, staff_socket
from tests.conftest import LiveServer
from tests.helpers import Api
from tests.routing_helpers import on_server


def test_a_burst_of_arrivals_sends_few_queue_frames_ending_with_the_count(
    api: Api, server: LiveServer
) -> None:
    t = api.provision()
    widget = new_widget(t)
    visitors = [Visitor(api, widget) for _ in range(12)]  # signed in before the burst
    with staff_socket(server.base_url, t.admin) as ws:
        started = time.monotonic()
        with ThreadPoolExecutor(4) as pool:  # arrivals as a burst, not one request at a time
            list(pool.map(lambda iv: iv[1].send(f"排队 {iv[0]}"), enumerate(visitors)))
        elapsed = time.monotonic() - started
        frames: list[dict[str, Any]] = []
        with contextlib.suppress(TimeoutError):
            while True:
                frame = recv(ws, 1.0)
                if frame["type"] == "queue.changed":
                    frames.append(frame)
    waiting = len(t.admin.ok("GET", "/waiting")["items"])  # the admin online took some
    assert 0 < waiting < 12
    assert frames, "no queue.changed frame"
    assert frames[-1] == {"type": "queue.changed", "waiting": waiting}
    # One now, then at most one per interval while they kept coming, and a last one.
    assert len(frames) <= 2 + elapsed / QUEUE_FRAME_SECONDS, (len(frames), elapsed)
    if elapsed < 10 * QUEUE_FRAME_SECONDS:  # else a busy machine spread the burst out
        assert len(frames) < 12


def test_the_waiting_count_is_read_after_commit_at_most_once_per_interval(
    api: Api, server: LiveServer
) -> None:
    # Each arrival's transaction only notes that the queue moved (QueueMoved); the count is read
    # afterwards, once for the changes of an interval, and the last count is the final one.
    t = api.provision()
    widget = new_widget(t)
    counted: list[QueueChanged] = []
    moved: list[QueueMoved] = []

    async def record(event: BaseModel) -> None:
        if isinstance(event, QueueChanged) and event.tenant_id == t.id:
            counted.append(event)
        if isinstance(event, QueueMoved) and event.tenant_id == t.id:
            moved.append(event)

    server.app.state.bus.subscribe(record)
    started = time.monotonic()
    for i in range(12):
        Visitor(api, widget).send(f"排队 {i}")
    elapsed = time.monotonic() - started
    on_server(server, server.app.state.queue_announcer.settle())
    assert len(moved) >= 12
    assert counted, "no count announced"
    assert len(counted) <= 2 + elapsed / QUEUE_FRAME_SECONDS, (len(counted), elapsed)
    assert counted[-1].waiting == len(t.admin.ok("GET", "/waiting")["items"]) == 12
