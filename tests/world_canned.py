"""Canned-reply objects for the route walkers (permission matrix, cross-tenant): no tests here.

Personal routes act on the caller's own objects (made with the caller's session when their role
opens a personal set); refused callers are pointed at someone else's, which they never reach.
"""

from __future__ import annotations

import io
import itertools
from typing import Any

import httpx
from openpyxl import Workbook

from tests.helpers import Client, Tenant

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_seq = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_seq)}"


def xlsx(rows: list[tuple[str, str, str]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(("一级分类", "二级分类", "常用语内容"))
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def import_files() -> dict[str, Any]:
    return {"file": ("canned.xlsx", xlsx([("导入", "", unique("imported "))]), XLSX)}


def _ok(c: httpx.Client, method: str, url: str, **kw: Any) -> Any:
    r = c.request(method, url, **kw)
    assert r.status_code in (200, 201), f"{method} {url} -> {r.status_code} {r.text}"
    return r.json()


def public_category(admin: httpx.Client) -> int:
    return int(_ok(admin, "POST", "/canned/public/categories", json={"name": unique("c")})["id"])


def public_reply(admin: httpx.Client, category_id: int) -> int:
    body = {"category_id": category_id, "text": unique("public reply ")}
    return int(_ok(admin, "POST", "/canned/public/replies", json=body)["id"])


def personal_category(agent: httpx.Client) -> int:
    return int(_ok(agent, "POST", "/canned/personal/categories", json={"name": unique("p")})["id"])


def personal_reply(agent: httpx.Client) -> int:
    body = {"text": unique("personal reply ")}
    return int(_ok(agent, "POST", "/canned/personal/replies", json=body)["id"])


def submission(agent: httpx.Client, category_id: int) -> int:
    body = {"reply_id": personal_reply(agent), "category_id": category_id, "reason": "matrix"}
    return int(_ok(agent, "POST", "/canned/submissions", json=body)["id"])


def tenant_objects(t: Tenant, agent: Client) -> dict[str, int]:
    """A tenant's public category and reply, and a pending submission of `agent`'s."""
    cat = public_category(t.admin)
    return {
        "category": cat,
        "reply": public_reply(t.admin, cat),
        "submission": submission(agent, cat),
    }


class CannedWorld:
    """The permission matrix's canned objects in its World's tenant (made on first use)."""

    def __init__(self, w: Any) -> None:
        self.w = w
        self._category: int | None = None
        self._reply: int | None = None
        self._users: dict[str, httpx.Client] = {}

    @property
    def admin(self) -> httpx.Client:
        return self.w.t.admin  # type: ignore[no-any-return]

    def category(self) -> int:
        if self._category is None:
            self._category = public_category(self.admin)
        return self._category

    def reply(self) -> int:
        if self._reply is None:
            self._reply = public_reply(self.admin, self.category())
        return self._reply

    def fresh_category(self) -> int:
        return public_category(self.admin)

    def fresh_reply(self) -> int:
        return public_reply(self.admin, self.category())

    def user(self, caller: str) -> httpx.Client:
        """The caller's own client when their role opens a personal set; else the holder's."""
        if caller not in self._users:
            session = self.w.session_of(caller)
            client = self.w.client(session) if session else None
            if client is None or client.get("/canned/prefs").status_code != 200:
                client = self.w.client(self.w.holder_session)
            self._users[caller] = client
        return self._users[caller]

    def own_category(self, caller: str) -> int:
        return personal_category(self.user(caller))

    def own_reply(self, caller: str) -> int:
        return personal_reply(self.user(caller))

    def pending(self) -> int:
        """A new pending submission of the holder's."""
        return submission(self.w.client(self.w.holder_session), self.category())


def canned_of(w: Any) -> CannedWorld:
    found = getattr(w, "_canned_world", None)
    if found is None:
        found = CannedWorld(w)
        w._canned_world = found
    return found  # type: ignore[no-any-return]


# --- the cross-tenant walker: a tenant's objects, made and read back by its admin ------------


def make_category(t: Tenant) -> int:
    return public_category(t.admin)


def make_reply(t: Tenant) -> int:
    return public_reply(t.admin, public_category(t.admin))


def make_submission(t: Tenant) -> int:
    """The built-in Admin has the agent pages too: a personal reply of theirs, submitted."""
    return submission(t.admin, public_category(t.admin))


def read_category(t: Tenant, i: int) -> Any:
    cats = _ok(t.admin, "GET", "/canned/public")["categories"]
    return next((c for c in cats if c["id"] == i), None)


def read_reply(t: Tenant, i: int) -> Any:
    replies = _ok(t.admin, "GET", "/canned/public")["replies"]
    return next((r for r in replies if r["id"] == i), None)


def read_submission(t: Tenant, i: int) -> Any:
    items = _ok(t.admin, "GET", "/canned/submissions", params={"state": "all", "page_size": 100})
    return next((s for s in items["items"] if s["id"] == i), None)


def own_objects(t: Tenant) -> dict[str, int]:
    """Tenant A's objects the body-id cases act on."""
    cat = public_category(t.admin)
    return {
        "canned_reply_id": public_reply(t.admin, cat),
        "canned_personal_reply_id": personal_reply(t.admin),
        "canned_submission_id": submission(t.admin, cat),
        "canned_category_id": cat,
    }
