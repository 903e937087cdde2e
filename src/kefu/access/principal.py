"""Resolve the caller from the session cookie or bearer token."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import AuthSession, User
from kefu.api.deps import Db
from kefu.core import clock
from kefu.core.config import Settings
from kefu.core.db import run_in_own_transaction
from kefu.core.errors import ApiError
from kefu.core.i18n import set_language
from kefu.core.security import token_digest
from kefu.observability import context as log_context
from kefu.roles.catalogue import ADMIN_PAGES, AGENT_PAGES
from kefu.roles.models import Role
from kefu.tenants.models import Tenant

SESSION_COOKIE = "kefu_session"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class Principal:
    user: User
    tenant: Tenant
    session: AuthSession
    role: Role
    pages: frozenset[str]
    data_scopes: dict[str, str] = field(default_factory=dict)

    @property
    def tenant_id(self) -> int:
        return self.tenant.id

    @property
    def modes(self) -> list[str]:
        modes = []
        if self.pages & AGENT_PAGES:
            modes.append("agent")
        if self.pages & ADMIN_PAGES:
            modes.append("admin")
        return modes

    @property
    def is_admin(self) -> bool:
        return self.role.builtin == "admin"


def role_pages(role: Role) -> frozenset[str]:
    """Pages a role grants; built-in roles always grant the whole catalogue they stand for."""
    if role.builtin == "admin":
        return ADMIN_PAGES | AGENT_PAGES
    if role.builtin == "agent":
        return AGENT_PAGES
    return frozenset(role.pages) & (ADMIN_PAGES | AGENT_PAGES)


def tenant_pages(role: Role, tenant: Tenant) -> frozenset[str]:
    """The pages a role grants in this tenant: the tenant's switches take some away."""
    pages = role_pages(role)
    if not (tenant.switches or {}).get("customer_center_for_agents", False):
        # §12.1: agent-mode Customer center exists only while the tenant's switch is on.
        pages = pages - {"agent.customers"}
    return pages


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return None


def _origin_allowed(request: Request, settings: Settings) -> bool:
    origin = request.headers.get("origin")
    if not origin:
        # Browsers always send Origin on cross-site unsafe requests; no header = same-site tool.
        return True
    allowed = {f"{request.url.scheme}://{request.url.netloc}"}
    if settings.public_base_url:
        parts = urlsplit(settings.public_base_url)
        allowed.add(f"{parts.scheme}://{parts.netloc}")
    allowed.update(o.strip().rstrip("/") for o in settings.allowed_origins.split(",") if o.strip())
    return origin.rstrip("/") in allowed


async def resolve_principal(request: Request, db: Db, *, websocket: bool = False) -> Principal:
    """Find and check the caller's session; raise 401 when there is none that is valid."""
    settings: Settings = request.app.state.settings
    token = _bearer(request)
    client = "token"
    if token is None:
        token = request.cookies.get(SESSION_COOKIE)
        client = "cookie"
        if (
            token
            and (websocket or request.method in UNSAFE_METHODS)
            and not _origin_allowed(request, settings)
        ):
            raise ApiError("origin_forbidden")
    if not token:
        raise ApiError("unauthenticated")
    now = clock.now()
    sess = await db.scalar(
        select(AuthSession).where(AuthSession.token_digest == token_digest(token))
    )
    if (
        sess is None
        or sess.revoked_at is not None
        or sess.expires_at <= now
        or sess.client != client
    ):
        raise ApiError("unauthenticated")
    principal = await principal_for_session(db, sess)
    log_context.bind(tenant_id=principal.tenant_id)  # every later log line of this request
    if now - sess.last_seen_at > timedelta(minutes=1):
        if request.method in UNSAFE_METHODS or not settings.is_sqlite:
            _slide(sess, settings)
        else:
            await _touch(request, sess.id, settings)
    return principal


async def principal_for_session(db: AsyncSession, sess: AuthSession) -> Principal:
    """The caller behind a live session, with the rights SPEC §1.2 gives them right now."""
    now = clock.now()
    user = await db.get(User, sess.user_id)
    tenant = await db.get(Tenant, sess.tenant_id)
    if user is None or tenant is None or user.tenant_id != tenant.id:
        raise ApiError("unauthenticated")
    set_language(user.language)
    if not user.enabled:
        raise ApiError("account_disabled")
    if tenant.expires_at is not None and tenant.expires_at <= now:
        raise ApiError("tenant_expired")
    role = await db.get(Role, user.role_id)
    if role is None:
        raise ApiError("unauthenticated")
    pages = tenant_pages(role, tenant)
    if sess.role_id_at_login != role.id:
        # Added rights wait for the next sign-in; removed rights are gone at once (SPEC §1.2).
        old = await db.get(Role, sess.role_id_at_login)
        pages = pages & (role_pages(old) if old is not None else frozenset())
    scopes = dict(role.data_scopes or {})
    return Principal(
        user=user, tenant=tenant, session=sess, role=role, pages=pages, data_scopes=scopes
    )


def _slide(sess: AuthSession, settings: Settings) -> None:
    now = clock.now()
    sess.last_seen_at = now
    if not sess.remember and sess.client == "cookie":
        sess.expires_at = now + timedelta(hours=settings.session_hours)


async def _touch(request: Request, session_id: int, settings: Settings) -> None:
    """Slide an idle-expiring session forward; its own transaction, so GETs stay read-only."""

    async def touch(db: AsyncSession) -> None:
        sess = await db.get(AuthSession, session_id)
        if sess is not None:
            _slide(sess, settings)

    await run_in_own_transaction(request.app.state.sessionmaker, touch)


async def current_principal(request: Request, db: Db) -> Principal:
    principal = await resolve_principal(request, db)
    request.state.principal = principal
    return principal


SignedIn = Annotated[Principal, Depends(current_principal)]
