"""Sign-in, second factor, sign-out and password recovery."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import pyotp
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts import throttle
from kefu.accounts.models import AuthSession, PasswordResetToken, PendingLogin, User
from kefu.core import clock
from kefu.core.config import Settings
from kefu.core.errors import ApiError
from kefu.core.security import hash_password, new_token, token_digest, verify_password
from kefu.events.bus import emit
from kefu.events.types import UserSessionsRevoked
from kefu.presence import actions as presence
from kefu.roles.models import Role
from kefu.tenants.models import Tenant

log = logging.getLogger("kefu.accounts")

REMEMBER_DAYS = 7
PENDING_MINUTES = 5
RESET_HOURS = 2
TOTP_ISSUER = "Kefu"


@dataclass
class Outcome:
    status: str
    user: User | None = None
    session: AuthSession | None = None
    token: str | None = None
    mfa_token: str | None = None
    secret: str | None = None
    otpauth_uri: str | None = None


async def fail(db: AsyncSession, code: str, keys: list[tuple[str, str]]) -> ApiError:
    # Counters must survive the error: commit them now (the rollback that follows is a no-op).
    for kind, value in keys:
        await throttle.hit(db, kind, value)
    await db.commit()
    return ApiError(code)


async def login(
    db: AsyncSession,
    *,
    email: str,
    password: str,
    remember: bool,
    invisible: bool,
    client: str,
    ip: str,
    user_agent: str,
    settings: Settings,
) -> Outcome:
    """Check the password (and tenant/account state); either sign in or ask for the 2FA code."""
    await throttle.check(db, "ip", ip)
    await throttle.check(db, "acct", email)
    user = await db.scalar(select(User).where(User.email == email))
    if not verify_password(user.password_hash if user else None, password) or user is None:
        raise await fail(db, "invalid_credentials", [("acct", email), ("ip", ip)])
    if not user.enabled:
        raise ApiError("account_disabled")
    tenant = await db.get(Tenant, user.tenant_id)
    if tenant is None:
        raise ApiError("invalid_credentials")
    if tenant.expires_at is not None and tenant.expires_at <= clock.now():
        raise ApiError("tenant_expired")
    await throttle.clear(db, "acct", email)
    role = await db.get(Role, user.role_id)
    if user.totp_enabled or (role is not None and role.require_mfa):
        return await _start_second_factor(db, user, remember, invisible, client)
    return await _open_session(db, user, remember, invisible, client, ip, user_agent, settings)


async def _start_second_factor(
    db: AsyncSession, user: User, remember: bool, invisible: bool, client: str
) -> Outcome:
    token = new_token()
    setup_secret = None if user.totp_enabled else pyotp.random_base32()
    db.add(
        PendingLogin(
            token_digest=token_digest(token),
            user_id=user.id,
            remember=remember,
            invisible=invisible,
            client=client,
            setup_secret=setup_secret,
            expires_at=clock.now() + timedelta(minutes=PENDING_MINUTES),
        )
    )
    if setup_secret is None:
        return Outcome(status="mfa_required", mfa_token=token)
    uri = pyotp.TOTP(setup_secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)
    return Outcome(
        status="mfa_setup_required", mfa_token=token, secret=setup_secret, otpauth_uri=uri
    )


def verify_totp(user: User, secret: str, code: str) -> bool:
    """Accept the current code (±1 step for clock drift), never the same step twice."""
    totp = pyotp.TOTP(secret)
    now = clock.now()
    for drift in (0, -1, 1):
        at = now + timedelta(seconds=30 * drift)
        step = int(at.timestamp()) // 30
        if step > user.totp_last_step and totp.verify(code, for_time=at, valid_window=0):
            user.totp_last_step = step
            return True
    return False


async def complete_second_factor(
    db: AsyncSession, *, mfa_token: str, code: str, ip: str, user_agent: str, settings: Settings
) -> Outcome:
    pending = await db.scalar(
        select(PendingLogin).where(PendingLogin.token_digest == token_digest(mfa_token))
    )
    if pending is None or pending.expires_at <= clock.now() or pending.attempts >= 5:
        raise ApiError("mfa_token_invalid")
    user = await db.get(User, pending.user_id)
    if user is None or not user.enabled:
        raise ApiError("mfa_token_invalid")
    await throttle.check(db, "mfa", str(user.id))
    secret = pending.setup_secret or user.totp_secret or ""
    if not verify_totp(user, secret, code):
        pending.attempts += 1
        raise await fail(db, "mfa_invalid", [("mfa", str(user.id)), ("ip", ip)])
    if pending.setup_secret:
        user.totp_secret = pending.setup_secret
        user.totp_enabled = True
    await db.delete(pending)
    return await _open_session(
        db, user, pending.remember, pending.invisible, pending.client, ip, user_agent, settings
    )


async def _open_session(
    db: AsyncSession,
    user: User,
    remember: bool,
    invisible: bool,
    client: str,
    ip: str,
    user_agent: str,
    settings: Settings,
) -> Outcome:
    now = clock.now()
    token = new_token()
    lifetime = (
        timedelta(days=REMEMBER_DAYS) if remember else timedelta(hours=settings.session_hours)
    )
    sess = AuthSession(
        token_digest=token_digest(token),
        tenant_id=user.tenant_id,
        user_id=user.id,
        client=client,
        role_id_at_login=user.role_id,
        remember=remember,
        invisible=invisible,
        ip=ip,
        user_agent=user_agent[:300],
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetime,
    )
    db.add(sess)
    await db.flush()
    await presence.signed_in(db, user, invisible=invisible)
    return Outcome(status="ok", user=user, session=sess, token=token)


async def logout(db: AsyncSession, session: AuthSession) -> None:
    session.revoked_at = clock.now()
    await presence.signed_out(db, session)
    # The session's own sockets close too, so they hear nothing more of the tenant.
    emit(
        db,
        UserSessionsRevoked(
            tenant_id=session.tenant_id, user_id=session.user_id, only_session_id=session.id
        ),
    )


async def revoke_sessions(
    db: AsyncSession, user: User, *, keep_session_id: int | None = None
) -> None:
    """End every session of the user except `keep_session_id`; their sockets close after commit."""
    stmt = (
        update(AuthSession)
        .where(AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )
    if keep_session_id is not None:
        stmt = stmt.where(AuthSession.id != keep_session_id)
    await db.execute(stmt)
    emit(
        db,
        UserSessionsRevoked(
            tenant_id=user.tenant_id, user_id=user.id, keep_session_id=keep_session_id
        ),
    )


async def change_password(
    db: AsyncSession, user: User, session: AuthSession, old_password: str, new_password: str
) -> None:
    if not verify_password(user.password_hash, old_password):
        raise await fail(db, "wrong_password", [("acct", user.email)])
    user.password_hash = hash_password(new_password)
    user.updated_at = clock.now()
    await revoke_sessions(db, user, keep_session_id=session.id)


async def create_reset_link(db: AsyncSession, user: User, settings: Settings) -> str:
    """A single-use reset link valid for a few hours; only its digest is stored."""
    token = new_token()
    now = clock.now()
    db.add(
        PasswordResetToken(
            token_digest=token_digest(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + timedelta(hours=RESET_HOURS),
        )
    )
    return f"{settings.base_url}/reset-password?token={token}"


async def reset_password(db: AsyncSession, *, token: str, new_password: str) -> User:
    row = await db.scalar(
        select(PasswordResetToken).where(PasswordResetToken.token_digest == token_digest(token))
    )
    if row is None or row.used_at is not None or row.expires_at <= clock.now():
        raise ApiError("reset_token_invalid")
    user = await db.get(User, row.user_id)
    if user is None:
        raise ApiError("reset_token_invalid")
    row.used_at = clock.now()
    user.password_hash = hash_password(new_password)
    user.updated_at = clock.now()
    await throttle.clear(db, "acct", user.email)
    await revoke_sessions(db, user)
    return user
