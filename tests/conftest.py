"""Test harness: every test gets a clean database and a real Kefu server on a free port.

SQLite by default; set KEFU_TEST_DATABASE_URL=postgresql://... to run the suite on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re

# Before kefu is imported: cheap argon2 parameters for the many accounts tests create
# (see kefu.core.security); the e2e servers get the same through their environment.
os.environ.setdefault("KEFU_INSECURE_FAST_HASH", "1")
import shutil
import socket
import sqlite3
import threading
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import text

from kefu.api.app import create_app
from kefu.core.config import Settings
from kefu.core.db import Base, make_engine
from kefu.core.migrate import upgrade_to_head
from kefu.models import load_all_models
from kefu.search import fts
from kefu.search.sqlite_index import SearchIndexer, build_index, main_path, search_path
from tests.helpers import PLATFORM_KEY, Api


def _private_database(url: str) -> str:
    """A database of this pytest run's own beside the given one (dropped at exit), so runs that
    share a PostgreSQL server (developers, helpers, CI) never truncate each other's tables."""
    import atexit

    import asyncpg  # type: ignore[import-untyped]

    base, _, name = url.rpartition("/")
    private = f"{name}_p{os.getpid()}"
    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)

    async def create() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            ctype = await conn.fetchval(
                "SELECT datctype FROM pg_database WHERE datname = current_database()"
            )
            await conn.execute(f'DROP DATABASE IF EXISTS "{private}"')
            await conn.execute(
                f"CREATE DATABASE \"{private}\" TEMPLATE template0 ENCODING 'UTF8' "
                f"LC_COLLATE 'C' LC_CTYPE '{ctype}'"
            )
        finally:
            await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{private}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(create())
    atexit.register(lambda: asyncio.run(drop()))
    return f"{base}/{private}"


PG_URL = os.environ.get("KEFU_TEST_DATABASE_URL", "")
if PG_URL and os.environ.get("KEFU_TEST_PRIVATE_DB") != os.environ.get("KEFU_TEST_DATABASE_URL"):
    PG_URL = _private_database(PG_URL)
    # Child processes (servers the tests start) inherit the private database, not the shared one.
    os.environ["KEFU_TEST_DATABASE_URL"] = os.environ["KEFU_TEST_PRIVATE_DB"] = PG_URL


def _settings(data_dir: Path, port: int = 0) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=PG_URL,
        platform_key=PLATFORM_KEY,
        host="127.0.0.1",
        port=port,
        public_base_url=f"http://127.0.0.1:{port}" if port else "",
        # Many apps start in one test process: gc.freeze() each time would keep their garbage.
        gc_threshold=0,
        # Within LiveServer.stop's wait (a client that stops reading holds its connection).
        shutdown_grace_seconds=3,
    )


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once per run; each test then starts from a copy (SQLite) or a truncate (PG)."""
    load_all_models()
    root = tmp_path_factory.mktemp("template")
    settings = _settings(root)
    if PG_URL:

        async def reset() -> None:
            engine = make_engine(settings)
            async with engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
            await engine.dispose()

        asyncio.run(reset())
    upgrade_to_head(settings)
    if not PG_URL:  # the search file too (kefu.search.sqlite_index), copied with the rest
        build_index(settings)
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean_database(settings: Settings) -> None:
    async def truncate() -> None:
        engine = make_engine(settings)
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        await engine.dispose()

    asyncio.run(truncate())


class LiveServer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        self.base_url = f"http://127.0.0.1:{settings.port}"
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=settings.port,
            log_level="warning",
            lifespan="on",
            ws_ping_interval=None,
            timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def settings(tmp_path: Path, template_db: Path) -> Settings:
    port = free_port()
    s = _settings(tmp_path, port)
    if PG_URL:
        _clean_database(s)
    else:
        for db in ("kefu.db", "kefu-search.db"):
            for name in (db, f"{db}-wal", f"{db}-shm"):
                if (template_db / name).exists():
                    shutil.copy(template_db / name, tmp_path / name)
    return s


# Users whose kept load (`agent_loads`, kept by triggers) differs from a count of their
# ongoing conversations.
_LOAD_DRIFT = text(
    "SELECT u.id, coalesce(l.ongoing, 0), (SELECT count(*) FROM conversations c"
    " WHERE c.agent_id = u.id AND c.state = 'ongoing') AS counted"
    " FROM users u LEFT JOIN agent_loads l ON l.user_id = u.id"
    " WHERE coalesce(l.ongoing, 0) <> (SELECT count(*) FROM conversations c"
    " WHERE c.agent_id = u.id AND c.state = 'ongoing')"
)


# SQLite, once the indexer has caught up: indexed messages whose document the search file
# lacks or holds stale, and documents of messages gone or no longer indexed.
_INDEX_DRIFT = (  # constants only
    f"SELECT m.id FROM messages m WHERE {fts.indexed_sql('m', 'sqlite')} AND NOT EXISTS"  # noqa: S608
    " (SELECT 1 FROM search.message_search s WHERE s.message_id = m.id"
    f" AND s.doc = {fts.doc_sql('sqlite', 'm')})"
    " UNION ALL SELECT s.message_id FROM search.message_search s WHERE NOT EXISTS"
    f" (SELECT 1 FROM messages m WHERE m.id = s.message_id AND {fts.indexed_sql('m', 'sqlite')})"
)


def _index_drift(settings: Settings) -> list[int]:
    """SQLite: what the search file gets wrong once it has caught up (and the FTS5 tables'
    own integrity checks); PostgreSQL keeps its index in the message's transaction."""
    if PG_URL:
        return []
    indexer = SearchIndexer(main_path(settings))
    try:
        indexer.build()  # as the server's start and its indexer would (a migration may reset)
        db = sqlite3.connect(settings.data_dir / "kefu.db")
        try:
            db.execute("ATTACH DATABASE ? AS search", (str(search_path(settings)),))
            for table in ("message_fts", "message_grams"):
                db.execute(f"INSERT INTO search.{table} ({table}) VALUES ('integrity-check')")  # noqa: S608
            return [r[0] for r in db.execute(_INDEX_DRIFT)]
        finally:
            db.close()
    finally:
        indexer.close()


