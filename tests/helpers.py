"""Clients and factories used by the tests: everything goes through the real HTTP API."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import httpx
import pyotp

PLATFORM_KEY = "test-platform-key-0123456789abcdef"
PASSWORD = "Passw0rd-kefu"
_seq = itertools.count(1)


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}{next(_seq)}@example.test"


@dataclass
class Tenant:
    id: int
    admin: Client
    admin_email: str
    admin_password: str
    roles: dict[str, int] = field(default_factory=dict)


class Client(httpx.Client):
    """An httpx client bound to /api/v1 that remembers its session cookie."""

    def __init__(self, base_url: str, **kw: Any) -> None:
        super().__init__(base_url=base_url.rstrip("/") + "/api/v1", timeout=30, **kw)
        self.me: dict[str, Any] = {}

    def ok(
        self, method: str, url: str, status: int | tuple[int, ...] = (200, 201, 202, 204), **kw: Any
    ) -> Any:
        r = self.request(method, url, **kw)
        wanted = status if isinstance(status, tuple) else (status,)
        assert r.status_code in wanted, f"{method} {url} -> {r.status_code} {r.text}"
        return (
            r.json()
            if r.content and r.headers.get("content-type", "").startswith("application/json")
            else None
        )


class Api:
    """Factory of clients for one live server."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.anon = Client(base_url)
        self._clients: list[Client] = [self.anon]

    def client(self, **kw: Any) -> Client:
        c = Client(self.base_url, **kw)
        self._clients.append(c)
        return c

    def close_all(self) -> None:
        for c in self._clients:
            c.close()

    def provision(self, name: str = "Test Co", seats: int = 10, **extra: Any) -> Tenant:
        email = unique_email("admin")
        body = self.anon.ok(
            "POST",
            "/platform/tenants",
            json={"name": name, "admin_email": email, "seats": seats, **extra},
            headers={"X-Kefu-Platform-Key": PLATFORM_KEY},
        )
        admin = self.login(email, body["password"])
        roles = {r["builtin"]: r["id"] for r in admin.ok("GET", "/roles") if r["builtin"]}
        return Tenant(
            id=body["tenant_id"],
            admin=admin,
            admin_email=email,
            admin_password=body["password"],
            roles=roles,
        )

    def login(
        self, email: str, password: str, *, totp_secret: str | None = None, remember: bool = False
    ) -> Client:
        c = self.client()
        r = c.post("/auth/login", json={"email": email, "password": password, "remember": remember})
        assert r.status_code == 200, r.text
        body = r.json()
        if body["status"] != "ok":
            assert totp_secret, body
            r = c.post(
                "/auth/login/mfa",
                json={"mfa_token": body["mfa_token"], "code": pyotp.TOTP(totp_secret).now()},
            )
            assert r.status_code == 200, r.text
            body = r.json()
        c.me = body["user"]
        return c

    def token_client(self, email: str, password: str) -> Client:
        r = self.anon.post(
            "/auth/login", json={"email": email, "password": password, "client": "token"}
        )
        assert r.status_code == 200, r.text
        c = self.client(headers={"Authorization": f"Bearer {r.json()['token']}"})
        c.me = r.json()["user"]
        return c

    def add_user(
        self, tenant: Tenant, *, role: str = "agent", role_id: int | None = None, **fields: Any
    ) -> tuple[dict[str, Any], Client]:
        """Create a user through the admin API and sign them in."""
        email = fields.pop("email", unique_email(role))
        body = {
            "email": email,
            "password": PASSWORD,
            "nickname": fields.pop("nickname", email[:20]),
            "role_id": role_id or tenant.roles[role],
            **fields,
        }
        user = tenant.admin.ok("POST", "/users", json=body)
        client = self.login(email, PASSWORD) if user["enabled"] else self.client()
        return user, client
