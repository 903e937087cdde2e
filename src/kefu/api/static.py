"""Serving the built web apps: assets as files, every other non-API path gets the SPA shell."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
CONSOLE_DIR = STATIC_DIR / "console"
WIDGET_DIR = STATIC_DIR / "widget"

# Our pages run only our own scripts; user content can never bring a script along.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob: https: http:; media-src 'self' blob:; "
    "connect-src 'self' ws: wss:; font-src 'self' data:; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'self'"
)
PAGE_HEADERS = {"Cache-Control": "no-cache", "Content-Security-Policy": CSP}

_NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>Kefu</title>
<p>Kefu 控制台尚未构建 / The Kefu console has not been built.</p>
<p><code>cd web &amp;&amp; npm install &amp;&amp; npm run build</code></p>"""


def mount_web_apps(app: FastAPI) -> None:
    assets = CONSOLE_DIR / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    app.mount("/assets", StaticFiles(directory=assets), name="assets")
    WIDGET_DIR.mkdir(parents=True, exist_ok=True)
    app.mount("/widget", StaticFiles(directory=WIDGET_DIR), name="widget")

    @app.get("/widget.js", include_in_schema=False)
    async def widget_js() -> Response:
        path = WIDGET_DIR / "widget.js"
        if not path.is_file():
            return Response(
                "/* Kefu widget not built: cd web && npm run build */",
                media_type="text/javascript",
                status_code=404,
            )
        # Short cache: companies embed this URL once and expect fixes to arrive.
        return FileResponse(
            path, media_type="text/javascript", headers={"Cache-Control": "public, max-age=300"}
        )

    @app.get("/h5", include_in_schema=False)
    async def h5_page() -> Response:
        return _page(WIDGET_DIR / "h5.html")

    @app.get("/demo", include_in_schema=False)
    async def demo_page() -> Response:
        return _page(WIDGET_DIR / "demo.html")

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
            return FileResponse(index, headers=PAGE_HEADERS)
        return HTMLResponse(_NOT_BUILT)


def _page(path: Path) -> Response:
    if not path.is_file():
        return HTMLResponse(_NOT_BUILT, status_code=404)
    return FileResponse(path, media_type="text/html", headers=PAGE_HEADERS)
