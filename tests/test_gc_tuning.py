"""A server process tunes Python's cycle collector once started (`KEFU_GC_THRESHOLD`, issue 7):
what startup built is frozen out of the collector's walks and the young generation is collected
less often. The test suite's own servers keep Python's defaults (many apps share a process)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import httpx
import pytest

from kefu.core.config import Settings
from tests.conftest import LiveServer


@pytest.fixture
def restored_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)
    gc.unfreeze()


def test_a_started_server_tunes_the_collector(settings: Settings, restored_gc: None) -> None:
    assert gc.get_threshold()[0] != 12_345
    frozen = gc.get_freeze_count()
    live = LiveServer(settings.model_copy(update={"gc_threshold": 12_345}))
    live.start()
    try:
        assert httpx.get(f"{live.base_url}/livez").status_code == 200
        assert gc.get_threshold()[0] == 12_345
        assert gc.get_freeze_count() > frozen
    finally:
        live.stop()


def test_zero_keeps_pythons_defaults(settings: Settings, restored_gc: None) -> None:
    before = gc.get_threshold()
    live = LiveServer(settings.model_copy(update={"gc_threshold": 0}))
    live.start()
    try:
        assert gc.get_threshold() == before
    finally:
        live.stop()
