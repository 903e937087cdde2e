"""Export management (§14): jobs through the API, file contents, limits, expiry, durability."""

from __future__ import annotations

import io
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from pydantic import BaseModel
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.core import clock
from kefu.exports.actions import SOURCE_PAGES
from kefu.exports.models import ExportJob
from kefu.exports.registry import (
    Cell,
    ExportKind,
    Sheet,
    export_kind,
    export_kinds,
    register_export,
)
from tests.conftest import LiveServer
from tests.exports_helpers import (
    download,
    run_export,
    sheet_rows,
    start_export,
    wait_export,
)
from tests.helpers import Api, Client, Tenant
from tests.routing_helpers import eventually, on_server, run_timers
from tests.world_history import Desk, error

# Visitor names and reasons; tab and CR starts are covered by the probe kind (profiles trim).
NASTY = ['=HYPERLINK("http://evil.test","x")', "+1", "-2", "@x"]


# A kind only these tests use: several sheets, datetimes, a unit cap like History's (§14).
class ProbeParams(BaseModel):
    units: int = 3


async def _probe_count(db: AsyncSession, principal: Principal, p: ProbeParams) -> int:
    return p.units


def _probe_sheets(
    db: AsyncSession,
    principal: Principal,
    p: ProbeParams,
    lang: str,
    progress: Callable[[int], None],
) -> list[Sheet]:
    async def first() -> AsyncIterator[list[Cell]]:
        for i in range(p.units):
            yield [i, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), f"-{i}", None, True, "\tX", "\rY"]
            progress(1)

    async def second() -> AsyncIterator[list[Cell]]:
        yield ["https://files.example.test/voice.amr"]

    title = "Probe" if lang == "en" else "探针"
    return [
        Sheet(
            name=f"{title}: [1]",
            headers=["n", "at", "text", "empty", "flag", "tab", "cr"],
            rows=first(),
        ),
        Sheet(name="Media", headers=["url"], rows=second()),
    ]


if export_kind("test_probe") is None:
    register_export(
        ExportKind(
            kind="test_probe",
            pages=("admin.exports",),
            params_model=ProbeParams,
            title=lambda lang: "Probe" if lang == "en" else "探针",
            count=_probe_count,
            sheets=_probe_sheets,
            max_units=5,
        )
    )


def _runner(server: LiveServer) -> Any:
    return server.app.state.export_runner


def stop_runner(server: LiveServer) -> None:
    on_server(server, _runner(server).stop())


def start_runner(server: LiveServer) -> None:
    async def start() -> None:
        _runner(server).start()

    on_server(server, start())


def edit_job(server: LiveServer, job_id: int, **values: Any) -> None:
    async def run() -> None:
        async with server.app.state.sessionmaker() as db:
            await db.execute(update(ExportJob).where(ExportJob.id == job_id).values(**values))
            await db.commit()

    on_server(server, run())


def export_files(server: LiveServer, tenant_id: int) -> list[Path]:
    folder = server.settings.data_dir / "exports" / str(tenant_id)
    return sorted(folder.glob("*")) if folder.exists() else []


def limited_user(api: Api, t: Tenant) -> tuple[dict[str, Any], Client]:
    """A custom role: agent-mode Export management and the admin Customer center (blacklist)."""
    role = t.admin.ok(
        "POST", "/roles", json={"name": "Exporter", "pages": ["agent.exports", "admin.customers"]}
    )
    return api.add_user(t, role_id=role["id"], nickname="exporter")


@pytest.fixture
def fake_clock() -> Iterator[clock.FakeClock]:
    fc = clock.FakeClock(datetime.now(UTC))
    clock.set_clock(fc)
    yield fc
    clock.set_clock(clock.Clock())


