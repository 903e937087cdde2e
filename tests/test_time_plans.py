"""Time plans (SPEC §5.1): the working-time rule, the default plan, and the admin API."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from kefu.core import clock
from kefu.core.clock import Clock, FakeClock
from kefu.routing import time_plans
from kefu.routing.models import RoutingRule, SkillGroup, TimePlan
from kefu.routing.time_plans import is_working
from kefu.tenants.models import Tenant
from tests.conftest import LiveServer
from tests.helpers import Api

WORKWEEK = {str(d): [["09:00", "18:00"]] for d in range(1, 6)}


def plan(
    weekly: dict[str, Any] | None = None,
    workdays: list[Any] | None = None,
    holidays: list[str] | None = None,
) -> TimePlan:
    return TimePlan(
        name="t",
        weekly=WORKWEEK if weekly is None else weekly,
        workdays=workdays or [],
        holidays=holidays or [],
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# --- is_working: worked examples ----------------------------------------------------------
# 2026-06-01 is a Monday; 2026-06-07 a Sunday. UTC is used as the zone unless said.


def test_weekday_ranges_start_inclusive_end_exclusive() -> None:
    p = plan()
    assert not is_working(p, "UTC", utc(2026, 6, 1, 8, 59, 59))
    assert is_working(p, "UTC", utc(2026, 6, 1, 9, 0))
    assert is_working(p, "UTC", utc(2026, 6, 1, 17, 59, 59))
    assert not is_working(p, "UTC", utc(2026, 6, 1, 18, 0))
    # Saturday and Sunday have no ranges: rest days.
    assert not is_working(p, "UTC", utc(2026, 6, 6, 12, 0))
    assert not is_working(p, "UTC", utc(2026, 6, 7, 12, 0))


def test_several_ranges_a_day() -> None:
    p = plan({"3": [["09:00", "12:00"], ["13:30", "18:00"], ["20:00", "21:00"]]})
    wed = (2026, 6, 3)
    assert is_working(p, "UTC", utc(*wed, 11, 59))
    assert not is_working(p, "UTC", utc(*wed, 12, 0))
    assert not is_working(p, "UTC", utc(*wed, 13, 29))
    assert is_working(p, "UTC", utc(*wed, 13, 30))
    assert is_working(p, "UTC", utc(*wed, 20, 30))
    assert not is_working(p, "UTC", utc(*wed, 21, 0))
    # Other weekdays are not in the dict at all.
    assert not is_working(p, "UTC", utc(2026, 6, 2, 10, 0))


def test_midnight_24_00_and_adjacent_ranges() -> None:
    p = plan({"5": [["18:00", "24:00"]], "6": [["00:00", "02:00"]], "1": [["00:00", "24:00"]]})
    assert is_working(p, "UTC", utc(2026, 6, 5, 23, 59, 59))  # Friday late
    assert is_working(p, "UTC", utc(2026, 6, 6, 0, 0))  # Saturday 00:00 (Saturday's range)
    assert not is_working(p, "UTC", utc(2026, 6, 6, 2, 0))
    assert is_working(p, "UTC", utc(2026, 6, 1, 0, 0))
    assert is_working(p, "UTC", utc(2026, 6, 1, 23, 59, 59))
    assert not is_working(p, "UTC", utc(2026, 6, 2, 0, 0))  # Tuesday has nothing


def test_holiday_beats_weekly_and_custom_workday() -> None:
    p = plan(
        workdays=[{"date": "2026-10-01", "ranges": [["09:00", "18:00"]]}],
        holidays=["2026-10-01", "2026-10-02"],
    )
    assert not is_working(p, "UTC", utc(2026, 10, 1, 10, 0))  # Thursday, workday + holiday
    assert not is_working(p, "UTC", utc(2026, 10, 2, 10, 0))  # Friday holiday
    assert is_working(p, "UTC", utc(2026, 10, 5, 10, 0))  # the Monday after


def test_custom_workday_replaces_weekly_ranges() -> None:
    p = plan(
        workdays=[
            {"date": "2026-06-07", "ranges": [["10:00", "16:00"]]},  # a Sunday
            {"date": "2026-06-08", "ranges": [["13:00", "15:00"]]},  # a Monday, shorter
        ]
    )
    assert is_working(p, "UTC", utc(2026, 6, 7, 10, 0))
    assert not is_working(p, "UTC", utc(2026, 6, 7, 16, 0))
    assert not is_working(p, "UTC", utc(2026, 6, 14, 10, 0))  # the next Sunday is rest again
    assert not is_working(p, "UTC", utc(2026, 6, 8, 10, 0))  # Monday's 09-18 is replaced
    assert is_working(p, "UTC", utc(2026, 6, 8, 14, 0))


def test_dst_days_in_new_york_use_wall_clock() -> None:
    ny = "America/New_York"
    # 2026-03-08 (Sunday): clocks jump 02:00 EST -> 03:00 EDT.
    p = plan({"7": [["01:00", "03:30"]], "1": [["09:00", "17:00"]]})
    assert is_working(p, ny, utc(2026, 3, 8, 6, 30))  # 01:30 EST
    assert is_working(p, ny, utc(2026, 3, 8, 7, 0))  # 03:00 EDT
    assert not is_working(p, ny, utc(2026, 3, 8, 7, 30))  # 03:30 EDT
    # The Monday after: 09:00 EDT is 13:00 UTC (it was 14:00 UTC the week before).
    assert not is_working(p, ny, utc(2026, 3, 9, 12, 59))
    assert is_working(p, ny, utc(2026, 3, 9, 13, 0))
    assert is_working(p, ny, utc(2026, 3, 2, 14, 0))
    assert not is_working(p, ny, utc(2026, 3, 2, 13, 59))
    # 2026-11-01 (Sunday): 01:00-02:00 happens twice; both are 01:xx on the wall clock.
    p = plan({"7": [["01:00", "02:00"]]})
    assert is_working(p, ny, utc(2026, 11, 1, 5, 30))  # 01:30 EDT
    assert is_working(p, ny, utc(2026, 11, 1, 6, 30))  # 01:30 EST
    assert not is_working(p, ny, utc(2026, 11, 1, 7, 0))  # 02:00 EST


def test_tenant_zone_shanghai_vs_utc_instant() -> None:
    p = plan(holidays=["2026-10-01"])
    # 2026-06-01 01:30 UTC is Monday 09:30 in Shanghai but 01:30 in UTC.
    at = utc(2026, 6, 1, 1, 30)
    assert is_working(p, "Asia/Shanghai", at)
    assert not is_working(p, "UTC", at)
    # 2026-09-30 (Wed) 17:00 UTC is already the Oct 1 holiday in Shanghai.
    assert is_working(p, "UTC", utc(2026, 9, 30, 17, 0))
    assert not is_working(p, "Asia/Shanghai", utc(2026, 9, 30, 17, 0))
    # Friday 2026-06-05 20:00 UTC is Saturday 04:00 in Shanghai: a rest day there.
    assert not is_working(p, "Asia/Shanghai", utc(2026, 6, 5, 20, 0))


# --- plan_of / working_at / default_plan --------------------------------------------------


def on_server(server: LiveServer, coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine on the server's loop (its engine belongs to that loop)."""
    return asyncio.run_coroutine_threadsafe(coro, server.app.state.loop).result(timeout=10)


