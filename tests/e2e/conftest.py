"""Browser tests: the real `kefu serve` in a subprocess, a tenant made with the CLI, and Debian's
chromium driven by Playwright. The console must be built first (`cd web && npm run build`)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CONSOLE_INDEX = ROOT / "src" / "kefu" / "static" / "console" / "index.html"
CHROMIUM = os.environ.get("KEFU_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["KEFU_INSECURE_FAST_HASH"] = "1"  # test accounts only (see kefu.core.security)
    return env


@dataclass
class Server:
    base_url: str
    data_dir: Path
    log: Path

    def cli(self, *args: str) -> str:
        """Run `python -m kefu ...` against the same data directory; return its stdout."""
        out = subprocess.run(
            [sys.executable, "-m", "kefu", *args, "--data-dir", str(self.data_dir)],
            env=_server_env(),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        if out.returncode != 0:
            raise RuntimeError(f"kefu {' '.join(args)} failed ({out.returncode}): {out.stderr}")
        return out.stdout


@dataclass
class Tenant:
    login_url: str
    email: str
    password: str
    tenant_id: int
    name: str


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not CONSOLE_INDEX.is_file():
        pytest.fail(
            f"the console is not built ({CONSOLE_INDEX} missing): "
            "run `cd web && npm install && npm run build`"
        )
    if not Path(CHROMIUM).exists():
        pytest.skip(f"chromium not found at {CHROMIUM}")
    data_dir = tmp_path_factory.mktemp("kefu-e2e")
    log = data_dir / "server.log"
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kefu",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
            ],
            env=_server_env(),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        try:
            deadline = time.monotonic() + 90
            while True:
                if proc.poll() is not None:
                    output = log.read_text(errors="replace")
                    raise RuntimeError(f"kefu serve exited with {proc.returncode}:\n{output}")
                try:
                    if httpx.get(f"{base_url}/api/v1/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"kefu serve did not become healthy:\n{log.read_text(errors='replace')}"
                    )
                time.sleep(0.3)
            yield Server(base_url=base_url, data_dir=data_dir, log=log)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def create_tenant(server: Server, *, name: str | None = None, seats: int = 5) -> Tenant:
    suffix = uuid.uuid4().hex[:8]
    name = name or f"E2E 测试企业 {suffix}"
    email = f"admin-{suffix}@example.com"
    out = server.cli(
        "tenant", "create", "--name", name, "--admin-email", email, "--seats", str(seats), "--json"
    )
    data = json.loads(out.strip().splitlines()[-1])
    return Tenant(
        login_url=data["login_url"],
        email=data["username"],
        password=data["password"],
        tenant_id=int(data["tenant_id"]),
        name=name,
    )


@pytest.fixture
def tenant(server: Server) -> Tenant:
    """A fresh tenant (5 seats) with its first admin, for each test."""
    return create_tenant(server)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def new_page(browser, server: Server, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Factory of pages, each in its own browser context (its own cookies)."""
    contexts = []

    def make(locale: str = "zh-CN"):  # type: ignore[no-untyped-def]
        ctx = browser.new_context(  # type: ignore[attr-defined]
            base_url=server.base_url,
            locale=locale,
            viewport={"width": 1440, "height": 900},
        )
        ctx.set_default_timeout(15_000)
        contexts.append(ctx)
        return ctx.new_page()

    yield make
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        out = Path(os.environ.get("KEFU_E2E_ARTIFACTS", "/tmp/kefu-e2e-failures"))  # noqa: S108
        out.mkdir(parents=True, exist_ok=True)
        for i, ctx in enumerate(contexts):
            for j, pg in enumerate(ctx.pages):
                # Best effort: a page that already crashed cannot be captured.
                with contextlib.suppress(Exception):
                    pg.screenshot(
                        path=str(out / f"{request.node.name}-{i}-{j}.png"), full_page=True
                    )
        shutil.copy(server.log, out / "server.log")
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def page(new_page):  # type: ignore[no-untyped-def]
    return new_page()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Screenshot runs are on demand: `-m screenshots` or KEFU_SCREENSHOTS=1."""
    wanted = (
        "screenshots" in (config.getoption("markexpr") or "")
        or os.environ.get("KEFU_SCREENSHOTS") == "1"
    )
    if wanted:
        return
    skip = pytest.mark.skip(
        reason="screenshots only on demand (-m screenshots or KEFU_SCREENSHOTS=1)"
    )
    for item in items:
        if item.get_closest_marker("screenshots"):
            item.add_marker(skip)
