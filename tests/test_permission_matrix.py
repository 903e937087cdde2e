"""Every route x every kind of caller: who may use what, written down once and checked live.

MATRIX is the source of truth. The test fails when the server has a route the matrix does not
list (add it), when the matrix lists a route that is gone (remove it), when a route's guard asks
for another page than the matrix says, and when a caller gets through where they should not (or
is refused where they should not be).

Callers: "anon" (no session), "agent" and "admin" (built-in roles), "custom_none" (a custom role
with no pages), "custom_page:<page>" (a custom role granted exactly the page a route requires) and
"custom_others:<page>" (a custom role granted every page except that one). Each user is created
with their role before signing in: per SPEC §1.2 a role change only takes effect, for added
rights, at the next sign-in.
"""

from __future__ import annotations

import itertools
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pyotp
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

from kefu.roles.catalogue import AGENT_PAGES, PAGE_KEYS, PAGES
from tests.helpers import PASSWORD, PLATFORM_KEY, Api, Tenant, unique_email
from tests.route_walk import (
    API_PREFIX,
    app_routes,
    describe,
    error_code,
    openapi,
    operations,
    png_bytes,
    required_pages,
    requires_principal,
)


@dataclass(frozen=True)
class Access:
    kind: str  # "public" | "signed_in" | "page" | "platform"
    page: str | None = None
    # The page is needed and not enough: only the built-in Admin role (SPEC §2.1 forced status).
    builtin_admin_only: bool = False

    def __str__(self) -> str:
        return f"page {self.page}" if self.page else self.kind


PUBLIC = Access("public")  # anyone, no session needed
SIGNED_IN = Access("signed_in")  # any signed-in user, whatever their role
PLATFORM = Access("platform")  # the marketplace: the platform key, not a session


def page(key: str) -> Access:
    assert key in PAGE_KEYS, key
    return Access("page", key)


AGENTS = page("admin.members.agents")
PERMISSIONS = page("admin.settings.permissions")
TEAMS = page("admin.members.teams")
ENTERPRISE = page("admin.settings.enterprise")
SWITCHES = page("admin.settings.switches")
AUDIT = page("admin.settings.audit")
# SPEC §2.1: admins force an agent's status; custom roles cannot, even with the Agents page.
FORCE_STATUS = Access("page", "admin.members.agents", builtin_admin_only=True)

# (method, path under /api/v1) -> who may call it. "WS" is the WebSocket endpoint.
MATRIX: dict[tuple[str, str], Access] = {
    ("GET", "/health"): PUBLIC,
    ("POST", "/auth/login"): PUBLIC,
    ("POST", "/auth/login/mfa"): PUBLIC,
    ("POST", "/auth/logout"): SIGNED_IN,
    ("POST", "/auth/password/forgot"): PUBLIC,
    ("POST", "/auth/password/reset"): PUBLIC,
    ("GET", "/me"): SIGNED_IN,
    ("PATCH", "/me"): SIGNED_IN,
    ("POST", "/me/password"): SIGNED_IN,
    ("POST", "/me/avatar"): SIGNED_IN,
    ("POST", "/me/mfa/setup"): SIGNED_IN,
    ("POST", "/me/mfa/enable"): SIGNED_IN,
    ("POST", "/me/mfa/disable"): SIGNED_IN,
    ("GET", "/users/{user_id}/avatar"): SIGNED_IN,
    ("GET", "/users"): AGENTS,
    ("POST", "/users"): AGENTS,
    ("GET", "/users/{user_id}"): AGENTS,
    ("PATCH", "/users/{user_id}"): AGENTS,
    ("DELETE", "/users/{user_id}"): AGENTS,
    ("POST", "/users/{user_id}/password-reset"): AGENTS,
    ("GET", "/permissions/catalogue"): SIGNED_IN,
    ("GET", "/roles"): PERMISSIONS,
    ("POST", "/roles"): PERMISSIONS,
    ("GET", "/roles/{role_id}"): PERMISSIONS,
    ("PATCH", "/roles/{role_id}"): PERMISSIONS,
    ("DELETE", "/roles/{role_id}"): PERMISSIONS,
    ("GET", "/teams"): TEAMS,
    ("GET", "/teams/people"): TEAMS,
    ("POST", "/teams"): TEAMS,
    ("PATCH", "/teams/{team_id}"): TEAMS,
    ("DELETE", "/teams/{team_id}"): TEAMS,
    ("PUT", "/teams/{team_id}/members"): TEAMS,
    ("GET", "/tenant"): SIGNED_IN,
    ("PATCH", "/tenant"): ENTERPRISE,
    ("POST", "/tenant/logo"): ENTERPRISE,
    ("GET", "/tenant/logo"): PUBLIC,  # the visitor widget shows it
    ("GET", "/tenant/switches"): SIGNED_IN,
    ("PATCH", "/tenant/switches"): SWITCHES,
    ("GET", "/audit-logs"): AUDIT,
    ("GET", "/presence"): SIGNED_IN,
    ("PUT", "/me/status"): SIGNED_IN,
    ("PUT", "/users/{user_id}/status"): FORCE_STATUS,
    ("POST", "/platform/tenants"): PLATFORM,
    ("GET", "/platform/tenants/{tenant_id}"): PLATFORM,
    ("PATCH", "/platform/tenants/{tenant_id}"): PLATFORM,
    ("WS", "/ws"): SIGNED_IN,
}