def test_default_plan_lookups_and_working_at(api: Api, server: LiveServer) -> None:
    t = api.provision()
    other = api.provision()
    t.admin.ok("PATCH", "/tenant", json={"time_zone": "UTC"})
    mine = t.admin.ok("POST", "/time-plans", json={"name": "早班", "weekly": WORKWEEK})
    foreign = other.admin.ok("POST", "/time-plans", json={"name": "x", "weekly": {}})
    gone = t.admin.ok("POST", "/time-plans", json={"name": "gone"})
    t.admin.ok("DELETE", f"/time-plans/{gone['id']}")

    async def check() -> dict[str, Any]:
        async with server.app.state.sessionmaker() as db:
            tenant = await db.get(Tenant, t.id)
            assert tenant is not None
            default = await time_plans.default_plan(db, t.id)
            again = await time_plans.default_plan(db, t.id)
            out = {
                "default": (default.id, default.name, default.is_default, default.weekly),
                "same": again.id == default.id,
                "none": (await time_plans.plan_of(db, t.id, None)).id,
                "gone": (await time_plans.plan_of(db, t.id, gone["id"])).id,
                "foreign": (await time_plans.plan_of(db, t.id, foreign["id"])).id,
                "mine": (await time_plans.plan_of(db, t.id, mine["id"])).id,
                # Monday 2026-06-01 08:00 UTC: outside 09-18 but inside the all-day default.
                "mine_8": await time_plans.working_at(db, tenant, mine["id"], utc(2026, 6, 1, 8)),
                "mine_9": await time_plans.working_at(db, tenant, mine["id"], utc(2026, 6, 1, 9)),
                "default_8": await time_plans.working_at(db, tenant, None, utc(2026, 6, 1, 8)),
            }
            fake = FakeClock(utc(2026, 6, 6, 12))  # Saturday noon
            clock.set_clock(fake)
            try:
                out["clock_sat"] = await time_plans.working_at(db, tenant, mine["id"])
                fake.advance(days=2)  # Monday noon
                out["clock_mon"] = await time_plans.working_at(db, tenant, mine["id"])
            finally:
                clock.set_clock(Clock())
            return out

    out = on_server(server, check())
    default_id, name, is_default, weekly = out["default"]
    assert (name, is_default, out["same"]) == ("系统默认", True, True)
    assert weekly == {str(d): [["00:00", "24:00"]] for d in range(1, 8)}
    assert out["none"] == out["gone"] == out["foreign"] == default_id
    assert out["mine"] == mine["id"]
    assert (out["mine_8"], out["mine_9"], out["default_8"]) == (False, True, True)
    assert (out["clock_sat"], out["clock_mon"]) == (False, True)


