"""Seat limits hold under concurrent requests (SQLite IMMEDIATE writers; PostgreSQL row locks)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.helpers import PASSWORD, Api, unique_email


def test_concurrent_adds_never_exceed_seats(api: Api) -> None:
    t = api.provision(seats=5)
    cookies = dict(t.admin.cookies)

    def add(i: int) -> int:
        with httpx.Client(base_url=api.base_url + "/api/v1", cookies=cookies, timeout=60) as c:
            r = c.post("/users", json={"email": unique_email(f"race{i}-"), "password": PASSWORD,
                                       "nickname": f"r{i}", "role_id": t.roles["agent"]})
            return r.status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = list(pool.map(add, range(12)))
    assert codes.count(201) == 4, codes
    assert set(codes) == {201, 409}, codes
    assert t.admin.ok("GET", "/tenant")["seats_used"] == 5
    # Reads run alongside writes without errors.
    with ThreadPoolExecutor(max_workers=8) as pool:
        reads = list(pool.map(lambda _: httpx.get(api.base_url + "/api/v1/users",
                                                  cookies=cookies).status_code, range(16)))
    assert set(reads) == {200}
