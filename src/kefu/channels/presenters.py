"""Widget views for admins (with embed code) and for visitors (public configuration)."""

from __future__ import annotations

from kefu.channels.models import Widget
from kefu.channels.schemas import PublicWidgetOut, WidgetOut
from kefu.core.config import Settings
from kefu.tenants.api import logo_url
from kefu.tenants.models import Tenant


def widget_out(base: str, widget: Widget) -> WidgetOut:
    """`base`: Kefu's public address, which the embed code and links point at."""
    return WidgetOut(
        id=widget.id,
        key=widget.key,
        name=widget.name,
        title=widget.title,
        theme_color=widget.theme_color,
        show_logo=widget.show_logo,
        show_name=widget.show_name,
        show_agent_nickname=widget.show_agent_nickname,
        language=widget.language,
        welcome_text=widget.welcome_text,
        allowed_origins=widget.allowed_origins,
        association_id=widget.association_id,
        embed_code=f'<script src="{base}/widget.js" data-widget="{widget.key}" async></script>',
        h5_url=f"{base}/h5?widget={widget.key}",
        demo_url=f"{base}/demo?widget={widget.key}",
        created_at=widget.created_at,
        updated_at=widget.updated_at,
    )


def public_widget(settings: Settings, widget: Widget, tenant: Tenant) -> PublicWidgetOut:
    return PublicWidgetOut(
        key=widget.key,
        title=widget.title or tenant.name,
        company_name=tenant.name,
        logo_url=logo_url(tenant) if widget.show_logo else None,
        theme_color=widget.theme_color,
        show_logo=widget.show_logo,
        show_name=widget.show_name,
        show_agent_nickname=widget.show_agent_nickname,
        language=widget.language,
        welcome_text=widget.welcome_text,
    )