# --- API ----------------------------------------------------------------------------------


def test_crud_and_default_first(api: Api) -> None:
    t = api.provision()
    plans = t.admin.ok("GET", "/time-plans")
    assert [(p["name"], p["is_default"]) for p in plans] == [("系统默认", True)]
    default = plans[0]
    assert default["weekly"]["7"] == [["00:00", "24:00"]]

    body = {
        "name": "  客服早班 ",
        "weekly": {"1": [["13:00", "18:00"], ["09:00", "12:00"]], "6": []},
        "workdays": [{"date": "2026-10-10", "ranges": [["09:00", "17:00"]]}],
        "holidays": ["2026-10-02", "2026-10-01", "2026-10-01"],
    }
    created = t.admin.ok("POST", "/time-plans", json=body, status=201)
    assert created["name"] == "客服早班" and created["is_default"] is False
    # Ranges come back sorted, all seven days present, holidays sorted without duplicates.
    assert created["weekly"]["1"] == [["09:00", "12:00"], ["13:00", "18:00"]]
    assert set(created["weekly"]) == {"1", "2", "3", "4", "5", "6", "7"}
    assert created["weekly"]["2"] == [] and created["weekly"]["6"] == []
    assert created["holidays"] == ["2026-10-01", "2026-10-02"]
    assert created["workdays"] == [{"date": "2026-10-10", "ranges": [["09:00", "17:00"]]}]

    pid = created["id"]
    assert t.admin.ok("GET", f"/time-plans/{pid}") == created
    patched = t.admin.ok(
        "PATCH", f"/time-plans/{pid}", json={"name": "晚班", "holidays": ["2027-01-01"]}
    )
    assert patched["name"] == "晚班" and patched["holidays"] == ["2027-01-01"]
    assert patched["weekly"] == created["weekly"] and patched["workdays"] == created["workdays"]
    second = t.admin.ok("POST", "/time-plans", json={"name": "A 班"})
    assert second["weekly"] == {str(d): [] for d in range(1, 8)}
    names = [p["name"] for p in t.admin.ok("GET", "/time-plans")]
    assert names == ["系统默认", "晚班", "A 班"]

    # The default plan's hours can change, and keeping its own name is not a rename.
    d = t.admin.ok(
        "PATCH",
        f"/time-plans/{default['id']}",
        json={"name": "系统默认", "weekly": {"1": [["08:00", "20:00"]]}},
    )
    assert d["weekly"]["1"] == [["08:00", "20:00"]] and d["weekly"]["2"] == []

    t.admin.ok("DELETE", f"/time-plans/{pid}", status=204)
    assert t.admin.get(f"/time-plans/{pid}").status_code == 404
    assert [p["name"] for p in t.admin.ok("GET", "/time-plans")] == ["系统默认", "A 班"]