BASE_CALLERS = ("anon", "agent", "admin", "custom_none")
MATRIX_PAGES = sorted({a.page for a in MATRIX.values() if a.page})
SEATS = 500
KEY = {"X-Kefu-Platform-Key": PLATFORM_KEY}


def callers_for(access: Access) -> list[str]:
    if access.page:
        return [*BASE_CALLERS, f"custom_page:{access.page}", f"custom_others:{access.page}"]
    return list(BASE_CALLERS)


def allowed(access: Access, caller: str) -> bool:
    if access.kind == "public":
        return True
    if caller == "anon":
        return False
    if access.kind == "signed_in":
        return True
    assert access.page is not None
    if caller == "admin":
        return True
    if access.builtin_admin_only:
        return False
    if caller == "agent":
        return access.page in AGENT_PAGES
    return caller == f"custom_page:{access.page}"


# --- the tenant the checks run in -------------------------------------------------------------

_seq = itertools.count(1)


def _unique(prefix: str) -> str:
    return f"{prefix}{next(_seq)}"


class ResetLinks(logging.Handler):
    """Without SMTP, POST /users/{id}/password-reset writes the link to the log: collect it."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        m = re.search(r"reset-password\?token=([A-Za-z0-9_\-]+)", record.getMessage())
        if m:
            self.tokens.append(m.group(1))


OWN = "<the caller's own session>"


@dataclass
class Req:
    method: str
    url: str
    session: str | None = OWN  # OWN: the caller's own session; None: no session
    json: Any = None
    files: Any = None
    params: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class World:
    """One tenant with a user per caller kind, and the objects the routes act on."""

    def __init__(self, api: Api, reset_links: ResetLinks) -> None:
        self.api = api
        self.links = reset_links
        self.t: Tenant = api.provision("Matrix Co", seats=SEATS)
        self.base = api.base_url
        # One transport for the many short-lived clients (a new httpx.Client builds an SSL context).
        self.transport = httpx.HTTPTransport()
        self.role_ids: dict[str, int | None] = {"anon": None, "agent": self.t.roles["agent"],
                                                "admin": self.t.roles["admin"]}
        self.role_ids["custom_none"] = self.new_role([])
        for p in MATRIX_PAGES:
            self.role_ids[f"custom_page:{p}"] = self.new_role([p])
            others = sorted(k.key for k in PAGES if k.key != p and k.parent != p)
            self.role_ids[f"custom_others:{p}"] = self.new_role(others)
        self.mfa_role = self.new_role([], require_mfa=True)
        self.sessions: dict[str, str | None] = {}
        self.sockets: list[Any] = []
        self._online: tuple[int, str] | None = None
        self.root_team = next(n["id"] for n in self.t.admin.ok("GET", "/teams") if n["is_root"])
        self.target_user = self.new_user(self.t.roles["agent"])
        self.target_role = self.new_role(["agent.sessions"])
        self.target_team = self.new_team()

    # objects -----------------------------------------------------------------------------------
    def new_role(self, pages: list[str], require_mfa: bool = False) -> int:
        role = self.t.admin.ok("POST", "/roles", json={"name": _unique("r"), "pages": pages,
                                                       "require_mfa": require_mfa})
        assert set(role["pages"]) == set(pages), role
        return int(role["id"])

    def new_user(self, role_id: int, email: str | None = None) -> int:
        email = email or unique_email("pm")
        user = self.t.admin.ok("POST", "/users", json={
            "email": email, "password": PASSWORD, "nickname": email[:20], "role_id": role_id})
        return int(user["id"])

    def new_team(self) -> int:
        name = _unique("team")
        tree = self.t.admin.ok("POST", "/teams", json={"name": name, "parent_id": self.root_team})
        return next(n["id"] for n in tree[0]["children"] if n["name"] == name)

    def login(self, email: str, password: str = PASSWORD) -> str:
        with self.client(None) as c:
            r = c.post("/auth/login", json={"email": email, "password": password})
            assert r.status_code == 200 and r.json()["status"] == "ok", r.text
            cookie = r.cookies.get("kefu_session")
            assert cookie, r.headers
            return cookie

    def online_user(self) -> int:
        """An agent with a freshly opened socket (so online): forcing a status needs one."""
        if self._online is None:
            email = unique_email("online")
            self._online = (self.new_user(self.t.roles["agent"], email), self.login(email))
        uid, session = self._online
        ws = ws_connect(_ws_url(self.base), open_timeout=10, proxy=None,
                        additional_headers={"Cookie": f"kefu_session={session}"}).__enter__()
        self.sockets.append(ws)
        assert '"hello"' in str(ws.recv(timeout=10))  # sent once the socket counts as online
        return uid

    def close(self) -> None:
        for ws in self.sockets:
            ws.close()
        self.transport.close()

    def throwaway(self, caller: str) -> str | None:
        """A new user with the caller's role, signed in: for routes that end or alter a session."""
        rid = self.role_ids[caller]
        if rid is None:
            return None
        email = unique_email("pm")
        self.new_user(rid, email)
        return self.login(email)

    def session_of(self, caller: str) -> str | None:
        """The caller's own long-lived session; the user is created with their role, then signs
        in (SPEC §1.2: rights added by a later role change would wait for the next sign-in)."""
        if caller not in self.sessions:
            self.sessions[caller] = self.throwaway(caller)
        return self.sessions[caller]

    def pending_mfa(self) -> dict[str, str]:
        """A first sign-in step of a user whose role requires 2FA, and a valid code."""
        email = unique_email("mfa")
        self.new_user(self.mfa_role, email)
        with self.client(None) as c:
            body = c.post("/auth/login", json={"email": email, "password": PASSWORD}).json()
        assert body["status"] == "mfa_setup_required", body
        return {"mfa_token": body["mfa_token"], "code": pyotp.TOTP(body["secret"]).now()}

    def reset_token(self) -> str:
        uid = self.new_user(self.t.roles["agent"])
        before = len(self.links.tokens)
        self.t.admin.ok("POST", f"/users/{uid}/password-reset")
        assert len(self.links.tokens) == before + 1, "no reset link in the log"
        return self.links.tokens[-1]

    def client(self, session: str | None, headers: dict[str, str] | None = None) -> httpx.Client:
        cookies = {"kefu_session": session} if session else None
        return _Client(base_url=self.base + API_PREFIX, cookies=cookies, headers=headers or {},
                       timeout=30, transport=self.transport)

    def mfa_ready(self, session: str | None, enable: bool) -> tuple[str | None, str]:
        """For /me/mfa/*: set up (and maybe enable) 2FA on the throwaway user; the next code."""
        if session is None:
            return None, "123456"
        with self.client(session) as c:
            r = c.post("/me/mfa/setup")
            assert r.status_code == 200, r.text
            totp = pyotp.TOTP(r.json()["secret"])
            if not enable:
                return session, totp.now()
            r = c.post("/me/mfa/enable", json={"code": totp.now()})
            assert r.status_code == 200, r.text
        # The step just used is spent; the next one is within the accepted drift.
        return session, totp.at(time.time() + 30)

    def snapshot(self) -> dict[str, Any]:
        """The tenant as its admin sees it: a refused request must leave it exactly so."""
        admin = self.t.admin
        users, page_no = [], 1
        while True:
            chunk = admin.ok("GET", "/users", params={"page": page_no, "page_size": 100})
            users += chunk["items"]
            if len(users) >= chunk["total"]:
                break
            page_no += 1
        return {"users": users, "roles": admin.ok("GET", "/roles"),
                "teams": admin.ok("GET", "/teams"), "tenant": admin.ok("GET", "/tenant"),
                "switches": admin.ok("GET", "/tenant/switches"),
                "audit": admin.ok("GET", "/audit-logs", params={"page_size": 1})["total"]}


