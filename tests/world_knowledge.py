"""Knowledge-base objects for the route walkers (permission matrix, cross-tenant): no tests here."""

from __future__ import annotations

import io
import itertools
from typing import Any

import httpx
from openpyxl import Workbook

from tests.route_walk import png_bytes

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_seq = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_seq)}"


def _ok(c: httpx.Client, method: str, url: str, **kw: Any) -> Any:
    r = c.request(method, url, **kw)
    assert r.status_code in (200, 201), f"{method} {url} -> {r.status_code} {r.text}"
    return r.json()


def category(admin: httpx.Client, parent: int | None = None) -> int:
    body = {"name": unique("kc"), "parent_id": parent}
    return int(_ok(admin, "POST", "/knowledge/categories", json=body)["id"])


def item(admin: httpx.Client, category_id: int | None = None) -> int:
    body = {
        "category_id": category_id or category(admin),
        "title": unique("ki"),
        "content_html": "<p>knowledge</p>",
    }
    return int(_ok(admin, "POST", "/knowledge/items", json=body)["id"])


def kb_file(admin: httpx.Client, kind: str = "file") -> dict[str, Any]:
    data = png_bytes() if kind == "image" else b"%PDF-1.4 kb"
    return dict(
        _ok(
            admin, "POST", "/knowledge/files", files={"file": ("kb.bin", data)}, data={"kind": kind}
        )
    )


def asset_path(admin: httpx.Client) -> str:
    """The public path (under /api/v1) of a content image of the tenant."""
    return str(kb_file(admin, "image")["url"]).removeprefix("/api/v1")


def upload_files() -> dict[str, Any]:
    return {"file": ("kb.pdf", b"%PDF-1.4 kb", "application/pdf")}


def import_files() -> dict[str, Any]:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["category", "title", "content"])
    ws.append([unique("导入"), unique("t"), "imported"])
    out = io.BytesIO()
    wb.save(out)
    return {"file": ("kb.xlsx", out.getvalue(), XLSX)}


def read_item(admin: httpx.Client, item_id: int) -> Any:
    r = admin.get(f"/knowledge/items/{item_id}")
    return (r.status_code, r.json())


def read_category(admin: httpx.Client, category_id: int) -> Any:
    return next(
        (c for c in _ok(admin, "GET", "/knowledge/categories") if c["id"] == category_id), None
    )


def snapshot(admin: httpx.Client) -> dict[str, Any]:
    return {
        "categories": _ok(admin, "GET", "/knowledge/categories"),
        "items": _ok(admin, "GET", "/knowledge/items", params={"page_size": 100}),
        "settings": _ok(admin, "GET", "/knowledge/settings"),
    }


class KnowledgeWorld:
    """A tenant's knowledge objects for the permission matrix: made once, fresh ones to delete."""

    def __init__(self, admin: httpx.Client) -> None:
        self.admin = admin
        self._category: int | None = None
        self._item: int | None = None
        self._asset: str | None = None

    def category(self) -> int:
        if self._category is None:
            self._category = category(self.admin)
        return self._category

    def item(self) -> int:
        if self._item is None:
            self._item = item(self.admin, self.category())
        return self._item

    def fresh_category(self) -> int:
        return category(self.admin)

    def fresh_item(self) -> int:
        return item(self.admin, self.category())

    def asset(self) -> str:
        if self._asset is None:
            self._asset = asset_path(self.admin)
        return self._asset

    def order_body(self) -> dict[str, Any]:
        """Every root category, in reverse order."""
        roots = sorted(
            (c for c in _ok(self.admin, "GET", "/knowledge/categories") if c["parent_id"] is None),
            key=lambda c: c["position"],
        )
        return {"parent_id": None, "ids": [c["id"] for c in roots][::-1]}

    def settings_body(self) -> dict[str, Any]:
        """The app channel's mode flipped (card <-> text): a refused request would show."""
        mode = _ok(self.admin, "GET", "/knowledge/settings")["send_modes"]["app"]
        return {"send_modes": {"app": "text" if mode == "card" else "card"}}


_WORLDS: dict[int, KnowledgeWorld] = {}


def kb_of(w: Any) -> KnowledgeWorld:
    key = id(w)
    if key not in _WORLDS:
        _WORLDS[key] = KnowledgeWorld(w.t.admin)
    return _WORLDS[key]


# --- cross-tenant factories and readers (a Tenant's admin client) --------------------------------


def make_category(t: Any) -> int:
    return category(t.admin)


def make_item(t: Any) -> int:
    return item(t.admin)


def make_file(t: Any) -> int:
    return int(kb_file(t.admin)["id"])


def read_category_of(t: Any, category_id: int) -> Any:
    return read_category(t.admin, category_id)


def read_item_of(t: Any, item_id: int) -> Any:
    return read_item(t.admin, item_id)


def own_objects(t: Any) -> dict[str, int]:
    cat = category(t.admin)
    return {"category": cat, "item": item(t.admin, cat)}