def test_status_now_and_at(api: Api) -> None:
    t = api.provision()  # Asia/Shanghai
    p = t.admin.ok("POST", "/time-plans", json={"name": "白班", "weekly": WORKWEEK})
    url = f"/time-plans/{p['id']}/status"
    s = t.admin.ok("GET", url, params={"at": "2026-06-01T01:30:00Z"})
    assert s["working"] is True and s["time_zone"] == "Asia/Shanghai"
    assert s["local_time"] == "2026-06-01T09:30"
    assert datetime.fromisoformat(s["at"]) == utc(2026, 6, 1, 1, 30)
    s = t.admin.ok("GET", url, params={"at": "2026-06-01T18:00:00+08:00"})
    assert s["working"] is False
    t.admin.ok("PATCH", "/tenant", json={"time_zone": "UTC"})
    s = t.admin.ok("GET", url, params={"at": "2026-06-01T01:30:00Z"})
    assert s["working"] is False and s["time_zone"] == "UTC"
    # Without `at`: now (any answer, but a real one).
    s = t.admin.ok("GET", url)
    assert isinstance(s["working"], bool)
    assert abs((datetime.fromisoformat(s["at"]) - datetime.now(UTC)).total_seconds()) < 60
    # A time without its offset is ambiguous: refused.
    r = t.admin.get(url, params={"at": "2026-06-01T09:30:00"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "at"
    assert t.admin.get(url, params={"at": "yesterday"}).status_code == 422
    for far in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:00-14:00"):
        assert _fields(t.admin.get(url, params={"at": far})) == {"at": "range"}


def _fields(r: Any) -> dict[str, str]:
    assert r.status_code == 422, r.text
    return {f["field"]: f["rule"] for f in r.json()["error"]["fields"]}


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({"weekly": {"1": [["9:00", "18:00"]]}}, "weekly.1.0.0", "time_format"),
        ({"weekly": {"1": [["09:00", "24:01"]]}}, "weekly.1.0.1", "time_format"),
        ({"weekly": {"1": [["09:60", "10:00"]]}}, "weekly.1.0.0", "time_format"),
        ({"weekly": {"1": [["18:00", "09:00"]]}}, "weekly.1.0", "range_order"),
        ({"weekly": {"1": [["09:00", "09:00"]]}}, "weekly.1.0", "range_order"),
        ({"weekly": {"1": [["09:00", "12:00"], ["11:59", "13:00"]]}}, "weekly.1", "overlap"),
        (
            {"weekly": {"1": [[f"{h:02d}:00", f"{h:02d}:30"] for h in range(11)]}},
            "weekly.1",
            "max_items",
        ),
        ({"weekly": {"8": []}}, "weekly.8.[key]", "weekday"),
        ({"weekly": {"0": []}}, "weekly.0.[key]", "weekday"),
        ({"weekly": {"1": [["09:00"]]}}, "weekly.1.0.1", "required"),
        ({"holidays": ["2026-02-30"]}, "holidays.0", "date"),
        ({"holidays": ["2026/10/01"]}, "holidays.0", "date"),
        ({"holidays": [f"2026-01-{d:02d}" for d in range(1, 32)] * 12}, "holidays", "max_items"),
        (
            {
                "workdays": [
                    {"date": f"2025-{m:02d}-{d:02d}", "ranges": [["09:00", "10:00"]]}
                    for m in range(1, 13)
                    for d in range(1, 29)
                ]
                * 2
            },
            "workdays",
            "max_items",
        ),
        (
            {"workdays": [{"date": "2026-13-01", "ranges": [["09:00", "10:00"]]}]},
            "workdays.0.date",
            "date",
        ),
        ({"workdays": [{"date": "2026-10-10", "ranges": []}]}, "workdays.0.ranges", "min_items"),
        (
            {
                "workdays": [
                    {"date": "2026-10-10", "ranges": [["09:00", "10:00"], ["09:30", "11:00"]]}
                ]
            },
            "workdays.0.ranges",
            "overlap",
        ),
        (
            {"workdays": [{"date": "2026-10-10", "ranges": [["09:00", "10:00"]]}] * 2},
            "workdays",
            "duplicate",
        ),
        (
            {
                "workdays": [{"date": "2026-10-10", "ranges": [["09:00", "10:00"]]}],
                "holidays": ["2026-10-10"],
            },
            "holidays",
            "workday_holiday",
        ),
        ({"name": ""}, "name", "min_length"),
        ({"name": "x" * 51}, "name", "max_length"),
        ({"colour": "red"}, "colour", "unknown"),
    ],
)
def test_validation(api: Api, body: dict[str, Any], field: str, rule: str) -> None:
    t = api.provision()
    r = t.admin.post("/time-plans", json={"name": "v", **body})
    fields = _fields(r)
    assert fields.get(field) == rule, fields
    assert r.json()["error"]["code"] == "validation_error"