class _Client(httpx.Client):
    """A client that leaves the shared transport open when it is closed."""

    def close(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        pass


# --- a valid-looking request per route --------------------------------------------------------

Builder = Callable[[World, str], Req]


def _png() -> dict[str, Any]:
    return {"file": ("pic.png", png_bytes(), "image/png")}


def _mfa_enable(w: World, caller: str) -> Req:
    session, code = w.mfa_ready(w.throwaway(caller), enable=False)
    return Req("POST", "/me/mfa/enable", session=session, json={"code": code})


def _mfa_disable(w: World, caller: str) -> Req:
    session, code = w.mfa_ready(w.throwaway(caller), enable=True)
    return Req("POST", "/me/mfa/disable", session=session, json={"code": code})


REQUESTS: dict[tuple[str, str], Builder] = {
    ("GET", "/health"): lambda w, c: Req("GET", "/health"),
    ("POST", "/auth/login"): lambda w, c: Req(
        "POST", "/auth/login", json={"email": w.t.admin_email, "password": w.t.admin_password}),
    ("POST", "/auth/login/mfa"): lambda w, c: Req("POST", "/auth/login/mfa", json=w.pending_mfa()),
    # Ending or changing a session: done by a fresh user of the same role, not the caller's own.
    ("POST", "/auth/logout"): lambda w, c: Req("POST", "/auth/logout", session=w.throwaway(c)),
    ("POST", "/auth/password/forgot"): lambda w, c: Req(
        "POST", "/auth/password/forgot", json={"email": w.t.admin_email}),
    ("POST", "/auth/password/reset"): lambda w, c: Req(
        "POST", "/auth/password/reset", json={"token": w.reset_token(),
                                              "new_password": "Reset-passw0rd"}),
    ("GET", "/me"): lambda w, c: Req("GET", "/me"),
    ("PATCH", "/me"): lambda w, c: Req("PATCH", "/me", json={"greeting_text": "hello"}),
    ("POST", "/me/password"): lambda w, c: Req(
        "POST", "/me/password", session=w.throwaway(c),
        json={"old_password": PASSWORD, "new_password": "Changed-passw0rd"}),
    ("POST", "/me/avatar"): lambda w, c: Req("POST", "/me/avatar", files=_png()),
    ("POST", "/me/mfa/setup"): lambda w, c: Req("POST", "/me/mfa/setup", session=w.throwaway(c)),
    ("POST", "/me/mfa/enable"): _mfa_enable,
    ("POST", "/me/mfa/disable"): _mfa_disable,
    ("GET", "/users/{user_id}/avatar"): lambda w, c: Req("GET", f"/users/{w.target_user}/avatar"),
    ("GET", "/users"): lambda w, c: Req("GET", "/users"),
    ("POST", "/users"): lambda w, c: Req("POST", "/users", json={
        "email": unique_email("new"), "password": PASSWORD, "nickname": _unique("new"),
        "role_id": w.t.roles["agent"]}),
    ("GET", "/users/{user_id}"): lambda w, c: Req("GET", f"/users/{w.target_user}"),
    ("PATCH", "/users/{user_id}"): lambda w, c: Req(
        "PATCH", f"/users/{w.target_user}", json={"nickname": _unique("nick")}),
    # Destructive routes act on throwaway objects.
    ("DELETE", "/users/{user_id}"): lambda w, c: Req(
        "DELETE", f"/users/{w.new_user(w.t.roles['agent'])}"),
    ("POST", "/users/{user_id}/password-reset"): lambda w, c: Req(
        "POST", f"/users/{w.target_user}/password-reset"),
    ("GET", "/permissions/catalogue"): lambda w, c: Req("GET", "/permissions/catalogue"),
    ("GET", "/roles"): lambda w, c: Req("GET", "/roles"),
    ("POST", "/roles"): lambda w, c: Req("POST", "/roles", json={"name": _unique("role")}),
    ("GET", "/roles/{role_id}"): lambda w, c: Req("GET", f"/roles/{w.target_role}"),
    ("PATCH", "/roles/{role_id}"): lambda w, c: Req(
        "PATCH", f"/roles/{w.target_role}", json={"name": _unique("role")}),
    ("DELETE", "/roles/{role_id}"): lambda w, c: Req("DELETE", f"/roles/{w.new_role([])}"),
    ("GET", "/teams"): lambda w, c: Req("GET", "/teams"),
    ("GET", "/teams/people"): lambda w, c: Req("GET", "/teams/people"),
    ("POST", "/teams"): lambda w, c: Req(
        "POST", "/teams", json={"name": _unique("team"), "parent_id": w.root_team}),
    ("PATCH", "/teams/{team_id}"): lambda w, c: Req(
        "PATCH", f"/teams/{w.target_team}", json={"name": _unique("team")}),
    ("DELETE", "/teams/{team_id}"): lambda w, c: Req("DELETE", f"/teams/{w.new_team()}"),
    ("PUT", "/teams/{team_id}/members"): lambda w, c: Req(
        "PUT", f"/teams/{w.target_team}/members", json={"user_ids": [w.target_user]}),
    ("GET", "/tenant"): lambda w, c: Req("GET", "/tenant"),
    ("PATCH", "/tenant"): lambda w, c: Req("PATCH", "/tenant", json={"remark": _unique("remark")}),
    ("POST", "/tenant/logo"): lambda w, c: Req("POST", "/tenant/logo", files=_png()),
    ("GET", "/tenant/logo"): lambda w, c: Req("GET", "/tenant/logo", params={"tenant_id": w.t.id}),
    ("GET", "/tenant/switches"): lambda w, c: Req("GET", "/tenant/switches"),
    ("PATCH", "/tenant/switches"): lambda w, c: Req(
        "PATCH", "/tenant/switches", json={"agent_custom_max_concurrent": False}),
    ("GET", "/audit-logs"): lambda w, c: Req("GET", "/audit-logs"),
    ("GET", "/presence"): lambda w, c: Req("GET", "/presence"),
    ("PUT", "/me/status"): lambda w, c: Req("PUT", "/me/status", json={"status": "busy"}),
    # Forcing needs the target online: it opens a socket for the request.
    ("PUT", "/users/{user_id}/status"): lambda w, c: Req(
        "PUT", f"/users/{w.online_user()}/status", json={"status": "away"}),
    ("POST", "/platform/tenants"): lambda w, c: Req("POST", "/platform/tenants", json={
        "name": "Platform probe", "admin_email": unique_email("plat"), "seats": 1}),
    ("GET", "/platform/tenants/{tenant_id}"): lambda w, c: Req(
        "GET", f"/platform/tenants/{w.t.id}"),
    ("PATCH", "/platform/tenants/{tenant_id}"): lambda w, c: Req(
        "PATCH", f"/platform/tenants/{w.t.id}", json={"seats": SEATS}),
}


def live_routes(server: Any, raw: httpx.Client) -> set[tuple[str, str]]:
    http = {op.key for op in operations(openapi(raw))}
    ws = {r.key for r in app_routes(server.app) if r.kind == "websocket"}
    return http | ws


# --- tests ------------------------------------------------------------------------------------


def test_matrix_lists_exactly_the_live_routes(server: Any, raw: httpx.Client) -> None:
    live = live_routes(server, raw)
    missing = sorted(live - MATRIX.keys())
    stale = sorted(MATRIX.keys() - live)
    assert not missing, f"routes not in the permission matrix -- add them to MATRIX: {missing}"
    assert not stale, f"MATRIX lists routes that no longer exist -- remove them: {stale}"
    # A route hidden from the OpenAPI document would escape every walker: there must be none.
    hidden = sorted(r.key for r in app_routes(server.app)
                    if r.kind == "http" and (not r.include_in_schema or r.key not in live))
    assert not hidden, f"API routes missing from the OpenAPI document: {hidden}"
    http = {k for k in MATRIX if k[0] != "WS"}
    assert set(REQUESTS) == http, (
        f"REQUESTS must give a request for every HTTP route of the matrix: "
        f"missing {sorted(http - set(REQUESTS))}, extra {sorted(set(REQUESTS) - http)}")


def test_route_guards_match_the_matrix(server: Any) -> None:
    problems = []
    for r in app_routes(server.app):
        access = MATRIX.get(r.key)
        if access is None:
            continue  # reported by test_matrix_lists_exactly_the_live_routes
        pages = required_pages(r.dependant)
        want = {access.page} if access.page else set()
        if pages != want:
            problems.append(f"{r.method} {r.path}: the route requires pages {sorted(pages)}, "
                            f"the matrix says {access}")
        if r.kind == "websocket":
            continue  # resolves the caller by hand (cookie or ?token=); checked live below
        signed = requires_principal(r.dependant)
        if access.kind in ("signed_in", "page") and not signed:
            problems.append(f"{r.method} {r.path}: the matrix says {access}, "
                            f"but the route does not resolve the signed-in caller")
        if access.kind in ("public", "platform") and signed:
            problems.append(f"{r.method} {r.path}: the matrix says {access}, "
                            f"but the route requires a session")
    assert not problems, "\n".join(problems)


@pytest.fixture
def reset_links() -> Iterator[ResetLinks]:
    handler = ResetLinks()
    logger = logging.getLogger("kefu.accounts")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old_level)


