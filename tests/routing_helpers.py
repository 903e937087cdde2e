"""Helpers for routing tests: groups, rules, plans and waiting for the queue to settle."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from kefu.workers.scheduler import run_due_timers
from tests.conftest import LiveServer
from tests.helpers import Client, Tenant

NEVER = {str(d): [] for d in range(1, 8)}  # a plan that is never working


def on_server(server: LiveServer, coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine on the server's loop (its engine belongs to that loop)."""
    return asyncio.run_coroutine_threadsafe(coro, server.app.state.loop).result(timeout=20)


def run_timers(server: LiveServer) -> int:
    app = server.app
    return int(on_server(server, run_due_timers(app.state.sessionmaker, app.state.bus)))


def group(t: Tenant, name: str, members: list[int], **fields: Any) -> dict[str, Any]:
    g = t.admin.ok("POST", "/skill-groups", json={"name": name, **fields})
    if members:
        t.admin.ok("PUT", f"/skill-groups/{g['id']}/members", json={"user_ids": members})
    return g


def plan(t: Tenant, name: str, weekly: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return t.admin.ok("POST", "/time-plans", json={"name": name, "weekly": weekly, **fields})


def channel_rule(t: Tenant, group_id: int, **fields: Any) -> dict[str, Any]:
    body = {
        "kind": "channel",
        "channel": "web",
        "split": False,
        "on_target": {"type": "group", "id": group_id},
        **fields,
    }
    return t.admin.ok("POST", "/routing-rules", json=body)


def switches(t: Tenant, **values: bool) -> None:
    t.admin.ok("PATCH", "/tenant/switches", json=values)


def eventually(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll until `check()` is truthy (dispatch after commit runs in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def ongoing_ids(agent: Client) -> list[int]:
    return [c["id"] for c in agent.ok("GET", "/conversations")]


def system_texts(agent: Client, conv_id: int, code: str) -> list[str]:
    msgs = agent.ok("GET", f"/conversations/{conv_id}/messages")
    return [
        m["body"]["text"] for m in msgs if m["kind"] == "system" and m["body"].get("code") == code
    ]
