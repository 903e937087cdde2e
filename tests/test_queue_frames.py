"""`queue.changed` frames are coalesced per tenant (issue 7): a burst of arrivals sends a few
frames to each staff socket, at most one per `QUEUE_FRAME_SECONDS`, and the last one carries the
final count."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from kefu.chat.hub import QUEUE_FRAME_SECONDS
from tests.chat_helpers import Visitor, new_widget, recv, staff_socket
from tests.conftest import LiveServer
from tests.helpers import Api


def test_a_burst_of_arrivals_sends_few_queue_frames_ending_with_the_count(
    api: Api, server: LiveServer
) -> None:
    t = api.provision()
    widget = new_widget(t)
    with staff_socket(server.base_url, t.admin) as ws:
        started = time.monotonic()
        for i in range(12):
            Visitor(api, widget).send(f"排队 {i}")
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
    assert len(frames) < 12