@pytest.fixture
def world(api: Api, reset_links: ResetLinks) -> Iterator[World]:
    w = World(api, reset_links)
    yield w
    w.close()


def _denial(access: Access, caller: str) -> tuple[int, str]:
    if access.kind == "platform":
        return 401, "platform_key_invalid"
    return (401, "unauthenticated") if caller == "anon" else (403, "forbidden")


def test_every_route_for_every_caller(server: Any, raw: httpx.Client, world: World) -> None:
    live = live_routes(server, raw)
    w = world
    problems: list[str] = []
    calls = 0
    for key, access in MATRIX.items():
        if key not in live or key[0] == "WS":
            continue
        for caller in callers_for(access):
            # Platform routes: the key, not the session, decides; try each caller both ways.
            for with_key in ((True, False) if access.kind == "platform" else (False,)):
                req = REQUESTS[key](w, caller)
                session = w.session_of(caller) if req.session is OWN else req.session
                ok = allowed(access, caller) if access.kind != "platform" else with_key
                headers = {**req.headers, **(KEY if with_key else {})}
                label = f"{key[0]} {key[1]} as {caller}{' with the key' if with_key else ''}"
                before = w.snapshot() if not ok and key[0] != "GET" else None
                with w.client(session, headers) as c:
                    r = c.request(req.method, req.url, json=req.json, files=req.files,
                                  params=req.params)
                calls += 1
                if ok:
                    if not 200 <= r.status_code < 300:
                        problems.append(f"{label}: allowed by the matrix, got {describe(r)}")
                else:
                    status, code = _denial(access, caller)
                    if r.status_code != status or error_code(r) != code:
                        problems.append(f"{label}: should be refused with {status} {code}, "
                                        f"got {describe(r)}")
                    if before is not None and w.snapshot() != before:
                        problems.append(f"{label}: refused, yet the tenant's data changed")
    assert calls > 100, calls
    assert not problems, "\n".join(problems)


