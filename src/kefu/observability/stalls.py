"""A watchdog thread that names what holds the event loop.

`kefu_event_loop_lag_seconds` says *that* the loop was late; when it stops turning for seconds
(a synchronous call that blocks, a runaway loop in a listener) every socket of the node stalls
and nothing is logged until it turns again. This thread, outside the loop, notices the probe's
silence and logs the loop thread's stack at that moment: the line to fix.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback

from kefu.observability.metrics import EVENT_LOOP_STALLS

log = logging.getLogger("kefu.stalls")


class StallWatch:
    """Call `tick()` from the loop; a stall is a silence of `threshold` seconds or more."""

    def __init__(self, threshold: float, check_every: float = 0.5) -> None:
        self.threshold = threshold
        self.check_every = check_every
        self._last = time.monotonic()
        self._loop_thread = threading.get_ident()  # built on the loop's thread
        self._reported = False  # the current silence is already logged
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kefu-stall-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def tick(self) -> None:
        now = time.monotonic()
        if self._reported:
            log.warning("event loop turned again after %.1f s", now - self._last)
            self._reported = False
        self._last = now

    def _run(self) -> None:
        while not self._stop.wait(self.check_every):
            silent = time.monotonic() - self._last
            if silent < self.threshold or self._reported:
                continue
            self._reported = True
            EVENT_LOOP_STALLS.inc()
            frame = sys._current_frames().get(self._loop_thread)
            stack = "".join(traceback.format_stack(frame)) if frame is not None else "(gone)\n"
            log.warning("event loop has not turned for %.1f s; it is at:\n%s", silent, stack)
