"""The visitor-readable page of a knowledge item: /kb/<share_token> (outside the API).

Server-rendered, no script at all: the content is the sanitised HTML stored with the item, and
the page's CSP allows only our own images and inline styles.
"""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from kefu.core.i18n import pick

page_router = APIRouter(include_in_schema=False)

CSP = (
    "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'"
)
STYLE = """
*{box-sizing:border-box}body{margin:0;background:#f5f6f8;color:#1f2329;
font:15px/1.7 -apple-system,BlinkMacSystemFont,"PingFang SC","Microsoft YaHei",sans-serif}
main{max-width:760px;margin:0 auto;background:#fff;min-height:100vh;padding:24px 20px 48px}
h1.kb-title{font-size:22px;line-height:1.4;margin:0 0 6px}
.kb-meta{color:#8a8f99;font-size:12px;margin-bottom:18px;border-bottom:1px solid #eceef1;
padding-bottom:12px}
.kb-content img{max-width:100%;height:auto;border-radius:4px}
.kb-content a{color:#1f6feb}
.kb-content blockquote{margin:0;padding:4px 12px;border-left:3px solid #d0d7de;color:#57606a}
.kb-content pre{background:#f6f8fa;padding:10px;overflow:auto;border-radius:4px}
.kb-missing{color:#8a8f99;text-align:center;padding-top:80px}
"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    doc = (
        f'<!doctype html><html lang="{pick("zh-CN", "en")}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )
    return HTMLResponse(
        doc,
        status_code=status,
        headers={
            "Content-Security-Policy": CSP,
            "Cache-Control": "no-cache",
            "X-Robots-Tag": "noindex",
        },
    )


@page_router.get("/kb/{token}")
async def knowledge_page(
    token: Annotated[str, Path(max_length=64)], request: Request
) -> HTMLResponse:
    from kefu.knowledge.actions import item_by_token

    async with request.app.state.sessionmaker() as db:
        item = await item_by_token(db, token)
    if item is None:
        missing = pick("该知识已不存在", "This article is no longer available")
        return _page(missing, f'<p class="kb-missing">{html.escape(missing)}</p>', 404)
    updated = item.updated_at.strftime("%Y-%m-%d")
    meta = pick(f"更新于 {updated}", f"Updated {updated}")
    body = (
        f'<article><h1 class="kb-title">{html.escape(item.title)}</h1>'
        f'<div class="kb-meta">{html.escape(meta)}</div>'
        # Sanitised on save (kefu.knowledge.content): allow-listed tags, our images only.
        f'<div class="kb-content">{item.content_html}</div></article>'
    )
    return _page(item.title, body)