def test_export_jobs_contents_visibility_and_records(api: Api, server: LiveServer) -> None:
    desk = Desk(api, server.base_url)
    t = desk.t
    admin = t.admin
    user, exporter = limited_user(api, t)
    _, agent = api.add_user(t, nickname="plain agent")
    for i, name in enumerate(NASTY):
        v = desk.visitor(name)
        admin.ok("POST", "/blacklist", json={"visitor_id": v.id, "reason": NASTY[-1 - i]})

    # Blacklist as XLSX: header, one row per entry, formulas neutralised, times as text.
    rows = sheet_rows(run_export(admin, "blacklist", {"state": "all"}))
    assert rows[0][:3] == ["访客ID", "访客", "原因"] and len(rows) == 1 + len(NASTY)
    names = {r[1] for r in rows[1:]}
    reasons = {r[2] for r in rows[1:]}
    for text in NASTY:
        assert "'" + text in names and "'" + text in reasons, (text, names)
    added_at = rows[1][5]
    assert isinstance(added_at, str) and len(added_at) == 19 and added_at[10] == " "
    # Shanghai time: 8 hours ahead of UTC.
    job = admin.ok("GET", "/exports", params={"mode": "admin"})["items"][0]
    utc = datetime.fromisoformat(job["created_at"].replace("Z", "+00:00"))
    local = (utc + timedelta(hours=8)).replace(tzinfo=None)
    assert abs(datetime.strptime(added_at, "%Y-%m-%d %H:%M:%S") - local) < timedelta(minutes=5)
    # The same as CSV (UTF-8 with BOM), neutralised the same way.
    csv_rows = run_export(admin, "blacklist", {"state": "active"}, fmt="csv")
    assert csv_rows[0][0] == "访客ID" and len(csv_rows) == 1 + len(NASTY)
    assert {r[1] for r in csv_rows[1:]} == {"'" + n for n in NASTY}

    # Agents: every agent and admin; the page's exact search narrows it; English headers.
    wb = run_export(admin, "agents", {})
    agents = sheet_rows(wb)
    assert agents[0][0] == "昵称" and len(agents) == 4
    assert {r[0] for r in agents[1:]} >= {"exporter", "plain agent"}
    only = sheet_rows(run_export(admin, "agents", {"q": user["email"]}))
    assert len(only) == 2 and only[1][1] == user["email"] and only[1][10] == "启用"
    admin.ok("PATCH", "/me", json={"language": "en"})
    en_rows = run_export(admin, "agents", {"q": "plain agent"}, fmt="csv")
    assert en_rows[0][:2] == ["Nickname", "Email"] and en_rows[1][10] == "Enabled"
    en_job = admin.ok("GET", "/exports")["items"][0]
    assert en_job["file_name"].startswith("Agents_") and en_job["file_name"].endswith(".csv")
    admin.ok("PATCH", "/me", json={"language": "zh-CN"})

    # Multi-sheet kind: sheet names are made valid; datetimes in the tenant's zone; CSV sections.
    probe = run_export(admin, "test_probe", {"units": 2})
    assert [ws.title for ws in probe.worksheets] == ["探针   1", "Media"]
    first = sheet_rows(probe, 0)
    assert first[1][:6] == [0, "2026-01-02 11:04:05", "'-0", None, True, "'\tX"]
    assert first[1][6] in ("'\rY", "'\nY")  # XML readers turn a CR into LF
    assert sheet_rows(probe, 1)[1] == ["https://files.example.test/voice.amr"]
    sections = run_export(admin, "test_probe", {"units": 1}, fmt="csv")
    assert sections[0] == ["探针: [1]"] and sections[2][2] == "'-0" and sections[3] == []
    assert sections[4] == ["Media"]

    # Refusals: unknown kind, bad params, bad format, a page the caller lacks.
    r = admin.post("/exports", json={"kind": "nope", "params": {}})
    assert r.status_code == 422 and error(r) == "export_kind_unknown"
    r = admin.post("/exports", json={"kind": "blacklist", "params": {"state": "gone"}})
    assert r.status_code == 422 and error(r) == "validation_error"
    assert r.json()["error"]["fields"][0]["field"] == "params.state"
    r = admin.post("/exports", json={"kind": "blacklist", "params": {"bogus": 1}})
    assert r.status_code == 422
    r = admin.post("/exports", json={"kind": "blacklist", "format": "pdf"})
    assert r.status_code == 422
    for kind in ("blacklist", "agents"):
        r = agent.post("/exports", json={"kind": kind, "params": {}})
        assert r.status_code == 403 and error(r) == "forbidden"
    r = exporter.post("/exports", json={"kind": "agents", "params": {}})
    assert r.status_code == 403

    # Visibility: agent mode = my files; admin mode = the tenant's (admin.exports only).
    mine = wait_export(exporter, start_export(exporter, "blacklist", {})["id"])
    assert mine["state"] == "done" and mine["requested_by"]["nickname"] == "exporter"
    assert [j["id"] for j in exporter.ok("GET", "/exports")["items"]] == [mine["id"]]
    r = exporter.get("/exports", params={"mode": "admin"})
    assert r.status_code == 403
    admin_all = admin.ok("GET", "/exports", params={"mode": "admin", "page_size": 100})
    assert mine["id"] in [j["id"] for j in admin_all["items"]]
    assert mine["id"] not in [j["id"] for j in admin.ok("GET", "/exports")["items"]]
    assert admin.ok("GET", "/exports", params={"mode": "admin", "kind": "agents"})["total"] == 3
    admins_job = admin_all["items"][-1]["id"]
    for path in (f"/exports/{admins_job}", f"/exports/{admins_job}/download"):
        r = exporter.get(path)
        assert r.status_code == 404 and error(r) == "not_found"
    assert exporter.delete(f"/exports/{admins_job}").status_code == 404
    assert agent.get("/exports").json()["total"] == 0

    # Download records: who, when, IP; admins read anyone's.
    download(exporter, mine["id"])
    data = download(admin, mine["id"])
    assert load_workbook(io.BytesIO(data)).active is not None
    records = admin.ok("GET", f"/exports/{mine['id']}/downloads")
    assert [r["user"]["nickname"] for r in records] == [admin.me["nickname"], "exporter"]
    assert all(r["ip"] == "127.0.0.1" and r["at"] for r in records)
    assert exporter.ok("GET", f"/exports/{mine['id']}")["downloads"] == 2
    r = exporter.get(f"/exports/{mine['id']}/download")
    assert "filename*=utf-8''" in r.headers["content-disposition"]

    # Another tenant's job is unknown.
    other = api.provision("Other Co")
    for method, path in (
        ("GET", f"/exports/{mine['id']}"),
        ("GET", f"/exports/{mine['id']}/download"),
        ("GET", f"/exports/{mine['id']}/downloads"),
        ("DELETE", f"/exports/{mine['id']}"),
    ):
        r = other.admin.request(method, path)
        assert r.status_code == 404 and error(r) == "not_found", (method, path)
    assert other.admin.ok("GET", "/exports", params={"mode": "admin"})["total"] == 0

    # Delete: own files; admins any. The file goes too.
    before = len(export_files(server, t.id))
    exporter.ok("DELETE", f"/exports/{mine['id']}", 204)
    assert exporter.get(f"/exports/{mine['id']}").status_code == 404
    assert len(export_files(server, t.id)) == before - 1
    theirs = wait_export(exporter, start_export(exporter, "blacklist", {})["id"])
    admin.ok("DELETE", f"/exports/{theirs['id']}", 204)
    assert exporter.ok("GET", "/exports")["total"] == 0

    # Notices: finished (and the message center links to the page).
    kinds = [n["kind"] for n in admin.ok("GET", "/notifications")["items"]]
    assert "export_finished" in kinds

    # Every registered kind can be started: its pages are among those POST /exports lets in.
    for kind in export_kinds().values():
        assert set(kind.pages) <= set(SOURCE_PAGES), (kind.kind, kind.pages)