def test_validation_messages_and_patch_rules(api: Api) -> None:
    t = api.provision()
    t.admin.ok("PATCH", "/me", json={"language": "en"})
    r = t.admin.post(
        "/time-plans",
        json={"name": "v", "weekly": {"2": [["09:00", "12:00"], ["11:00", "13:00"]]}},
    )
    msg = r.json()["error"]["fields"][0]["message"]
    assert "must not overlap" in msg and "09:00-12:00" in msg
    t.admin.ok("PATCH", "/me", json={"language": "zh-CN"})
    r = t.admin.post("/time-plans", json={"name": "v", "weekly": {"2": [["18:00", "09:00"]]}})
    assert "开始时间必须早于结束时间" in r.json()["error"]["fields"][0]["message"]

    p = t.admin.ok(
        "POST",
        "/time-plans",
        json={"name": "p", "workdays": [{"date": "2026-10-10", "ranges": [["09:00", "10:00"]]}]},
    )
    # A holiday added by itself still may not hit a stored custom workday, and vice versa.
    r = t.admin.patch(f"/time-plans/{p['id']}", json={"holidays": ["2026-10-10"]})
    assert _fields(r) == {"holidays": "workday_holiday"}
    t.admin.ok("PATCH", f"/time-plans/{p['id']}", json={"workdays": [], "holidays": ["2026-10-10"]})
    r = t.admin.patch(
        f"/time-plans/{p['id']}",
        json={"workdays": [{"date": "2026-10-10", "ranges": [["09:00", "10:00"]]}]},
    )
    assert _fields(r) == {"holidays": "workday_holiday"}
    assert _fields(t.admin.patch(f"/time-plans/{p['id']}", json={"name": None})) == {
        "name": "not_null"
    }
    assert _fields(t.admin.patch(f"/time-plans/{p['id']}", json={"weekly": {"9": []}})) == {
        "weekly.9.[key]": "weekday"
    }
    stored = t.admin.ok("GET", f"/time-plans/{p['id']}")
    assert stored["holidays"] == ["2026-10-10"] and stored["workdays"] == []