def _load_drift(settings: Settings) -> list[tuple[int, int, int]]:
    async def read() -> list[tuple[int, int, int]]:
        engine = make_engine(settings)
        async with engine.connect() as conn:
            rows = [(r[0], r[1], r[2]) for r in await conn.execute(_LOAD_DRIFT)]
        await engine.dispose()
        return rows

    return asyncio.run(read())


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    live = LiveServer(settings)
    live.start()
    yield live
    live.stop()
    # Whatever the test did to conversations, every agent's kept load is still exact.
    assert _load_drift(settings) == [], "agent_loads drifted: (user, kept, counted)"
    assert _index_drift(settings) == [], "the search file is wrong about these messages"


@pytest.fixture
def api(server: LiveServer) -> Iterator[Api]:
    """An anonymous client of the live server; `.provision()` and `.login()` make more."""
    client = Api(server.base_url)
    yield client
    client.close_all()


@pytest.fixture
def raw(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url + "/api/v1") as c:
        yield c


LOG_TAIL_LINES = 80
# Startup lines every node writes alike; they would push a report's telling lines out of view.
_LOG_NOISE = re.compile(r"alembic\.runtime\.plugins|alembic\.runtime\.migration")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test's report ends with the tails of the logs its own processes wrote (`kefu
    serve` nodes, nginx, redis-server): under its tmp_path, or under the `log_root` of a
    fixture shared by several tests. A CI failure of a multi-process test is otherwise
    unexplainable after the fact."""
    report: pytest.TestReport = yield
    if not (report.failed and call.when == "call"):
        return report
    funcargs = getattr(item, "funcargs", {})
    roots = {funcargs.get("tmp_path")} | {getattr(v, "log_root", None) for v in funcargs.values()}
    tails, waits = [], []
    for root in sorted(r for r in roots if isinstance(r, Path)):
        for log in sorted(root.rglob("*.log")):
            with contextlib.suppress(OSError):
                lines = log.read_text(errors="replace").splitlines()
                waits += [f"{log.name}: {block}" for block in _wait_reports(lines)]
                tail = [ln for ln in lines if not _LOG_NOISE.search(ln)][-LOG_TAIL_LINES:]
                if tail:
                    tails.append((f"log {log}", "\n".join(tail)))
    if waits:  # first: what hung, and where (a CI log shows the start of a report)
        report.sections.append(("hung requests and stalled loops", "\n".join(waits)))
    report.sections.extend(tails)
    return report


_WAIT_REPORT = re.compile(r"\b(kefu\.slow|kefu\.stalls)\b")


def _wait_reports(lines: list[str]) -> list[str]:
    """The slow-request and loop-stall reports of a log, each with its indented chain."""
    blocks: list[str] = []
    for i, line in enumerate(lines):
        if _WAIT_REPORT.search(line):
            chain = itertools.takewhile(lambda ln: ln.startswith(" "), lines[i + 1 :])
            blocks.append("\n".join([line, *chain]))
    return blocks
