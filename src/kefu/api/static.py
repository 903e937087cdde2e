"""Serving the built web apps: assets as files, every other non-API path gets the SPA shell."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
CONSOLE_DIR = STATIC_DIR / "console"

_NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>Kefu</title>
<p>Kefu 控制台尚未构建 / The Kefu console has not been built.</p>
<p><code>cd web &amp;&amp; npm install &amp;&amp; npm run build</code></p>"""


def mount_web_apps(app: FastAPI) -> None:
    assets = CONSOLE_DIR / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    app.mount("/assets", StaticFiles(directory=assets), name="assets")

    @app.get("/{path:path}", include_in_schema=False)
    async def spa(path: str, request: Request) -> Response:
        if path.startswith("api/"):
            return Response(status_code=404)
        candidate = (CONSOLE_DIR / path).resolve()
        if path and candidate.is_file() and CONSOLE_DIR.resolve() in candidate.parents:
            return FileResponse(candidate)
        index = CONSOLE_DIR / "index.html"
        if index.is_file():
            # The shell must never be cached, or a new release would keep old asset names.
            return FileResponse(index, headers={"Cache-Control": "no-cache"})
        return HTMLResponse(_NOT_BUILT)