def test_name_taken_and_default_protected(api: Api) -> None:
    t = api.provision()
    a = t.admin.ok("POST", "/time-plans", json={"name": "A"})
    t.admin.ok("POST", "/time-plans", json={"name": "B"})
    for r in (
        t.admin.post("/time-plans", json={"name": "A"}),
        t.admin.post("/time-plans", json={"name": " A "}),
        t.admin.post("/time-plans", json={"name": "系统默认"}),
        t.admin.patch(f"/time-plans/{a['id']}", json={"name": "B"}),
    ):
        assert r.status_code == 409 and r.json()["error"]["code"] == "time_plan_name_taken"
    # Renaming to its own name is fine.
    t.admin.ok("PATCH", f"/time-plans/{a['id']}", json={"name": "A"})

    default = t.admin.ok("GET", "/time-plans")[0]
    r = t.admin.patch(f"/time-plans/{default['id']}", json={"name": "Default"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "time_plan_default"
    r = t.admin.delete(f"/time-plans/{default['id']}")
    assert r.status_code == 409 and r.json()["error"]["code"] == "time_plan_default"
    assert t.admin.ok("GET", "/time-plans")[0]["name"] == "系统默认"
    # Another tenant may use the same names.
    other = api.provision()
    other.admin.ok("POST", "/time-plans", json={"name": "A"}, status=201)


def test_plan_in_use_cannot_be_deleted(api: Api, server: LiveServer) -> None:
    t = api.provision()
    p = t.admin.ok("POST", "/time-plans", json={"name": "值班"})
    q = t.admin.ok("POST", "/time-plans", json={"name": "空闲"})

    async def bind(group: bool, rule: bool) -> None:
        async with server.app.state.sessionmaker() as db:
            now = clock.now()
            if group:
                db.add(
                    SkillGroup(
                        tenant_id=t.id,
                        name="售后",
                        time_plan_id=p["id"],
                        created_at=now,
                        updated_at=now,
                    )
                )
            if rule:
                db.add(
                    RoutingRule(
                        tenant_id=t.id,
                        kind="channel",
                        name="App 渠道",
                        channel="app",
                        split=True,
                        time_plan_id=p["id"],
                        on_target_type="robot",
                        on_target_id=1,
                        created_at=now,
                        updated_at=now,
                    )
                )
            await db.commit()

    on_server(server, bind(group=True, rule=False))
    r = t.admin.delete(f"/time-plans/{p['id']}")
    assert r.status_code == 409 and r.json()["error"]["code"] == "time_plan_in_use"
    assert "技能组" in r.json()["error"]["message"] and "售后" in r.json()["error"]["message"]
    on_server(server, bind(group=False, rule=True))
    t.admin.ok("PATCH", "/me", json={"language": "en"})
    r = t.admin.delete(f"/time-plans/{p['id']}")
    msg = r.json()["error"]["message"]
    assert 'skill groups: "售后"' in msg and 'routing rules: "App 渠道"' in msg, msg
    assert t.admin.get(f"/time-plans/{p['id']}").status_code == 200
    # A plan nothing points at goes.
    t.admin.ok("DELETE", f"/time-plans/{q['id']}", status=204)


def test_cross_tenant_ids_are_not_found(api: Api) -> None:
    a = api.provision()
    b = api.provision()
    plan_a = a.admin.ok("POST", "/time-plans", json={"name": "A 的计划"})
    default_a = a.admin.ok("GET", "/time-plans")[0]
    for pid in (plan_a["id"], default_a["id"], 2**40):
        for method, url, kw in (
            ("GET", f"/time-plans/{pid}", {}),
            ("PATCH", f"/time-plans/{pid}", {"json": {"name": "偷改"}}),
            ("DELETE", f"/time-plans/{pid}", {}),
            ("GET", f"/time-plans/{pid}/status", {}),
        ):
            r = b.admin.request(method, url, **kw)
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", (method, url)
    assert [p["name"] for p in b.admin.ok("GET", "/time-plans")] == ["系统默认"]
    assert a.admin.ok("GET", f"/time-plans/{plan_a['id']}")["name"] == "A 的计划"


def test_page_guards(api: Api) -> None:
    t = api.provision()
    p = t.admin.ok("POST", "/time-plans", json={"name": "p"})
    _, agent = api.add_user(t)
    assert agent.get("/time-plans").status_code == 403
    assert agent.post("/time-plans", json={"name": "q"}).status_code == 403
    # Pages that pick a plan in a select may read the list, but nothing more.
    for page in ("admin.members.skill_groups", "admin.settings.assignment_rules", "admin.channels"):
        role = t.admin.ok("POST", "/roles", json={"name": page[-20:], "pages": [page]})
        _, user = api.add_user(t, role_id=role["id"])
        assert [x["name"] for x in user.ok("GET", "/time-plans")] == ["系统默认", "p"]
        assert user.get(f"/time-plans/{p['id']}").status_code == 403
        assert user.get(f"/time-plans/{p['id']}/status").status_code == 403
        assert user.post("/time-plans", json={"name": "q"}).status_code == 403
        assert user.patch(f"/time-plans/{p['id']}", json={"name": "q"}).status_code == 403
        assert user.delete(f"/time-plans/{p['id']}").status_code == 403
    role = t.admin.ok(
        "POST", "/roles", json={"name": "排班", "pages": ["admin.settings.time_plans"]}
    )
    _, planner = api.add_user(t, role_id=role["id"])
    q = planner.ok("POST", "/time-plans", json={"name": "q"}, status=201)
    planner.ok("DELETE", f"/time-plans/{q['id']}", status=204)


def test_changes_are_audited(api: Api) -> None:
    t = api.provision()
    p = t.admin.ok("POST", "/time-plans", json={"name": "审计"})
    t.admin.ok(
        "PATCH", f"/time-plans/{p['id']}", json={"name": "审计2", "holidays": ["2026-01-01"]}
    )
    t.admin.ok("DELETE", f"/time-plans/{p['id']}")
    # A refused change writes nothing.
    default = t.admin.ok("GET", "/time-plans")[0]
    t.admin.delete(f"/time-plans/{default['id']}")
    logs = [e for e in t.admin.ok("GET", "/audit-logs")["items"] if e["target_type"] == "time_plan"]
    by_action = {e["action"]: e for e in logs}
    assert sorted(by_action) == ["time_plan.created", "time_plan.deleted", "time_plan.updated"]
    assert len(logs) == 3
    assert all(e["target_id"] == str(p["id"]) for e in logs)
    assert by_action["time_plan.created"]["detail"] == {"name": "审计"}
    assert by_action["time_plan.updated"]["detail"] == {
        "fields": ["holidays", "name"],
        "from": "审计",
        "to": "审计2",
    }
    assert by_action["time_plan.deleted"]["detail"] == {"name": "审计2"}


def test_first_reads_at_once_make_one_default_plan(api: Api) -> None:
    """The default plan is made by whichever read comes first; parallel reads never fail."""
    t = api.provision()
    clients = []
    for _ in range(8):
        c = api.client()
        c.cookies = t.admin.cookies
        clients.append(c)

    def read(c: Any) -> Any:
        return c.get("/time-plans")

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(read, clients))
    assert [r.status_code for r in answers] == [200] * 8, [r.text for r in answers]
    ids = {r.json()[0]["id"] for r in answers}
    assert len(ids) == 1 and all(len(r.json()) == 1 for r in answers)
    assert t.admin.ok("GET", f"/time-plans/{ids.pop()}")["is_default"] is True