def test_limits_failures_and_expiry(
    api: Api, server: LiveServer, monkeypatch: pytest.MonkeyPatch, fake_clock: clock.FakeClock
) -> None:
    desk = Desk(api, server.base_url)
    t = desk.t
    admin = t.admin
    for i in range(3):
        api.add_user(t, nickname=f"agent {i}")
        v = desk.visitor(f"v{i}")
        admin.ok("POST", "/blacklist", json={"visitor_id": v.id, "reason": "r" * 150})

    # The unit cap refuses the request (History's code for its kind) before any job exists.
    r = admin.post("/exports", json={"kind": "test_probe", "params": {"units": 6}})
    assert r.status_code == 422 and error(r) == "export_too_many_conversations"
    assert "5" in r.json()["error"]["message"] and "缩小" in r.json()["error"]["message"]
    # An operator cap lowers every kind's (rows for kinds without a cap of their own); the
    # runner checks again, for data that grew (or a cap that fell) after the request.
    stop_runner(server)
    try:
        job = start_export(admin, "agents", {})
        monkeypatch.setenv("KEFU_EXPORT_MAX_UNITS", "2")
        r = admin.post("/exports", json={"kind": "agents", "params": {}})
        assert r.status_code == 422 and error(r) == "export_too_many_rows"
    finally:
        start_runner(server)
    failed = wait_export(admin, job["id"])
    assert failed["state"] == "failed" and failed["error_code"] == "export_too_many_rows"
    assert "2" in failed["error_message"] and "缩小" in failed["error_message"]
    assert failed["size_bytes"] == 0 and export_files(server, t.id) == []
    r = admin.get(f"/exports/{failed['id']}/download")
    assert r.status_code == 409 and error(r) == "export_not_ready"
    monkeypatch.delenv("KEFU_EXPORT_MAX_UNITS")

    # The byte cap: checked while writing (CSV) and after saving (XLSX); no partial file left.
    monkeypatch.setenv("KEFU_EXPORT_MAX_BYTES", "400")
    for fmt in ("csv", "xlsx"):
        job = wait_export(admin, start_export(admin, "blacklist", {}, fmt=fmt)["id"])
        assert job["state"] == "failed" and job["error_code"] == "export_too_large", job
        assert "400 B" in job["error_message"]
    assert export_files(server, t.id) == []
    monkeypatch.delenv("KEFU_EXPORT_MAX_BYTES")
    notices = admin.ok("GET", "/notifications")["items"]
    failed_notice = next(n for n in notices if n["kind"] == "export_failed")
    assert failed_notice["data"]["error_code"] == "export_too_large"

    # Expiry: 7 days after finishing the file is gone and downloads answer 410.
    done = wait_export(admin, start_export(admin, "blacklist", {})["id"])
    assert done["state"] == "done" and len(export_files(server, t.id)) == 1
    finished = datetime.fromisoformat(done["finished_at"].replace("Z", "+00:00"))
    expires = datetime.fromisoformat(done["expires_at"].replace("Z", "+00:00"))
    assert expires - finished == timedelta(days=7)
    fake_clock.advance(days=6, hours=23)
    run_timers(server)
    admin = api.login(t.admin_email, t.admin_password)  # sessions idle out after a day
    assert admin.ok("GET", f"/exports/{done['id']}")["state"] == "done"
    download(admin, done["id"])
    fake_clock.advance(hours=1, seconds=1)
    r = admin.get(f"/exports/{done['id']}/download")
    assert r.status_code == 410 and error(r) == "export_expired"
    run_timers(server)  # (the server's own scheduler may have run it already)
    gone = eventually(lambda: admin.ok("GET", f"/exports/{done['id']}")["state"] == "expired")
    assert gone and export_files(server, t.id) == []
    r = admin.get(f"/exports/{done['id']}/download")
    assert r.status_code == 410
    # Records stay readable after expiry.
    assert len(admin.ok("GET", f"/exports/{done['id']}/downloads")) == 1


