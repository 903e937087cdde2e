"""History retention (§3.10): the setting, who may change it, and the daily purge timer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from kefu.core.clock import Clock, FakeClock, set_clock
from kefu.history.retention import add_months
from tests.conftest import LiveServer
from tests.helpers import Api
from tests.routing_helpers import run_timers
from tests.world_history import Desk, error


@pytest.fixture
def fake_clock() -> Iterator[FakeClock]:
    clock = FakeClock()
    set_clock(clock)
    yield clock
    set_clock(Clock())


def test_add_months_clamps_the_day() -> None:
    at = datetime(2026, 8, 31, 12, tzinfo=UTC)
    assert add_months(at, -6) == datetime(2026, 2, 28, 12, tzinfo=UTC)
    assert add_months(at, 6) == datetime(2027, 2, 28, 12, tzinfo=UTC)
    assert add_months(at, -12) == datetime(2025, 8, 31, 12, tzinfo=UTC)


def test_retention_setting_and_purge(api: Api, server: LiveServer, fake_clock: FakeClock) -> None:
    start = fake_clock.now()
    keep6, keep12 = Desk(api, server.base_url), Desk(api, server.base_url)
    _u, agent = api.add_user(keep6.t)
    _u2, agent12 = api.add_user(keep12.t)

    # Settings: everyone with History reads them; only whole-tenant History admins change them.
    s = keep6.t.admin.ok("GET", "/history/settings")
    assert s == {"retention_months": 6, "choices": [6, 12, 24, 36], "editable": True}
    assert agent.ok("GET", "/history/settings")["editable"] is False
    r = agent.put("/history/settings", json={"retention_months": 12})
    assert r.status_code == 403
    role = keep6.t.admin.ok(
        "POST",
        "/roles",
        json={"name": "Team lead", "pages": ["admin.history"], "data_scopes": {"history": "team"}},
    )
    _l, lead = api.add_user(keep6.t, role_id=role["id"])
    r = lead.put("/history/settings", json={"retention_months": 12})
    assert r.status_code == 403 and error(r) == "forbidden"
    r = keep6.t.admin.put("/history/settings", json={"retention_months": 7})
    assert r.status_code == 422
    out = keep12.t.admin.ok("PUT", "/history/settings", json={"retention_months": 12})
    assert out["retention_months"] == 12
    audit = keep12.t.admin.ok("GET", "/audit-logs", params={"page_size": 5})
    assert any(e["action"] == "history_settings.updated" for e in audit["items"]), audit

    # Seven months ago each tenant had a conversation; one more ends now.
    fake_clock.set(add_months(start, -7))
    _v, old6 = keep6.ended(agent)
    _v, old12 = keep12.ended(agent12)
    fake_clock.set(start)
    _v, new6 = keep6.ended(agent)

    # The daily sweep runs at 03:00 tenant time (the server's scheduler may already have run a
    # sweep that fell due while the clock was back): a day later both tenants were swept.
    fake_clock.advance(hours=25)
    run_timers(server)
    fake_clock.set(start)
    page6 = keep6.t.admin.ok("GET", "/history")
    assert [i["id"] for i in page6["items"]] == [new6]
    for url in (f"/history/{old6}", f"/history/{old6}/messages"):
        assert keep6.t.admin.get(url).status_code == 404
    # Twelve months' retention keeps the older one.
    assert [i["id"] for i in keep12.t.admin.ok("GET", "/history")["items"]] == [old12]
