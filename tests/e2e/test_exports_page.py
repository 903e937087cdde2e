"""Export management (SPEC §14): from the blacklist page, Export starts a job; the admin goes to
Export management, sees it finish, downloads the file (recorded with who, when and IP), and
reads the download records. Agent mode lists only the user's own files; a failed job says why.
Screenshots go to /tmp/shots/exports/.
"""

from __future__ import annotations

import io
import re
import sqlite3
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, Tenant
from tests.e2e.helpers import ApiClient, login
from tests.e2e.test_history_page import ApiVisitor

pytestmark = pytest.mark.e2e
SHOTS = Path("/tmp/shots/exports")  # noqa: S108


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(5, 5)
    expect(page.locator(".el-loading-mask:visible")).to_have_count(0)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def test_export_from_the_blacklist_then_download_it(  # type: ignore[no-untyped-def]
    server: Server, tenant: Tenant, page: Page
) -> None:
    admin = ApiClient(server.base_url, tenant.email, tenant.password)
    widget = admin.http.post("/widgets", json={"name": "官网"}).json()
    for name, reason in (("骚扰者", "辱骂客服"), ("=HYPERLINK(1)", "广告"), ("刷单号", "恶意刷单")):
        v = ApiVisitor(server.base_url, widget["key"], name)
        r = admin.http.post("/blacklist", json={"visitor_id": v.id, "reason": reason})
        assert r.status_code == 200, r.text

    login(page, tenant.email, tenant.password)
    page.goto("/admin/customers")
    page.get_by_role("tab", name="黑名单").click()
    expect(page.get_by_text("辱骂客服")).to_be_visible()
    page.get_by_role("button", name="导出", exact=True).click()
    expect(page.get_by_text("导出任务已创建，可在导出管理中下载")).to_be_visible()
    page.get_by_role("button", name="前往导出管理").click()
    expect(page).to_have_url(re.compile(r"/admin/exports$"))

    row = page.locator(".el-table__row").filter(has_text="黑名单_")
    expect(row.get_by_text("已完成")).to_be_visible()
    file_name = row.locator(".ex-file").inner_text().strip()
    assert file_name.startswith("黑名单_") and file_name.endswith(".xlsx")
    shot(page, "admin-exports")

    with page.expect_download() as info:
        page.get_by_role("link", name=f"下载 {file_name}").click()
    download = info.value
    assert download.suggested_filename == file_name
    rows = list(load_workbook(io.BytesIO(Path(download.path()).read_bytes())).active.values)
    assert rows[0][:3] == ("访客ID", "访客", "原因") and len(rows) == 4
    assert "'=HYPERLINK(1)" in {r[1] for r in rows[1:]}

    page.get_by_role("button", name=f"{file_name} 的下载记录").click()
    dialog = page.get_by_role("dialog", name=f"下载记录：{file_name}")
    expect(dialog.get_by_text("127.0.0.1")).to_be_visible()
    shot(page, "download-records")
    dialog.get_by_role("button", name=re.compile("关闭|Close")).click()

    # A failed job (here: marked failed in the database, as a too-large file would be) says why.
    job = admin.http.post("/exports", json={"kind": "agents", "params": {}}).json()
    for _ in range(100):
        if admin.http.get(f"/exports/{job['id']}").json()["state"] == "done":
            break
        page.wait_for_timeout(100)
    with sqlite3.connect(server.data_dir / "kefu.db") as db:
        db.execute(
            "UPDATE export_jobs SET state='failed', error_code='export_too_large', "
            "file_path=NULL, size_bytes=0 WHERE id=?",
            (job["id"],),
        )
    page.get_by_role("button", name="刷新").click()
    failed = page.locator(".el-table__row").filter(has_text="客服信息_")
    expect(failed.get_by_text("失败", exact=True)).to_be_visible()
    expect(failed.get_by_text(re.compile("缩小筛选范围"))).to_be_visible()
    shot(page, "failed-job")

    # Agent mode: my own files, without the requested-by column.
    page.goto("/agent/exports")
    expect(page.locator(".el-table__row").filter(has_text="黑名单_")).to_be_visible()
    expect(page.get_by_role("columnheader", name="导出人")).to_have_count(0)
    shot(page, "agent-exports")