def test_jobs_survive_restarts_and_run_as_the_user_at_run_time(
    api: Api, server: LiveServer
) -> None:
    t = api.provision()
    user, exporter = limited_user(api, t)
    stop_runner(server)
    try:
        # Written before the answer; nothing runs it while the runner is stopped.
        queued = start_export(t.admin, "agents", {})
        stale = start_export(t.admin, "agents", {}, fmt="csv")
        theirs = start_export(exporter, "blacklist", {})
        time.sleep(0.7)
        assert t.admin.ok("GET", f"/exports/{queued['id']}")["state"] == "queued"
        # A job another process took and never finished: its lease has passed.
        edit_job(
            server,
            stale["id"],
            state="running",
            attempts=1,
            lease_until=clock.now() - timedelta(seconds=1),
        )
        # A job whose lease is still live is left alone.
        busy = start_export(t.admin, "test_probe", {})
        edit_job(
            server,
            busy["id"],
            state="running",
            attempts=1,
            lease_until=clock.now() + timedelta(minutes=5),
        )
        # Rights are checked when the job runs: a disabled user's job fails.
        t.admin.ok("PATCH", f"/users/{user['id']}", json={"enabled": False})
    finally:
        start_runner(server)
    assert wait_export(t.admin, queued["id"])["state"] == "done"
    again = wait_export(t.admin, stale["id"])
    assert again["state"] == "done" and len(download(t.admin, stale["id"])) > 0
    failed = wait_export(t.admin, theirs["id"])
    assert failed["state"] == "failed" and failed["error_code"] == "forbidden"
    assert t.admin.ok("GET", f"/exports/{busy['id']}")["state"] == "running"
    # Too many attempts: the job fails instead of looping.
    edit_job(
        server,
        busy["id"],
        attempts=3,
        lease_until=clock.now() - timedelta(seconds=1),
    )
    dead = wait_export(t.admin, busy["id"])
    assert dead["state"] == "failed" and dead["error_code"] == "export_failed"
