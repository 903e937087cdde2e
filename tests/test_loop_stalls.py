"""The stall watchdog logs the stack that holds a server's event loop, once per stall."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from kefu.observability import runtime
from kefu.observability.metrics import EVENT_LOOP_STALLS
from kefu.observability.stalls import StallWatch


def a_listener_that_blocks() -> None:
    time.sleep(1.5)  # a synchronous call in the loop: every socket of the node waits


async def _run(stalls: StallWatch) -> None:
    probe = asyncio.create_task(runtime.watch_loop(0.05, stalls=stalls))
    await asyncio.sleep(0.2)  # turns normally: nothing logged
    asyncio.get_running_loop().call_soon(a_listener_that_blocks)
    await asyncio.sleep(0.3)  # the probe ticks again once the loop is free
    probe.cancel()


def test_a_held_loop_is_logged_with_the_stack_that_holds_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = EVENT_LOOP_STALLS._value.get()
    caplog.set_level(logging.WARNING, logger="kefu.stalls")

    async def main() -> None:
        stalls = StallWatch(threshold=0.7, check_every=0.05)  # built on the loop's thread
        stalls.start()
        try:
            await _run(stalls)
        finally:
            stalls.stop()

    asyncio.run(main())
    mine = [r.getMessage() for r in caplog.records if r.name == "kefu.stalls"]
    held = [m for m in mine if "has not turned" in m]
    assert len(held) == 1, caplog.text  # one report per stall, not one per check
    assert "a_listener_that_blocks" in held[0] and "time.sleep(1.5)" in held[0], held[0]
    assert any("turned again after" in m for m in mine), caplog.text
    assert EVENT_LOOP_STALLS._value.get() == before + 1


def test_a_loop_that_turns_is_never_reported(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="kefu.stalls")

    async def main() -> None:
        stalls = StallWatch(threshold=2.0, check_every=0.05)  # lenient: CI machines are shared
        stalls.start()
        probe = asyncio.create_task(runtime.watch_loop(0.05, stalls=stalls))
        await asyncio.sleep(1.0)
        probe.cancel()
        stalls.stop()

    asyncio.run(main())
    assert not [r for r in caplog.records if r.name == "kefu.stalls"], caplog.text
