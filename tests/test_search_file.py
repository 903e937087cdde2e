"""SQLite: the search index in a file of its own, written by the server's indexer
(kefu.search.sqlite_index): it keeps up by itself, trims its log, and is made anew when the
file is missing or does not fit the main file; migration 0027 moves the index both ways."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from alembic import command

from kefu.core.config import Settings
from kefu.core.migrate import alembic_config
from kefu.search import fts, sqlite_index
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
    monkeypatch.setattr(sqlite_index, "CLEAN_SECONDS", 0.2)
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
    monkeypatch.setattr(sqlite_index, "CLEAN_SECONDS", 0.0)
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
) -> None:
    """A search file restored from a backup misses messages whose log rows are gone since:
    its mark is below the log's first row, so it is replaced and filled."""
    monkeypatch.setattr(sqlite_index, "CLEAN_SECONDS", 0.0)
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
    third = _restart(again, settings)
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


def test_the_indexer_keeps_going_after_a_failure(
    api: Api, server: LiveServer, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pass that fails (here: the disk, once) is logged and tried again after a pause."""
    indexer = server.app.state.search_indexer.indexer
    real = indexer.run_pass
    failed: list[int] = []

    def flaky(limit: int = sqlite_index.BATCH) -> int:
        if not failed:
            failed.append(1)
            raise OSError(28, "No space left on device")
        return real(limit)

    monkeypatch.setattr(indexer, "run_pass", flaky)
    desk = Desk(api, server.base_url)
    _u, agent = api.add_user(desk.t)
    conv = _conversation(desk, agent, "磁盘满了")
    eventually(lambda: _in_search_file(settings) == _indexable(settings) != set(), timeout=10)
    assert failed and _found(agent, "磁盘") == [conv]
