"""SQLite: the search index in a file of its own, written by the server's indexer
(kefu.search.sqlite_index): it keeps up by itself, trims its log, and is made anew when the
file is missing or does not fit the main file; migration 0027 moves the index both ways."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from alembic import command

from kefu.core.config import Settings
from kefu.core.migrate import alembic_config
from kefu.search import fts, indexer_task, sqlite_index
from tests.cluster_helpers import NodeProcess
from tests.conftest import PG_URL, LiveServer
from tests.helpers import Api, Client
from tests.routing_helpers import eventually
from tests.world_history import Desk

pytestmark = pytest.mark.skipif(bool(PG_URL), reason="SQLite's search file")


def _main(settings: Settings, sql: str) -> list[Any]:
    db = sqlite3.connect(settings.data_dir / "kefu.db")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def _indexable(settings: Settings) -> set[int]:
    sql = f"SELECT id FROM messages m WHERE {fts.indexed_sql('m', 'sqlite')}"  # noqa: S608
    return {r[0] for r in _main(settings, sql)}


def _in_search_file(settings: Settings) -> set[int]:
    db = sqlite3.connect(sqlite_index.search_path(settings))
    try:
        return {r[0] for r in db.execute("SELECT message_id FROM message_search")}
    finally:
        db.close()


def _log_rows(settings: Settings) -> int:
    return int(_main(settings, "SELECT count(*) FROM search_log")[0][0])


def _conversation(desk: Desk, agent: Client, *texts: str) -> int:
    v, conv = desk.held(agent)
    for text in texts:
        v.send(text)
    agent.ok("POST", f"/conversations/{conv}/end")
    return conv


def _found(agent: Client, q: str) -> list[int]:
    out = agent.ok("GET", "/search", params={"q": q})
    return sorted(int(i["conversation"]["id"]) for i in out["items"])


def _restart(server: LiveServer, settings: Settings) -> LiveServer:
    server.stop()
    again = LiveServer(settings)
    again.start()
    return again


def test_the_server_indexes_behind_the_sends_and_trims_its_log(
    api: Api, server: LiveServer, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(indexer_task, "CLEAN_SECONDS", 0.2)
    desk = Desk(api, server.base_url)
    _u, agent = api.add_user(desk.t)
    conv = _conversation(desk, agent, "退款进度", "refund status")
    eventually(lambda: _in_search_file(settings) == _indexable(settings) != set())
    # The log keeps only the row at the mark once the cleanup is due.
    eventually(lambda: _log_rows(settings) == 1, timeout=10)
    assert _found(agent, "退款") == _found(agent, "REFUND") == [conv]


def test_a_missing_search_file_is_made_anew_and_filled(
    api: Api, server: LiveServer, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(indexer_task, "CLEAN_SECONDS", 0.0)
    desk = Desk(api, server.base_url)
    _u, agent = api.add_user(desk.t)
    conv = _conversation(desk, agent, "发票抬头")
    _conversation(desk, agent, "later")
    eventually(lambda: _in_search_file(settings) == _indexable(settings))
    eventually(lambda: _log_rows(settings) == 1)  # the log no longer lists the first one
    server.stop()
    sqlite_index.remove_search_file(settings.data_dir / "kefu.db")
    again = _restart(server, settings)
    try:
        assert _found(agent, "发票") == [conv]  # queued again: at once from the log ...
        eventually(lambda: _in_search_file(settings) == _indexable(settings))
        assert _found(agent, "发票") == [conv]  # ... then from the index
    finally:
        again.stop()


def test_a_search_file_older_than_the_main_file_is_made_anew(
    api: Api,
    server: LiveServer,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A search file restored from a backup misses messages whose log rows are gone since:
    its mark is below the log's first row, so it is replaced and filled (and the server says
    so, though the check runs in the indexer's process)."""
    monkeypatch.setattr(indexer_task, "CLEAN_SECONDS", 0.0)
    desk = Desk(api, server.base_url)
    _u, agent = api.add_user(desk.t)
    first = _conversation(desk, agent, "第一批")
    eventually(lambda: _in_search_file(settings) == _indexable(settings))
    eventually(lambda: _log_rows(settings) == 1)
    search = sqlite_index.search_path(settings)
    backup = tmp_path / "backup"
    backup.mkdir()
    server.stop()
    shutil.copy(search, backup / search.name)
    again = _restart(server, settings)
    try:
        second = _conversation(desk, agent, "第二批")
        eventually(lambda: _in_search_file(settings) == _indexable(settings))
        eventually(lambda: _log_rows(settings) == 1)
    finally:
        again.stop()
    sqlite_index.remove_search_file(settings.data_dir / "kefu.db")
    shutil.copy(backup / search.name, search)
    with caplog.at_level(logging.WARNING, logger="kefu.search"):
        third = _restart(again, settings)
    assert "indexing anew" in caplog.text
    try:
        eventually(lambda: _in_search_file(settings) == _indexable(settings))
        assert _found(agent, "批") == sorted([first, second])
    finally:
        third.stop()


