"""The permission matrix's rows of the automation routes, walked on their own (the full walk in
test_permission_matrix.py stops at the first broken builder of any domain)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.test_permission_matrix import (  # noqa: F401  (fixtures)
    MATRIX,
    World,
    _live_problems,
    live_routes,
    reset_links,
    world,
)

KEYS = [
    ("GET", "/automations/settings"),
    ("PUT", "/automations/settings"),
    ("GET", "/automations/overdue"),
    ("POST", "/visitor/leave-message"),
]


def test_automation_routes_for_every_caller(
    server: Any,
    raw: httpx.Client,
    world: World,  # noqa: F811  (the matrix's fixture)
) -> None:
    live = live_routes(server, raw)
    problems: list[str] = []
    calls = 0
    for key in KEYS:
        assert key in live and key in MATRIX, key
        found, sent = _live_problems(world, key, MATRIX[key])
        problems += found
        calls += sent
    assert calls >= 4 * 4, calls
    assert not problems, "\n".join(problems)