def _ws_url(base: str) -> str:
    return base.replace("http://", "ws://", 1) + API_PREFIX + "/ws"


def test_websocket_for_every_caller(api: Api, server: Any, raw: httpx.Client,
                                    world: World) -> None:
    access = MATRIX[("WS", "/ws")]
    assert ("WS", "/ws") in live_routes(server, raw)
    w = world
    problems = []
    for caller in callers_for(access):
        session = w.session_of(caller)
        headers = {"Cookie": f"kefu_session={session}"} if session else {}
        try:
            with ws_connect(_ws_url(api.base_url), additional_headers=headers, open_timeout=10,
                            proxy=None) as ws:
                first = ws.recv(timeout=10)
            got = "allowed" if '"hello"' in str(first) else f"unexpected first message {first!r}"
        except InvalidStatus as exc:  # refused during the handshake
            got = f"refused (HTTP {exc.response.status_code})"
        except ConnectionClosed as exc:  # accepted, then closed
            got = f"refused (close {exc.rcvd.code if exc.rcvd else None})"
        want = "allowed" if allowed(access, caller) else "refused"
        if not got.startswith(want):
            problems.append(f"WS /ws as {caller}: expected {want}, got {got}")
    assert not problems, "\n".join(problems)


def test_role_change_keeps_the_intersection_until_next_sign_in(world: World) -> None:
    """SPEC §1.2: removed rights go at once; added rights wait for the next sign-in."""
    w = world
    problems = []

    def call(key: tuple[str, str], session: str | None) -> httpx.Response:
        req = REQUESTS[key](w, "admin")
        with w.client(session) as c:
            return c.request(req.method, req.url, json=req.json, files=req.files,
                             params=req.params)

    def set_role(user_id: int, caller: str) -> None:
        w.t.admin.ok("PATCH", f"/users/{user_id}", json={"role_id": w.role_ids[caller]})

    for p in MATRIX_PAGES:
        key = next(k for k, a in MATRIX.items() if a.page == p)
        route = f"{key[0]} {key[1]}"
        # Signed in with the page, then the page is taken away: refused at once.
        email = unique_email("rc")
        uid = w.new_user(w.role_ids[f"custom_page:{p}"], email)
        session = w.login(email)
        if not 200 <= (r := call(key, session)).status_code < 300:
            problems.append(f"{route} with {p}: {describe(r)}")
        set_role(uid, "custom_none")
        if (r := call(key, session)).status_code != 403:
            problems.append(f"{route} after {p} was removed: {describe(r)}; expected 403 at once")
        # Signed in without the page, then given it: refused until the next sign-in.
        email = unique_email("rc")
        uid = w.new_user(w.role_ids["custom_none"], email)
        session = w.login(email)
        set_role(uid, f"custom_page:{p}")
        if (r := call(key, session)).status_code != 403:
            problems.append(f"{route} after {p} was added: {describe(r)}; expected 403 until "
                            f"the user signs in again")
        with w.client(session) as c:
            if c.get("/me").json().get("relogin_required") is not True:
                problems.append("GET /me after a role change: relogin_required is not true")
        if not 200 <= (r := call(key, w.login(email))).status_code < 300:
            problems.append(f"{route} after signing in again with {p}: {describe(r)}")
    assert not problems, "\n".join(problems)
