"""Run an export job through the API as a page would, and read the file back."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

from openpyxl import load_workbook
from openpyxl.workbook import Workbook

from tests.helpers import Client


def start_export(
    client: Client, kind: str, params: dict[str, Any] | None = None, fmt: str = "xlsx"
) -> dict[str, Any]:
    job: dict[str, Any] = client.ok(
        "POST", "/exports", 202, json={"kind": kind, "params": params or {}, "format": fmt}
    )
    return job


def wait_export(client: Client, job_id: int, timeout: float = 30) -> dict[str, Any]:
    """Poll GET /exports/{id} until the job is done, failed or expired."""
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.ok("GET", f"/exports/{job_id}")
        if job["state"] in ("done", "failed", "expired"):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"export {job_id} still {job['state']} after {timeout}s")
        time.sleep(0.1)


def download(client: Client, job_id: int) -> bytes:
    r = client.get(f"/exports/{job_id}/download")
    assert r.status_code == 200, r.text
    return r.content


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "CSV exports start with a UTF-8 BOM"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def run_export(
    client: Client,
    kind: str,
    params: dict[str, Any] | None = None,
    fmt: str = "xlsx",
    timeout: float = 30,
) -> Any:
    """Start, wait for `done`, download. XLSX: an openpyxl Workbook; CSV: a list of rows."""
    job = wait_export(client, start_export(client, kind, params, fmt)["id"], timeout)
    assert job["state"] == "done", job
    data = download(client, job["id"])
    if fmt == "csv":
        return read_csv(data)
    wb: Workbook = load_workbook(io.BytesIO(data))
    return wb


def sheet_rows(wb: Workbook, index: int = 0) -> list[list[Any]]:
    """A worksheet's rows as lists of values (header first)."""
    ws = wb.worksheets[index]
    return [list(r) for r in ws.iter_rows(values_only=True)]


# --- route walkers (tests/test_permission_matrix.py, tests/test_cross_tenant.py) ---------------

MATRIX_KIND = "matrix_probe"


def ensure_matrix_kind() -> str:
    """A kind any caller of POST /exports may start (every page the route lets in); no rows."""
    from collections.abc import AsyncIterator

    from pydantic import BaseModel

    from kefu.exports.actions import SOURCE_PAGES
    from kefu.exports.registry import ExportKind, Sheet, export_kind, register_export

    class NoParams(BaseModel):
        pass

    async def count(*_: Any) -> int:
        return 0

    async def nothing() -> AsyncIterator[list[Any]]:
        return
        yield []

    if export_kind(MATRIX_KIND) is None:
        register_export(
            ExportKind(
                kind=MATRIX_KIND,
                pages=SOURCE_PAGES,
                params_model=NoParams,
                title=lambda lang: "probe",
                count=count,
                sheets=lambda *_: [Sheet(name="probe", headers=["x"], rows=nothing())],
            )
        )
    return MATRIX_KIND


def matrix_body() -> dict[str, Any]:
    return {"kind": ensure_matrix_kind(), "params": {}}


def matrix_job(client: Any) -> int:
    """A finished job of the client's user (any httpx client bound to /api/v1)."""
    r = client.post("/exports", json=matrix_body())
    assert r.status_code == 202, r.text
    job_id = int(r.json()["id"])
    deadline = time.monotonic() + 30
    while client.get(f"/exports/{job_id}").json()["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline, "export did not finish"
        time.sleep(0.05)
    return job_id


def make_export_job(t: Any) -> int:
    return matrix_job(t.admin)


def read_export_job(t: Any, job_id: int) -> Any:
    r = t.admin.get(f"/exports/{job_id}")
    d = t.admin.get(f"/exports/{job_id}/downloads")
    return (r.status_code, r.json(), d.status_code, d.json())
