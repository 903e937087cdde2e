"""Requests of the Customer center routes for tests/test_permission_matrix.py (World `w`)."""

from __future__ import annotations

import io
import itertools
from typing import Any

from openpyxl import Workbook

from tests import world_history as hs

_seq = itertools.count(1)
SETTINGS_OK = ("admin", "custom_page:admin.settings.customer_settings")


def unique(prefix: str) -> str:
    return f"{prefix}{next(_seq)}"


def _visitor_of(w: Any, conv: int) -> int:
    return int(w.t.admin.ok("GET", f"/history/{conv}")["visitor"]["id"])


def served(w: Any, caller: str) -> tuple[int, int]:
    """(visitor, conversation) the caller's pages show: a monitor one in a live conversation;
    admins and admin-page roles (tenant scope) any customer; workbench roles one they hold;
    agent History / Customers roles one they took part in (transferred to them, then ended)."""
    if caller == "custom_page:admin.current_sessions":  # one in a live conversation
        return int(w.shared.visitor.id), int(w.shared.conversation_id)
    if caller == "admin" or caller.startswith("custom_page:admin."):
        conv = int(w.routing.ended_conversation())
        return _visitor_of(w, conv), conv
    if w.can_hold.get(caller) and w.session_of(caller) is not None:
        held = w.new_held(caller)
        return int(held.visitor.id), int(held.conversation_id)
    if caller in ("custom_page:agent.history", "custom_page:agent.customers"):
        conv = hs._ended_by_caller(w, caller)
        assert conv is not None
        return _visitor_of(w, conv), conv
    conv = int(w.routing.ended_conversation())
    return _visitor_of(w, conv), conv


def callback_customer(w: Any, caller: str) -> int:
    """A customer the caller served and whose conversation has ended (others: any)."""
    return _visitor_of(w, hs.callback_conversation(w, caller))


def import_files() -> dict[str, Any]:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["ID"])
    ws.append([unique("matrix-customer-")])
    buf = io.BytesIO()
    wb.save(buf)
    return {"file": ("customers.xlsx", buf.getvalue(), "application/octet-stream")}


def new_field(w: Any) -> int:
    out = w.t.admin.ok("POST", "/customer-fields", json={"name": unique("f")})
    return int(out["id"])


_shared: dict[int, int] = {}


def field_for(w: Any, caller: str) -> int:
    """A custom field to edit or delete: fresh for callers who may (one shared otherwise, so
    the 30-field cap is never reached)."""
    if caller in SETTINGS_OK:
        return new_field(w)
    key = id(w) * 2
    if key not in _shared:
        _shared[key] = new_field(w)
    return _shared[key]


def group_for(w: Any, caller: str) -> int:
    """An automatic group to edit or delete: fresh for callers who may, one shared otherwise
    (at most 10 groups)."""
    if caller in SETTINGS_OK:
        return new_group(w)
    key = id(w) * 2 + 1
    if key not in _shared:
        _shared[key] = new_group(w)
    return _shared[key]


def new_group(w: Any) -> int:
    body = {"name": unique("g"), "items": [{"kind": "vip"}]}
    return int(w.t.admin.ok("POST", "/customer-groups", json=body)["id"])


def layout(w: Any) -> dict[str, Any]:
    fields = w.t.admin.ok("GET", "/customer-fields")
    return {
        "fields": [{k: f[k] for k in ("key", "agent_visible", "readonly", "shown")} for f in fields]
    }


# --- tests/test_cross_tenant.py: a tenant's own settings objects and reading them back --------
def make_group(t: Any) -> int:
    body = {"name": unique("g"), "items": [{"kind": "vip"}]}
    return int(t.admin.ok("POST", "/customer-groups", json=body)["id"])


def read_group(t: Any, group_id: int) -> Any:
    return next((g for g in t.admin.ok("GET", "/customer-groups") if g["id"] == group_id), None)


def make_field(t: Any) -> int:
    return int(t.admin.ok("POST", "/customer-fields", json={"name": unique("f")})["id"])


def read_field(t: Any, field_id: int) -> Any:
    return next((f for f in t.admin.ok("GET", "/customer-fields") if f["id"] == field_id), None)
