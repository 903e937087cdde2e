"""Users (agents and admins), their sign-in sessions and the records that guard sign-in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, BigId, IdMixin, UTCDateTime


class User(IdMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        # The login email is global: one sign-in page serves every tenant.
        UniqueConstraint("email", name="uq_users_email"),
        Index(
            "uq_users_tenant_employee_number",
            "tenant_id",
            "employee_number",
            unique=True,
            sqlite_where=text("employee_number IS NOT NULL"),
            postgresql_where=text("employee_number IS NOT NULL"),
        ),
    )

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(200))
    nickname: Mapped[str] = mapped_column(String(30))
    real_name: Mapped[str] = mapped_column(String(30), default="")
    employee_number: Mapped[str | None] = mapped_column(String(30), nullable=True)
    mobile: Mapped[str] = mapped_column(String(20), default="")
    avatar_path: Mapped[str | None] = mapped_column(String(300), nullable=True)
    agent_type: Mapped[str] = mapped_column(String(20), default="online")
    role_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("roles.id", ondelete="RESTRICT"), index=True
    )
    team_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("teams.id", ondelete="SET NULL"), nullable=True, index=True
    )
    enabled: Mapped[bool] = mapped_column(default=True)
    max_concurrent: Mapped[int] = mapped_column(default=10)
    language: Mapped[str] = mapped_column(String(10), default="zh-CN")
    greeting_text: Mapped[str] = mapped_column(Text, default="")
    greeting_enabled: Mapped[bool] = mapped_column(default=False)
    totp_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    totp_enabled: Mapped[bool] = mapped_column(default=False)
    # Last TOTP time step accepted, so one code cannot be replayed.
    totp_last_step: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuthSession(IdMixin, Base):
    """A signed-in browser (cookie) or API client (bearer token); only the digest is stored."""

    __tablename__ = "auth_sessions"

    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    client: Mapped[str] = mapped_column(String(10), default="cookie")
    # Rights follow the role held at sign-in until the next sign-in (SPEC §1.2); see access.py.
    role_id_at_login: Mapped[int] = mapped_column(BigId)
    remember: Mapped[bool] = mapped_column(default=False)
    invisible: Mapped[bool] = mapped_column(default=False)
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PendingLogin(IdMixin, Base):
    """The half-done sign-in between the password and the second factor."""

    __tablename__ = "pending_logins"

    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    remember: Mapped[bool] = mapped_column(default=False)
    invisible: Mapped[bool] = mapped_column(default=False)
    client: Mapped[str] = mapped_column(String(10), default="cookie")
    # Set when the role demands 2FA and the user has none yet: they enrol during sign-in.
    setup_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    attempts: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PasswordResetToken(IdMixin, Base):
    __tablename__ = "password_reset_tokens"

    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class LoginThrottle(Base):
    """Failure counters per account key and per IP within a window (Redis takes over later)."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