def test_migration_0027_moves_the_index_out_of_the_main_file_and_back(
    api: Api, server: LiveServer, settings: Settings
) -> None:
    desk = Desk(api, server.base_url)
    _u, agent = api.add_user(desk.t)
    _conversation(desk, agent, "迁移前的消息")
    server.stop()
    cfg = alembic_config()
    cfg.attributes["settings"] = settings
    command.downgrade(cfg, "0026")
    search = sqlite_index.search_path(settings)
    assert not search.exists()
    # The index is back in the main file, built from the messages.
    sql = "SELECT rowid FROM message_fts WHERE message_fts MATCH '\"迁移前\"'"
    assert {r[0] for r in _main(settings, sql)} & _indexable(settings)
    command.upgrade(cfg, "heads")
    assert not _main(settings, "SELECT 1 FROM sqlite_master WHERE name = 'message_fts'")
    again = _restart(server, settings)
    try:
        eventually(lambda: _in_search_file(settings) == _indexable(settings) != set())
        assert len(_found(agent, "迁移前")) == 1
    finally:
        again.stop()


def _children(pid: int) -> set[int]:
    """The processes whose parent is `pid` (from /proc)."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[1]) == pid:
                out.add(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def test_a_killed_server_leaves_no_indexer_process(settings: Settings) -> None:
    """SIGKILL gives the server no chance to stop its indexer: the indexer's process (and the
    forkserver it came from) must end by itself, not linger holding the database open."""
    node = NodeProcess(settings)
    node.start()
    try:
        assert node.proc is not None
        forkservers = _children(node.proc.pid)
        indexers = {c for f in forkservers for c in _children(f)}
        assert forkservers and indexers, "the indexer runs in a process of its own"
        node.kill()
        eventually(lambda: not any(_alive(p) for p in forkservers | indexers), timeout=10)
    finally:
        node.stop()


def test_the_indexer_keeps_going_after_its_process_dies(
    api: Api, server: LiveServer, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """The indexer runs in a process of its own (kefu.search.indexer_task). Killed, the pass
    under way fails, is logged, and a new process takes over: nothing is missed."""
    task = server.app.state.search_indexer
    desk = Desk(api, server.base_url)
    _u, agent = api.add_user(desk.t)
    first = _conversation(desk, agent, "进程之前")
    eventually(lambda: _in_search_file(settings) == _indexable(settings) != set())
    dead = task.pid
    assert dead not in (0, os.getpid())
    # Background work: below the server for the scheduler (docs/decisions.md).
    niceness = os.getpriority(os.PRIO_PROCESS, 0)
    assert os.getpriority(os.PRIO_PROCESS, dead) == min(niceness + indexer_task.NICE, 19)
    with caplog.at_level(logging.ERROR, logger="kefu.search"):
        os.kill(dead, signal.SIGKILL)
        second = _conversation(desk, agent, "进程之后")
        eventually(lambda: _in_search_file(settings) == _indexable(settings), timeout=15)
    assert task.pid not in (0, dead)
    assert "search indexing failed (1 in a row)" in caplog.text
    assert _found(agent, "进程") == sorted([first, second])


def test_the_indexer_can_run_on_a_thread_instead(
    api: Api, server: LiveServer, settings: Settings
) -> None:
    """KEFU_SEARCH_INDEXER=thread (tiny hosts: no second process) indexes just the same."""
    server.stop()
    threaded = LiveServer(settings.model_copy(update={"search_indexer": "thread"}))
    threaded.start()
    try:
        desk = Desk(api, threaded.base_url)
        _u, agent = api.add_user(desk.t)
        conv = _conversation(desk, agent, "线程索引")
        eventually(lambda: _in_search_file(settings) == _indexable(settings) != set())
        assert threaded.app.state.search_indexer.pid == os.getpid()  # no process of its own
        assert _found(agent, "线程") == [conv]
    finally:
        threaded.stop()
