"""Visitors (customers reaching us through a widget) and the browsers they use."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, BigId, IdMixin, UTCDateTime


class Visitor(IdMixin, Base):
    __tablename__ = "visitors"
    __table_args__ = (
        # An identified visitor (user id signed by the site) is one customer on every browser.
        Index(
            "uq_visitors_tenant_external",
            "tenant_id",
            "external_id",
            unique=True,
            sqlite_where=text("external_id IS NOT NULL"),
            postgresql_where=text("external_id IS NOT NULL"),
        ),
    )

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    external_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    name: Mapped[str] = mapped_column(String(50), default="")
    phone: Mapped[str] = mapped_column(String(45), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    # Customer-center profile fields (§12.1, §12.5 lengths).
    nickname: Mapped[str] = mapped_column(String(256), default="")
    qq: Mapped[str] = mapped_column(String(45), default="")
    wechat: Mapped[str] = mapped_column(String(45), default="")
    company: Mapped[str] = mapped_column(String(45), default="")
    description: Mapped[str] = mapped_column(String(200), default="")
    # Values of the admin-defined customer fields (§12.2): {"<field id>": "<text>"}.
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # widget (came through a widget) | import (customer import, §12.5; may never have consulted)
    source: Mapped[str] = mapped_column(String(10), default="widget")
    remark: Mapped[str] = mapped_column(Text, default="")
    # VIP visitors queue ahead of everyone else (§3.3).
    vip: Mapped[bool] = mapped_column(default=False)
    custom: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    first_widget_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("widgets.id", ondelete="SET NULL"), nullable=True
    )
    # Web info of the latest visit (§3.10): ip, browser, os, referrer, landing_page, ...
    web_info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class VisitorDevice(IdMixin, Base):
    """A browser's secret visitor token (only its digest) and the visitor it stands for."""

    __tablename__ = "visitor_devices"

    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    visitor_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("visitors.id", ondelete="CASCADE"), index=True
    )
    widget_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("widgets.id", ondelete="CASCADE"), index=True
    )
    # Entry parameters of this browser's latest widget session (skill group, association,
    # custom fields): the next conversation it opens records them.
    entry: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
