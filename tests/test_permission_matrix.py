"""Every route x every kind of caller: who may use what, written down once and checked live.

MATRIX is the source of truth. The test fails when the server has a route the matrix does not
list (add it), when the matrix lists a route that is gone (remove it), when a route's guard asks
for another page than the matrix says, and when a caller gets through where they should not (or
is refused where they should not be).

Callers: "anon" (no session), "agent" and "admin" (built-in roles), "custom_none" (a custom role
with no pages), "custom_page:<page>" (a custom role granted exactly the page a route requires) and
"custom_others:<page>" (a custom role granted every page except that one). A route any one of
several pages opens (`require_any_page`) is called by "custom_page:<page>" for each of its pages
and by "custom_others:<p1>+<p2>+..." (every page except all of them). Each user is created
with their role before signing in: per SPEC §1.2 a role change only takes effect, for added
rights, at the next sign-in.

Chat routes act on conversations, which only their holding agent (or a monitor with the Current
sessions page) may touch: the requests of allowed callers name a conversation assigned to that
very caller (tests/world_chat.py, `hold_conversation`). Visitor routes are public as far as staff
sessions go -- they authenticate the visitor's token (or, for files, a signature) -- so their
requests carry a registered visitor's token and must succeed whatever staff session comes along.

Routing and dispatch routes act on configuration that steers no visitor (tests/world_routing.py);
the Waiting page's routes each act on a conversation of their own, made to wait in the queue the
caller sees, and transfer requests are made for the very caller who decides them.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
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
from websockets.typing import Origin

from kefu.exports.actions import SOURCE_PAGES as EXPORT_SOURCE_PAGES
from kefu.roles.catalogue import AGENT_PAGES, PAGE_KEYS, PAGES, SCOPED_DATA
from tests import exports_helpers as eh
from tests import world_canned as ch
from tests import world_customers as cu
from tests import world_history as hs
from tests import world_knowledge as kh
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
from tests.world_chat import (
    Held,
    TenantChat,
    cid,
    text_body,
    visitor_socket_url,
    visitor_token,
)
from tests.world_routing import TenantRouting, busy_everyone


@dataclass(frozen=True)
class Access:
    kind: str  # "public" | "signed_in" | "page" | "any_page" | "platform"
    page: str | None = None
    # The page is needed and not enough: only the built-in Admin role (SPEC §2.1 forced status).
    builtin_admin_only: bool = False
    # kind "any_page": any one of these pages lets the caller through (`require_any_page`).
    any_of: tuple[str, ...] = ()
    # Pages the action also requires beyond the guard (pickup: the chat lands in Sessions).
    also_needs: tuple[str, ...] = ()

    @property
    def pages(self) -> tuple[str, ...]:
        """The pages a caller may hold to get through (any one of them)."""
        if self.kind == "any_page":
            return self.any_of
        return (self.page,) if self.page else ()

    def __str__(self) -> str:
        if self.kind == "any_page":
            return f"any page of {', '.join(self.any_of)}"
        return f"page {self.page}" if self.page else self.kind


PUBLIC = Access("public")  # anyone, no session needed
SIGNED_IN = Access("signed_in")  # any signed-in user, whatever their role
PLATFORM = Access("platform")  # the marketplace: the platform key, not a session


def page(key: str) -> Access:
    assert key in PAGE_KEYS, key
    return Access("page", key)


def any_page(*keys: str) -> Access:
    assert len(keys) > 1 and all(k in PAGE_KEYS for k in keys), keys
    return Access("any_page", any_of=tuple(keys))


AGENTS = page("admin.members.agents")
PERMISSIONS = page("admin.settings.permissions")
TEAMS = page("admin.members.teams")
ENTERPRISE = page("admin.settings.enterprise")
SWITCHES = page("admin.settings.switches")
AUDIT = page("admin.settings.audit")
# SPEC §2.1: admins force an agent's status; custom roles cannot, even with the Agents page.
FORCE_STATUS = Access("page", "admin.members.agents", builtin_admin_only=True)
SESSIONS = page("agent.sessions")  # the workbench: the caller's own conversations
MONITOR = page("admin.current_sessions")  # every ongoing conversation in the caller's scope
CHANNELS = page("admin.channels")
APPROVALS = page("admin.approvals")
# Routing and dispatch (docs/api.md, "Routes (routing and dispatch)").
TIME_PLANS = page("admin.settings.time_plans")
SKILL_GROUPS = page("admin.members.skill_groups")
RULES = page("admin.settings.assignment_rules")
VISITOR_TAGS = page("admin.settings.visitor_tags")
SESSION_TAGS = page("admin.settings.session_tags")
TAGGING = any_page("agent.sessions", "admin.history", "admin.current_sessions")
WAITING = page("agent.waiting")  # the waiting queue the caller may see (admins: all of it)
HISTORY = page("admin.history")
# Skill groups, assignment rules and channels choose a plan from the list.
READ_PLANS = any_page(
    "admin.settings.time_plans",
    "admin.members.skill_groups",
    "admin.settings.assignment_rules",
    "admin.channels",
)
# Pages that pick groups (assignment rules, channels, current sessions) read the list.
READ_GROUPS = any_page(
    "admin.members.skill_groups",
    "admin.settings.assignment_rules",
    "admin.channels",
    "admin.current_sessions",
)
# SPEC §3.3: admins transfer or close a waiting conversation; custom roles cannot, even with the
# Waiting page.
QUEUE_ADMIN = Access("page", "agent.waiting", builtin_admin_only=True)
# Visitor routes: no staff session is needed or looked at. They authenticate the visitor's token
# (`Authorization: Visitor <token>`, or the socket's auth frame); GET /files/{id} checks the
# signature of its link. For the matrix they are public: every staff caller, signed in or not,
# gets the same answer.
VISITOR = PUBLIC
# Canned replies: the public set's keepers; its readers; an agent's own set and tools.
CANNED = page("admin.settings.canned")
KB = page("admin.knowledge")
KB_READ = any_page("admin.knowledge", "agent.knowledge", "agent.sessions")
CANNED_READ = any_page("agent.sessions", "agent.canned", "admin.settings.canned")
CANNED_USE = any_page("agent.sessions", "agent.canned")
CUSTOMERS = any_page("agent.customers", "admin.customers")
PROFILE = any_page(
    "agent.customers",
    "admin.customers",
    "agent.sessions",
    "agent.history",
    "admin.history",
    "admin.current_sessions",
)
CUSTOMER_SETTINGS = page("admin.settings.customer_settings")
LEAVE = any_page("agent.leave_messages", "admin.leave_messages")

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
    # Live chat, staff side. The guard asks for the page; the handler then lets through only the
    # agent holding the conversation, or a monitor (Current sessions) whose scope covers it.
    ("GET", "/conversations"): SESSIONS,
    ("GET", "/conversations/{conversation_id}"): SESSIONS,
    ("GET", "/conversations/{conversation_id}/messages"): SESSIONS,
    ("GET", "/conversations/{conversation_id}/events"): SESSIONS,
    ("GET", "/conversations/{conversation_id}/prior-messages"): SESSIONS,
    ("GET", "/conversations/{conversation_id}/visitor"): SESSIONS,
    ("POST", "/conversations/{conversation_id}/messages"): SESSIONS,
    ("POST", "/conversations/{conversation_id}/messages/{message_id}/recall"): SESSIONS,
    ("POST", "/conversations/{conversation_id}/attachments"): SESSIONS,
    ("POST", "/conversations/{conversation_id}/read"): SESSIONS,
    ("POST", "/conversations/{conversation_id}/end"): SESSIONS,
    ("PATCH", "/visitors/{visitor_id}"): SESSIONS,
    ("GET", "/me/today"): SESSIONS,
    ("GET", "/current-sessions"): MONITOR,
    ("GET", "/current-sessions/{conversation_id}"): MONITOR,
    ("GET", "/current-sessions/{conversation_id}/messages"): MONITOR,
    ("POST", "/current-sessions/{conversation_id}/end"): MONITOR,
    ("POST", "/conversations/{conversation_id}/whisper"): MONITOR,
    # Channels: web widgets and associations.
    ("GET", "/widgets"): CHANNELS,
    ("POST", "/widgets"): CHANNELS,
    ("GET", "/widgets/{widget_id}"): CHANNELS,
    ("PATCH", "/widgets/{widget_id}"): CHANNELS,
    ("DELETE", "/widgets/{widget_id}"): CHANNELS,
    ("POST", "/widgets/{widget_id}/secret"): CHANNELS,
    ("GET", "/associations"): CHANNELS,
    ("POST", "/associations"): CHANNELS,
    ("PATCH", "/associations/{association_id}"): CHANNELS,
    ("DELETE", "/associations/{association_id}"): CHANNELS,
    # Live chat, visitor side (see VISITOR).
    ("GET", "/public/widgets/{key}"): VISITOR,  # the widget's public configuration: no auth
    ("POST", "/visitor/session"): VISITOR,  # registers the token in its body
    ("GET", "/visitor/conversation"): VISITOR,
    ("GET", "/visitor/messages"): VISITOR,
    ("GET", "/visitor/events"): VISITOR,
    ("GET", "/visitor/prior-messages"): VISITOR,
    ("POST", "/visitor/messages"): VISITOR,
    ("POST", "/visitor/attachments"): VISITOR,
    ("GET", "/files/{attachment_id}"): VISITOR,  # the signed link is the credential
    ("WS", "/visitor/ws"): VISITOR,
    # Colleague chat (§4.9): any signed-in user with any colleague of the company.
    ("GET", "/colleagues/unread"): SIGNED_IN,
    ("GET", "/colleagues/{user_id}/messages"): SIGNED_IN,
    ("POST", "/colleagues/{user_id}/messages"): SIGNED_IN,
    ("POST", "/colleagues/{user_id}/read"): SIGNED_IN,
    # Message center (§15.1): every signed-in user, their own notices only.
    ("GET", "/notifications"): SIGNED_IN,
    ("GET", "/notifications/unread-count"): SIGNED_IN,
    ("POST", "/notifications/read-all"): SIGNED_IN,
    ("POST", "/notifications/{notification_id}/read"): SIGNED_IN,
    # Announcements (§15.2): admins with the Message center page publish; recipients read.
    ("GET", "/announcements/recipients"): page("admin.message_center"),
    ("POST", "/announcements/attachments"): page("admin.message_center"),
    ("POST", "/announcements"): page("admin.message_center"),
    ("GET", "/announcements"): page("admin.message_center"),
    ("GET", "/announcements/{announcement_id}"): SIGNED_IN,
    # Approval management (§15.4).
    ("GET", "/approvals"): APPROVALS,
    ("POST", "/approvals/{approval_id}/approve"): APPROVALS,
    ("POST", "/approvals/{approval_id}/reject"): APPROVALS,
    # Routing and dispatch.
    ("GET", "/time-plans"): READ_PLANS,
    ("POST", "/time-plans"): TIME_PLANS,
    ("GET", "/time-plans/{plan_id}"): TIME_PLANS,
    ("PATCH", "/time-plans/{plan_id}"): TIME_PLANS,
    ("DELETE", "/time-plans/{plan_id}"): TIME_PLANS,
    ("GET", "/time-plans/{plan_id}/status"): TIME_PLANS,
    ("GET", "/skill-groups"): READ_GROUPS,
    ("POST", "/skill-groups"): SKILL_GROUPS,
    ("GET", "/skill-groups/candidates"): SKILL_GROUPS,
    # docs/api.md lists GET /skill-groups/{id} with PATCH and DELETE under Skill groups alone.
    ("GET", "/skill-groups/{group_id}"): SKILL_GROUPS,
    ("PATCH", "/skill-groups/{group_id}"): SKILL_GROUPS,
    ("DELETE", "/skill-groups/{group_id}"): SKILL_GROUPS,
    ("GET", "/skill-groups/{group_id}/members"): SKILL_GROUPS,
    ("PUT", "/skill-groups/{group_id}/members"): SKILL_GROUPS,
    ("POST", "/skill-groups/{group_id}/members/code"): SKILL_GROUPS,
    ("GET", "/me/favourite-groups"): SIGNED_IN,
    ("PUT", "/me/favourite-groups"): SIGNED_IN,
    ("GET", "/routing-rules"): RULES,
    ("POST", "/routing-rules"): RULES,
    ("PUT", "/routing-rules/order"): RULES,
    ("PATCH", "/routing-rules/{rule_id}"): RULES,
    ("DELETE", "/routing-rules/{rule_id}"): RULES,
    ("GET", "/dispatch-settings"): RULES,
    ("PUT", "/dispatch-settings"): RULES,
    ("GET", "/overflow-rules"): RULES,
    ("POST", "/overflow-rules"): RULES,
    ("PATCH", "/overflow-rules/{rule_id}"): RULES,
    ("DELETE", "/overflow-rules/{rule_id}"): RULES,
    ("GET", "/welcome-menu"): RULES,
    ("PUT", "/welcome-menu"): RULES,
    ("GET", "/visitor-tags"): SIGNED_IN,  # agents apply tags; admins build rules with them
    ("POST", "/visitor-tags"): VISITOR_TAGS,
    ("PATCH", "/visitor-tags/{tag_id}"): VISITOR_TAGS,
    ("DELETE", "/visitor-tags/{tag_id}"): VISITOR_TAGS,
    ("GET", "/visitor-tags/template"): VISITOR_TAGS,
    ("GET", "/visitor-tags/export"): VISITOR_TAGS,
    ("POST", "/visitor-tags/import"): VISITOR_TAGS,
    # Session tags (docs/session-tags.md): everyone reads the tree and their suggestions.
    ("GET", "/session-tags"): SIGNED_IN,
    ("GET", "/session-tags/suggested"): SIGNED_IN,
    ("POST", "/session-tags"): SESSION_TAGS,
    ("PUT", "/session-tags/order"): SESSION_TAGS,
    ("GET", "/session-tags/template"): SESSION_TAGS,
    ("GET", "/session-tags/export"): SESSION_TAGS,
    ("POST", "/session-tags/import"): SESSION_TAGS,
    ("PATCH", "/session-tags/{session_tag_id}"): SESSION_TAGS,
    ("DELETE", "/session-tags/{session_tag_id}"): SESSION_TAGS,
    # The holding agent, admins within their History scope, monitors of live conversations.
    ("GET", "/conversations/{conversation_id}/session-tags"): TAGGING,
    ("PUT", "/conversations/{conversation_id}/session-tags"): TAGGING,
    # Staff who see the visitor's conversation: the workbench page, then the handler's check.
    ("GET", "/visitors/{visitor_id}/tags"): SESSIONS,
    ("PUT", "/visitors/{visitor_id}/tags"): SESSIONS,
    ("GET", "/waiting"): WAITING,
    # The picked-up chat lands in Sessions: a role needs that page too (docs/api.md).
    ("POST", "/waiting/{conversation_id}/pickup"): Access(
        "page", "agent.waiting", also_needs=("agent.sessions",)
    ),
    ("GET", "/waiting/{conversation_id}/messages"): WAITING,
    ("POST", "/waiting/{conversation_id}/transfer"): QUEUE_ADMIN,
    ("POST", "/waiting/{conversation_id}/end"): QUEUE_ADMIN,
    ("GET", "/transfer-targets"): any_page("agent.sessions", "agent.waiting"),
    ("POST", "/conversations/{conversation_id}/transfer"): SESSIONS,  # the holder
    ("GET", "/transfer-requests"): SESSIONS,  # the target agent's own
    ("POST", "/transfer-requests/{request_id}/accept"): SESSIONS,
    ("POST", "/transfer-requests/{request_id}/reject"): SESSIONS,
    ("POST", "/conversations/{conversation_id}/reassign"): HISTORY,
    ("POST", "/visitor/menu-choice"): VISITOR,
    # Knowledge base (§8.2, docs/knowledge-base.md): admins edit; staff read; the holder sends.
    ("GET", "/knowledge/categories"): KB_READ,
    ("POST", "/knowledge/categories"): KB,
    ("PUT", "/knowledge/categories/order"): KB,
    ("PATCH", "/knowledge/categories/{knowledge_category_id}"): KB,
    ("DELETE", "/knowledge/categories/{knowledge_category_id}"): KB,
    ("GET", "/knowledge/items"): KB_READ,
    ("POST", "/knowledge/items"): KB,
    ("GET", "/knowledge/items/{knowledge_item_id}"): KB_READ,
    ("PATCH", "/knowledge/items/{knowledge_item_id}"): KB,
    ("DELETE", "/knowledge/items/{knowledge_item_id}"): KB,
    ("POST", "/knowledge/files"): KB,
    ("GET", "/knowledge/assets/{asset}"): PUBLIC,  # the signed name is the credential
    ("GET", "/knowledge/export"): KB,
    ("POST", "/knowledge/import"): KB,
    ("GET", "/knowledge/settings"): KB,
    ("PUT", "/knowledge/settings"): KB,
    ("POST", "/conversations/{conversation_id}/knowledge/{knowledge_item_id}/send"): SESSIONS,
    # Canned replies (§8.1, docs/canned-replies.md): admins keep the public set, agents read it;
    # each agent's own set, usage, pins and sort come with the workbench or the Canned page.
    ("GET", "/canned/public"): CANNED_READ,
    ("POST", "/canned/public/categories"): CANNED,
    ("PATCH", "/canned/public/categories/{canned_category_id}"): CANNED,
    ("DELETE", "/canned/public/categories/{canned_category_id}"): CANNED,
    ("POST", "/canned/public/replies"): CANNED,
    ("PATCH", "/canned/public/replies/{canned_reply_id}"): CANNED,
    ("DELETE", "/canned/public/replies/{canned_reply_id}"): CANNED,
    ("GET", "/canned/public/export"): CANNED,
    ("POST", "/canned/public/import"): CANNED,
    ("GET", "/canned/personal"): CANNED_USE,
    ("POST", "/canned/personal/categories"): CANNED_USE,
    ("PATCH", "/canned/personal/categories/{canned_category_id}"): CANNED_USE,
    ("DELETE", "/canned/personal/categories/{canned_category_id}"): CANNED_USE,
    ("POST", "/canned/personal/replies"): CANNED_USE,
    ("PATCH", "/canned/personal/replies/{canned_reply_id}"): CANNED_USE,
    ("DELETE", "/canned/personal/replies/{canned_reply_id}"): CANNED_USE,
    ("GET", "/canned/personal/export"): CANNED_USE,
    ("POST", "/canned/personal/import"): CANNED_USE,
    ("GET", "/canned/template"): CANNED_READ,
    ("GET", "/canned/suggest"): CANNED_USE,
    ("POST", "/canned/replies/{canned_reply_id}/used"): CANNED_USE,
    ("PUT", "/canned/replies/{canned_reply_id}/pin"): CANNED_USE,
    ("DELETE", "/canned/replies/{canned_reply_id}/pin"): CANNED_USE,
    ("GET", "/canned/prefs"): CANNED_USE,
    ("PUT", "/canned/prefs"): CANNED_USE,
    ("POST", "/canned/submissions"): CANNED_USE,
    ("GET", "/canned/submissions/mine"): CANNED_USE,
    ("GET", "/canned/submissions"): CANNED,
    ("POST", "/canned/submissions/{canned_submission_id}/accept"): CANNED,
    ("POST", "/canned/submissions/{canned_submission_id}/reject"): CANNED,
    # Satisfaction (§10.1, docs/satisfaction.md): settings; the holder invites; visitors rate.
    ("GET", "/csat/settings"): page("admin.settings.csat"),
    ("PUT", "/csat/settings"): page("admin.settings.csat"),
    ("GET", "/conversations/{conversation_id}/csat"): SESSIONS,
    ("POST", "/conversations/{conversation_id}/csat-invite"): SESSIONS,  # the holder, once
    ("GET", "/visitor/csat"): VISITOR,
    ("POST", "/visitor/csat"): VISITOR,
    # Blacklist (§3.9), History (§3.10), callback (§3.8): docs/blacklist.md, docs/history.md.
    ("POST", "/conversations/{conversation_id}/blacklist"): SESSIONS,  # the holder
    ("POST", "/blacklist"): any_page("admin.customers", "agent.customers"),
    ("GET", "/blacklist"): page("admin.customers"),
    # Export management (§14, docs/exports.md): starting needs a page that exports (the kind
    # then needs its own); agent mode lists my files, admin mode (admin.exports) everyone's.
    ("POST", "/exports"): any_page(*EXPORT_SOURCE_PAGES),
    ("GET", "/exports"): any_page("agent.exports", "admin.exports"),
    ("GET", "/exports/{export_id}"): any_page("agent.exports", "admin.exports"),
    ("GET", "/exports/{export_id}/download"): any_page("agent.exports", "admin.exports"),
    ("GET", "/exports/{export_id}/downloads"): any_page("agent.exports", "admin.exports"),
    ("DELETE", "/exports/{export_id}"): any_page("agent.exports", "admin.exports"),
    ("POST", "/blacklist/{entry_id}/approve"): page("admin.customers"),
    ("POST", "/blacklist/{entry_id}/reject"): page("admin.customers"),
    ("DELETE", "/blacklist/{entry_id}"): page("admin.customers"),
    ("GET", "/history"): any_page("agent.history", "admin.history"),
    ("GET", "/history/{conversation_id}"): any_page("agent.history", "admin.history"),
    ("GET", "/history/{conversation_id}/messages"): any_page("agent.history", "admin.history"),
    ("GET", "/history/{conversation_id}/messages/search"): any_page(
        "agent.history", "admin.history"
    ),
    ("GET", "/history/settings"): any_page("agent.history", "admin.history"),
    ("GET", "/history/options"): any_page("agent.history", "admin.history"),
    ("GET", "/history/{conversation_id}/visitor-tags"): any_page("agent.history", "admin.history"),
    ("PUT", "/history/{conversation_id}/visitor-tags"): any_page("agent.history", "admin.history"),
    # Retention: History admins whose History scope is the whole tenant (as the custom roles here;
    # narrower scopes are refused: tests/test_history_retention.py).
    ("PUT", "/history/settings"): page("admin.history"),
    ("POST", "/history/{conversation_id}/blacklist"): any_page("agent.history", "admin.history"),
    # Search (§13.1, docs/search.md): either page (admin mode needs admin.search).
    ("GET", "/search"): any_page("agent.search", "admin.search"),
    ("POST", "/conversations/{conversation_id}/callback"): SESSIONS,  # one they took part in
    # Automations (§6, §7, docs/automations.md): settings; my overdue flags; a visitor's message.
    ("GET", "/automations/settings"): SIGNED_IN,
    ("PUT", "/automations/settings"): SWITCHES,
    ("GET", "/automations/overdue"): SIGNED_IN,
    ("POST", "/visitor/leave-message"): VISITOR,
    # Leave messages (§11.1, docs/leave-messages.md): either page reads and handles; agents
    # assign to themselves and change their own (the action checks; requests are made so).
    ("GET", "/visitor/leave-message/offer"): VISITOR,
    ("GET", "/leave-messages"): LEAVE,
    ("GET", "/leave-messages/badge"): LEAVE,
    ("GET", "/leave-messages/lookup"): LEAVE,
    ("GET", "/leave-messages/assignees"): LEAVE,
    ("GET", "/leave-messages/{message_id}"): LEAVE,
    ("POST", "/leave-messages/batch/assign"): LEAVE,
    ("POST", "/leave-messages/batch/status"): LEAVE,
    ("POST", "/leave-messages/{message_id}/assign"): LEAVE,
    ("POST", "/leave-messages/{message_id}/status"): LEAVE,
    ("POST", "/leave-messages/{message_id}/comments"): LEAVE,
    # Customer center (§12, docs/customers.md): list and records by either Customers page;
    # one profile also from the workbench and History; import by admins; settings page.
    ("GET", "/customers"): CUSTOMERS,
    ("GET", "/customers/template"): page("admin.customers"),
    ("POST", "/customers/import"): page("admin.customers"),
    ("GET", "/customers/{visitor_id}"): PROFILE,
    ("PATCH", "/customers/{visitor_id}"): PROFILE,
    ("GET", "/customers/{visitor_id}/conversations"): CUSTOMERS,
    ("GET", "/customers/{visitor_id}/conversations/{conversation_id}/messages"): CUSTOMERS,
    ("POST", "/customers/{visitor_id}/callback"): SESSIONS,  # one they served
    ("GET", "/customer-fields"): CUSTOMER_SETTINGS,
    ("POST", "/customer-fields"): CUSTOMER_SETTINGS,
    ("PUT", "/customer-fields/layout"): CUSTOMER_SETTINGS,
    ("PATCH", "/customer-fields/{field_id}"): CUSTOMER_SETTINGS,
    ("DELETE", "/customer-fields/{field_id}"): CUSTOMER_SETTINGS,
    ("GET", "/customer-groups"): any_page(
        "agent.customers", "admin.customers", "admin.settings.customer_settings"
    ),
    ("POST", "/customer-groups"): CUSTOMER_SETTINGS,
    ("PATCH", "/customer-groups/{group_id}"): CUSTOMER_SETTINGS,
    ("DELETE", "/customer-groups/{group_id}"): CUSTOMER_SETTINGS,
}

BASE_CALLERS = ("anon", "agent", "admin", "custom_none")
MATRIX_PAGES = sorted({p for a in MATRIX.values() for p in a.pages})
SEATS = 500
KEY = {"X-Kefu-Platform-Key": PLATFORM_KEY}


def callers_for(access: Access) -> list[str]:
    if access.kind == "any_page":
        # One custom role per page of the list (each alone lets the caller in), and one with
        # every page but those.
        return [
            *BASE_CALLERS,
            *(f"custom_page:{p}" for p in access.pages),
            f"custom_others:{'+'.join(access.pages)}",
        ]
    if access.page:
        return [*BASE_CALLERS, f"custom_page:{access.page}", f"custom_others:{access.page}"]
    return list(BASE_CALLERS)


def caller_pages(caller: str) -> list[str]:
    """The pages of a custom caller's role: "custom_page:<p>" has p; "custom_others:<p>+<q>"
    every page except p, q and their tabs (a History tab brings the History page with it)."""
    kind, _, arg = caller.partition(":")
    if kind == "custom_page":
        return [arg]
    assert kind == "custom_others", caller
    left_out = set(arg.split("+"))
    return sorted(k.key for k in PAGES if k.key not in left_out and k.parent not in left_out)


def allowed(access: Access, caller: str) -> bool:
    if access.kind == "public":
        return True
    if caller == "anon":
        return False
    if access.kind == "signed_in":
        return True
    assert access.pages
    if caller == "admin":
        return True
    if access.builtin_admin_only:
        return False
    if caller == "agent":
        return all(p in AGENT_PAGES for p in access.also_needs) and any(
            p in AGENT_PAGES for p in access.pages
        )
    if access.also_needs:
        return False  # a custom_page role holds only the guard's page
    return any(caller == f"custom_page:{p}" for p in access.pages)


CUSTOM_CALLERS = sorted(
    {
        c
        for a in MATRIX.values()
        for c in callers_for(a)
        if c.startswith(("custom_page:", "custom_others:"))
    }
    | {f"custom_page:{p}" for p in MATRIX_PAGES}
)


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
    data: Any = None  # multipart form fields (with `files`)
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
        self.role_ids: dict[str, int | None] = {
            "anon": None,
            "agent": self.t.roles["agent"],
            "admin": self.t.roles["admin"],
        }
        # Whether the caller's role has the workbench page, so conversations can be assigned to
        # them (the built-in Agent and Admin roles have it).
        self.can_hold: dict[str, bool] = {"anon": False, "agent": True, "admin": True}
        # Whether the caller's role may monitor others' conversations (Current sessions).
        self.can_monitor: dict[str, bool] = {"anon": False, "agent": False, "admin": True}
        self.role_ids["custom_none"] = self.new_role([])
        self.can_hold["custom_none"] = self.can_monitor["custom_none"] = False
        for caller in CUSTOM_CALLERS:
            pages = caller_pages(caller)
            self.role_ids[caller] = self.new_role(pages)
            self.can_hold[caller] = "agent.sessions" in pages
            self.can_monitor[caller] = "admin.current_sessions" in pages
        self.mfa_role = self.new_role([], require_mfa=True)
        self.sessions: dict[str, str | None] = {}
        self.sockets: list[Any] = []
        self._online: tuple[int, str] | None = None
        self.root_team = next(n["id"] for n in self.t.admin.ok("GET", "/teams") if n["is_root"])
        self.target_email = unique_email("target")
        self.target_user = self.new_user(self.t.roles["agent"], self.target_email)
        self.target_role = self.new_role(["agent.sessions"])
        self.target_team = self.new_team()
        # Chat: a widget, and a conversation held by an agent of its own ("the holder") -- the
        # one monitors whisper into, the visitor routes read, and refused callers are pointed at.
        self.chat = TenantChat(self.t)
        self.routing = TenantRouting(self.chat)
        self.target_widget = int(self.chat.new_widget()["id"])
        self.target_association = self.chat.new_association()
        holder_email = unique_email("holder")
        holder_id = self.new_user(self.t.roles["agent"], holder_email)
        # Many builders hand the holder fresh conversations (monitors end some, not all): room.
        self.t.admin.ok("PATCH", f"/users/{holder_id}", json={"max_concurrent": 100})
        self.holder_session = self.login(holder_email)
        self.shared: Held = self.routing.hold(self.holder_session)
        # Routing and dispatch (tests/world_routing.py): a plan; a group whose one member (the
        # target user) is never online, so what is transferred or reassigned to it waits in its
        # queue; a tag rules match and no visitor carries, a tag put on visitors; a routing and
        # an overflow rule, both off; a welcome menu, shown (switch on), and waiting details
        # opened to agents.
        r = self.routing
        self.target_plan = r.new_plan()
        self.target_group = r.new_group([self.target_user])
        self.rule_tag = r.new_tag()
        self.target_tag = r.new_tag()
        self.target_rule = r.new_routing_rule(self.rule_tag, self.target_group)
        self.target_overflow = r.new_overflow_rule()
        r.menu_item(self.target_group)
        # Agent-mode Customer center is on (§12.1: off hides the page).
        r.switches(waiting_detail=True, welcome_menu=True, customer_center_for_agents=True)
        self.shared_file = int(self.chat.upload(self.shared.visitor)["id"])
        self._held: dict[str, Held] = {}
        self._anon_notice: int | None = None

    # objects -----------------------------------------------------------------------------------
    def new_role(self, pages: list[str], require_mfa: bool = False) -> int:
        # Tenant-wide data scopes: a custom role granted Current sessions then monitors every
        # conversation, like the built-in Admin. (With the default skill-group scope it would see
        # only conversations it holds, and without the workbench page it can hold none.)
        role = self.t.admin.ok(
            "POST",
            "/roles",
            json={
                "name": _unique("r"),
                "pages": pages,
                "require_mfa": require_mfa,
                "data_scopes": dict.fromkeys(SCOPED_DATA, "tenant"),
            },
        )
        assert set(role["pages"]) == set(pages), role
        return int(role["id"])

    def new_user(self, role_id: int, email: str | None = None) -> int:
        email = email or unique_email("pm")
        user = self.t.admin.ok(
            "POST",
            "/users",
            json={"email": email, "password": PASSWORD, "nickname": email[:20], "role_id": role_id},
        )
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
        # Nobody reads this socket after hello: an unbounded queue keeps the client's reader
        # going (a full queue would stop it answering pings, and the client would drop the
        # socket -- the user then goes offline and cannot be forced).
        ws = ws_connect(
            _ws_url(self.base),
            open_timeout=10,
            proxy=None,
            max_queue=None,
            additional_headers={"Cookie": f"kefu_session={session}"},
        ).__enter__()
        self.sockets.append(ws)
        assert '"hello"' in str(ws.recv(timeout=10))  # sent once the socket counts as online
        return uid

    def close(self) -> None:
        for ws in self.sockets:
            ws.close()
        self.chat.close()
        self.transport.close()

    # conversations -------------------------------------------------------------------------------
    def held(self, caller: str) -> Held:
        """A conversation assigned to the caller (made once per caller), if their role can hold
        one; for anyone else -- refused by the chat routes anyway -- the holder's conversation."""
        if not self.can_hold[caller]:
            return self.shared
        if caller not in self._held:
            self._held[caller] = self.new_held(caller)
        return self._held[caller]

    def new_held(self, caller: str) -> Held:
        """A fresh conversation assigned to the caller (as `held`), for routes that end it."""
        session = self.session_of(caller)
        if not self.can_hold[caller] or session is None:
            return self.shared
        return self.routing.hold(session, self.client(session))

    def monitored(self, caller: str) -> Held:
        """For monitors: a fresh conversation of the holder's, to end; for anyone else (refused
        anyway) the holder's usual conversation."""
        if not self.can_monitor[caller]:
            return self.shared
        return self.routing.hold(self.holder_session, self.client(self.holder_session))

    def transfer_request(self, caller: str) -> int:
        """A pending transfer of one of the holder's conversations to the caller (anonymous
        callers: to the built-in agent caller)."""
        target = self.session_of(caller if caller != "anon" else "agent")
        assert target is not None
        return int(self.routing.transfer_request(self.holder_session, target)["id"])

    def own_notice(self, caller: str) -> int:
        """A notice in the caller's own message center: the tenant's admin changes their max
        concurrent (§2.2), which tells them. Anonymous callers get the target user's notice."""
        session = self.session_of(caller)
        if session is None:
            if self._anon_notice is None:
                email = unique_email("notice")
                self.new_user(self.t.roles["agent"], email)
                self._anon_notice = self.own_notice_of(self.login(email))
            return self._anon_notice
        return self.own_notice_of(session)

    def own_notice_of(self, session: str) -> int:
        with self.client(session) as c:
            me = c.get("/me").json()
            self.t.admin.ok(
                "PATCH",
                f"/users/{me['id']}",
                json={"max_concurrent": 11 if me["max_concurrent"] == 10 else 10},
            )
            r = c.get("/notifications")
        assert r.status_code == 200 and r.json()["items"], describe(r)
        return int(r.json()["items"][0]["id"])

    def pending_approval(self) -> int:
        """A new agent's pending status-change request (§2.1). The switch is on only meanwhile,
        so every other route (PUT /me/status among them) sees the default."""
        email = unique_email("asker")
        self.new_user(self.t.roles["agent"], email)
        self.t.admin.ok("PATCH", "/tenant/switches", json={"status_change_approval": True})
        try:
            with self.client(self.login(email)) as c:
                r = c.put("/me/status", json={"status": "busy", "reason": "matrix"})
        finally:
            self.t.admin.ok("PATCH", "/tenant/switches", json={"status_change_approval": False})
        assert r.status_code == 202, describe(r)
        return int(r.json()["approval"]["id"])

    def own_message(self, caller: str) -> tuple[int, int]:
        """(conversation, message): a message the caller just sent in their conversation, for
        recall (their own, within 2 minutes); for other callers, any message."""
        held = self.held(caller)
        session = self.session_of(caller)
        if not self.can_hold[caller] or session is None:
            return held.conversation_id, held.message_id
        with self.client(session) as c:
            r = c.post(
                f"/conversations/{held.conversation_id}/messages", json=text_body("to be recalled")
            )
        assert r.status_code == 201, describe(r)
        return held.conversation_id, int(r.json()["id"])

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
        return _Client(
            base_url=self.base + API_PREFIX,
            cookies=cookies,
            headers=headers or {},
            timeout=30,
            transport=self.transport,
        )

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
        return {
            "users": users,
            "roles": admin.ok("GET", "/roles"),
            "teams": admin.ok("GET", "/teams"),
            "tenant": admin.ok("GET", "/tenant"),
            "switches": admin.ok("GET", "/tenant/switches"),
            "audit": admin.ok("GET", "/audit-logs", params={"page_size": 1})["total"],
            "widgets": admin.ok("GET", "/widgets"),
            "associations": admin.ok("GET", "/associations"),
            # Every live conversation with its seq and last message: a refused send, end,
            # whisper or recall would show here.
            "ongoing": admin.ok("GET", "/current-sessions"),
            "waiting": admin.ok("GET", "/conversations", params={"state": "waiting"}),
            # Routing and dispatch configuration, and the queue as the Waiting page shows it.
            "time_plans": admin.ok("GET", "/time-plans"),
            # Idle counts follow presence, which moves by itself (see `_unchanged`).
            "skill_groups": [{**g, "idle_count": None} for g in admin.ok("GET", "/skill-groups")],
            "routing_rules": admin.ok("GET", "/routing-rules"),
            "dispatch_settings": admin.ok("GET", "/dispatch-settings"),
            "overflow_rules": admin.ok("GET", "/overflow-rules"),
            "welcome_menu": admin.ok("GET", "/welcome-menu"),
            "visitor_tags": admin.ok("GET", "/visitor-tags"),
            "shared_visitor_tags": admin.ok("GET", f"/visitors/{self.shared.visitor.id}/tags"),
            "queue": admin.ok("GET", "/waiting", params={"limit": 200}),
            # Canned replies: the public set and every submission.
            "canned_public": admin.ok("GET", "/canned/public"),
            "canned_submissions": admin.ok("GET", "/canned/submissions", params={"state": "all"}),
            "knowledge": kh.snapshot(admin),
        }


def _unchanged(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether the tenant is as it was. Presence moves by itself in one way: 30 s after a user's
    last socket closed (the chat helpers' sockets, the forced-status target's) a timer takes
    them offline. That move alone is not the request's doing; any other is."""
    was = {u["id"]: u.get("status") for u in before["users"]}
    users = [
        {**u, "status": was[u["id"]]} if u.get("status") == "offline" and u["id"] in was else u
        for u in after["users"]
    ]
    return {**after, "users": users} == before


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


def _xlsx_file(rows: list[list[str]]) -> dict[str, Any]:
    import io

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    for row in [["header"], *rows]:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return {"file": ("tags.xlsx", buf.getvalue(), xlsx)}


_SESSION_TAG_ROOTS: dict[int, int] = {}


def _session_tag_root(w: World) -> int:
    """One first-level session tag per World; routes create and move tags under it."""
    if id(w) not in _SESSION_TAG_ROOTS:
        tag = w.t.admin.ok("POST", "/session-tags", json={"name": _unique("root")})
        _SESSION_TAG_ROOTS[id(w)] = int(tag["id"])
    return _SESSION_TAG_ROOTS[id(w)]


def _session_tag(w: World) -> int:
    root = _session_tag_root(w)
    body = {"name": _unique("stag"), "parent_id": root}
    return int(w.t.admin.ok("POST", "/session-tags", json=body)["id"])


def _session_tag_import(w: World, c: str) -> Req:
    root = _session_tag_root(w)
    name = next(t["name"] for t in w.t.admin.ok("GET", "/session-tags") if t["id"] == root)
    return Req("POST", "/session-tags/import", files=_xlsx_file([[name, _unique("imp")]]))


def _session_tag_order(w: World, c: str) -> Req:
    root = _session_tag_root(w)
    kids = [t["id"] for t in w.t.admin.ok("GET", "/session-tags") if t["parent_id"] == root]
    if not kids:
        kids = [_session_tag(w)]
    return Req("PUT", "/session-tags/order", json={"parent_id": root, "tag_ids": kids[::-1]})


def _mfa_enable(w: World, caller: str) -> Req:
    session, code = w.mfa_ready(w.throwaway(caller), enable=False)
    return Req("POST", "/me/mfa/enable", session=session, json={"code": code})


def _mfa_disable(w: World, caller: str) -> Req:
    session, code = w.mfa_ready(w.throwaway(caller), enable=True)
    return Req("POST", "/me/mfa/disable", session=session, json={"code": code})


def _conv(suffix: str, method: str = "GET", **kw: Any) -> Builder:
    """A request on the caller's own conversation (`/conversations/{id}` + suffix)."""
    return lambda w, c: Req(method, f"/conversations/{w.held(c).conversation_id}{suffix}", **kw)


def _end(w: World, caller: str) -> Req:
    # Ending is for good: a fresh conversation of the caller's each time.
    return Req("POST", f"/conversations/{w.new_held(caller).conversation_id}/end")


def _recall(w: World, caller: str) -> Req:
    conv_id, message_id = w.own_message(caller)
    return Req("POST", f"/conversations/{conv_id}/messages/{message_id}/recall")


def _visitor(method: str, url: str, **kw: Any) -> Builder:
    """A visitor's request: the holder's conversation's visitor, whoever the staff caller is."""
    return lambda w, c: Req(method, url, headers=w.shared.visitor.headers, **kw)


def _visitor_conv(url: str) -> Builder:
    return lambda w, c: Req(
        "GET",
        url,
        headers=w.shared.visitor.headers,
        params={"conversation_id": w.shared.conversation_id},
    )


def _set_members(w: World, caller: str) -> Req:
    """The target group keeps its one member; a refused request would empty it, which shows."""
    ok = allowed(MATRIX[("PUT", "/skill-groups/{group_id}/members")], caller)
    return Req(
        "PUT",
        f"/skill-groups/{w.target_group}/members",
        json={"user_ids": [w.target_user] if ok else []},
    )


def _members_code(w: World, caller: str) -> Req:
    """As `_set_members`, by login email: allowed callers add the member again (no change),
    refused ones would remove them."""
    ok = allowed(MATRIX[("POST", "/skill-groups/{group_id}/members/code")], caller)
    return Req(
        "POST",
        f"/skill-groups/{w.target_group}/members/code",
        json={"text": w.target_email, "action": "add" if ok else "remove"},
    )


def _automations(w: World, caller: str) -> Req:
    """Every setting as it is, the leave-message button on (so visitors may leave messages) and
    the inactive timeout toggled between 3600 and 3601 seconds (timers stay off)."""
    body = w.t.admin.ok("GET", "/automations/settings")
    body.pop("updated_at")
    body["timers"]["waiting_reminder"]["leave_message"] = True
    body["timers"]["waiting_reminder"]["enabled"] = True
    body["timers"]["waiting_reminder"]["first_after"] = 7 * 24 * 3600
    seconds = body["timers"]["inactive"]["timeout"]
    body["timers"]["inactive"]["timeout"] = 3601 if seconds == 3600 else 3600
    return Req("PUT", "/automations/settings", json=body)


def _leave_message(w: World, caller: str) -> Req:
    """A new visitor waiting in the queue, with the leave-message button switched on."""
    w.t.admin.ok("PUT", "/automations/settings", json=_automations(w, caller).json)
    busy_everyone(w.t.admin)
    v = w.chat.new_visitor()
    w.chat.send(v)
    return Req(
        "POST",
        "/visitor/leave-message",
        headers=v.headers,
        json={"name": "Matrix", "phone": "13800138000", "content": "call me"},
    )


def _new_leave(w: World, caller: str | None = None) -> dict[str, Any]:
    """A new leave message (a waiting visitor's), assigned to the caller when they have a user
    (so that agents may change its status), else unassigned."""
    busy_everyone(w.t.admin)
    v = w.chat.new_visitor()
    w.chat.send(v)
    with httpx.Client(base_url=w.chat.api_url, timeout=30) as c:
        r = c.post(
            "/visitor/leave-message",
            headers=v.headers,
            json={"origin": "waiting", "content": "matrix"},
        )
    assert r.status_code == 201, describe(r)
    msg: dict[str, Any] = r.json()
    session = w.session_of(caller) if caller and caller != "anon" else None
    if session is not None:
        me = w.routing.user_id(session)
        w.t.admin.ok("POST", f"/leave-messages/{msg['id']}/assign", json={"assignee_id": me})
    return msg


def _leave_mode(caller: str) -> dict[str, str]:
    """No mode: the server opens the one the caller's pages allow (admin when they have it)."""
    return {}


def _leave_assign(w: World, caller: str, batch: bool) -> Req:
    """Agents may take an unassigned message for themselves: the caller's own user id."""
    msg = _new_leave(w)
    session = w.session_of(caller) if caller != "anon" else None
    me = w.routing.user_id(session) if session is not None else None
    if batch:
        return Req(
            "POST", "/leave-messages/batch/assign", json={"ids": [msg["id"]], "assignee_id": me}
        )
    return Req("POST", f"/leave-messages/{msg['id']}/assign", json={"assignee_id": me})


def _leave_status(w: World, caller: str, batch: bool) -> Req:
    msg = _new_leave(w, caller)
    if batch:
        return Req(
            "POST",
            "/leave-messages/batch/status",
            json={"ids": [msg["id"]], "status": "in_progress"},
        )
    return Req("POST", f"/leave-messages/{msg['id']}/status", json={"status": "in_progress"})


def _dispatch_settings(w: World, caller: str) -> Req:
    """Every field as it is, but the expiry of transfer confirmations: 120 <-> 121 seconds (long
    enough for the transfer requests made meanwhile)."""
    body = w.routing.dispatch_body()
    seconds = body["transfer_confirm_seconds"]
    body["transfer_confirm_seconds"] = 241 - seconds if seconds in (120, 121) else 120
    return Req("PUT", "/dispatch-settings", json=body)


def _export(w: World, caller: str, fresh: bool = False) -> int:
    """A finished export job of the caller's own (the admin's for callers the route refuses)."""
    owner = caller if allowed(MATRIX[("GET", "/exports/{export_id}")], caller) else "admin"
    cache: dict[str, int] = w.__dict__.setdefault("_exports", {})
    if fresh or owner not in cache:
        with w.client(w.session_of(owner)) as c:
            cache[owner] = eh.matrix_job(c)
    return cache[owner]


REQUESTS: dict[tuple[str, str], Builder] = {
    ("GET", "/health"): lambda w, c: Req("GET", "/health"),
    ("POST", "/auth/login"): lambda w, c: Req(
        "POST", "/auth/login", json={"email": w.t.admin_email, "password": w.t.admin_password}
    ),
    ("POST", "/auth/login/mfa"): lambda w, c: Req("POST", "/auth/login/mfa", json=w.pending_mfa()),
    # Ending or changing a session: done by a fresh user of the same role, not the caller's own.
    ("POST", "/auth/logout"): lambda w, c: Req("POST", "/auth/logout", session=w.throwaway(c)),
    ("POST", "/auth/password/forgot"): lambda w, c: Req(
        "POST", "/auth/password/forgot", json={"email": w.t.admin_email}
    ),
    ("POST", "/auth/password/reset"): lambda w, c: Req(
        "POST",
        "/auth/password/reset",
        json={"token": w.reset_token(), "new_password": "Reset-passw0rd"},
    ),
    ("GET", "/me"): lambda w, c: Req("GET", "/me"),
    ("PATCH", "/me"): lambda w, c: Req("PATCH", "/me", json={"greeting_text": "hello"}),
    ("POST", "/me/password"): lambda w, c: Req(
        "POST",
        "/me/password",
        session=w.throwaway(c),
        json={"old_password": PASSWORD, "new_password": "Changed-passw0rd"},
    ),
    ("POST", "/me/avatar"): lambda w, c: Req("POST", "/me/avatar", files=_png()),
    ("POST", "/me/mfa/setup"): lambda w, c: Req("POST", "/me/mfa/setup", session=w.throwaway(c)),
    ("POST", "/me/mfa/enable"): _mfa_enable,
    ("POST", "/me/mfa/disable"): _mfa_disable,
    ("GET", "/users/{user_id}/avatar"): lambda w, c: Req("GET", f"/users/{w.target_user}/avatar"),
    ("GET", "/users"): lambda w, c: Req("GET", "/users"),
    ("POST", "/users"): lambda w, c: Req(
        "POST",
        "/users",
        json={
            "email": unique_email("new"),
            "password": PASSWORD,
            "nickname": _unique("new"),
            "role_id": w.t.roles["agent"],
        },
    ),
    ("GET", "/users/{user_id}"): lambda w, c: Req("GET", f"/users/{w.target_user}"),
    ("PATCH", "/users/{user_id}"): lambda w, c: Req(
        "PATCH", f"/users/{w.target_user}", json={"nickname": _unique("nick")}
    ),
    # Destructive routes act on throwaway objects.
    ("DELETE", "/users/{user_id}"): lambda w, c: Req(
        "DELETE", f"/users/{w.new_user(w.t.roles['agent'])}"
    ),
    ("POST", "/users/{user_id}/password-reset"): lambda w, c: Req(
        "POST", f"/users/{w.target_user}/password-reset"
    ),
    ("GET", "/permissions/catalogue"): lambda w, c: Req("GET", "/permissions/catalogue"),
    ("GET", "/roles"): lambda w, c: Req("GET", "/roles"),
    ("POST", "/roles"): lambda w, c: Req("POST", "/roles", json={"name": _unique("role")}),
    ("GET", "/roles/{role_id}"): lambda w, c: Req("GET", f"/roles/{w.target_role}"),
    ("PATCH", "/roles/{role_id}"): lambda w, c: Req(
        "PATCH", f"/roles/{w.target_role}", json={"name": _unique("role")}
    ),
    ("DELETE", "/roles/{role_id}"): lambda w, c: Req("DELETE", f"/roles/{w.new_role([])}"),
    ("GET", "/teams"): lambda w, c: Req("GET", "/teams"),
    ("GET", "/teams/people"): lambda w, c: Req("GET", "/teams/people"),
    ("POST", "/teams"): lambda w, c: Req(
        "POST", "/teams", json={"name": _unique("team"), "parent_id": w.root_team}
    ),
    ("PATCH", "/teams/{team_id}"): lambda w, c: Req(
        "PATCH", f"/teams/{w.target_team}", json={"name": _unique("team")}
    ),
    ("DELETE", "/teams/{team_id}"): lambda w, c: Req("DELETE", f"/teams/{w.new_team()}"),
    ("PUT", "/teams/{team_id}/members"): lambda w, c: Req(
        "PUT", f"/teams/{w.target_team}/members", json={"user_ids": [w.target_user]}
    ),
    ("GET", "/tenant"): lambda w, c: Req("GET", "/tenant"),
    ("PATCH", "/tenant"): lambda w, c: Req("PATCH", "/tenant", json={"remark": _unique("remark")}),
    ("POST", "/tenant/logo"): lambda w, c: Req("POST", "/tenant/logo", files=_png()),
    ("GET", "/tenant/logo"): lambda w, c: Req("GET", "/tenant/logo", params={"tenant_id": w.t.id}),
    ("GET", "/tenant/switches"): lambda w, c: Req("GET", "/tenant/switches"),
    ("PATCH", "/tenant/switches"): lambda w, c: Req(
        "PATCH", "/tenant/switches", json={"agent_custom_max_concurrent": False}
    ),
    ("GET", "/audit-logs"): lambda w, c: Req("GET", "/audit-logs"),
    ("GET", "/presence"): lambda w, c: Req("GET", "/presence"),
    ("PUT", "/me/status"): lambda w, c: Req("PUT", "/me/status", json={"status": "busy"}),
    # Forcing needs the target online: it opens a socket for the request.
    ("PUT", "/users/{user_id}/status"): lambda w, c: Req(
        "PUT", f"/users/{w.online_user()}/status", json={"status": "away"}
    ),
    ("POST", "/platform/tenants"): lambda w, c: Req(
        "POST",
        "/platform/tenants",
        json={"name": "Platform probe", "admin_email": unique_email("plat"), "seats": 1},
    ),
    ("GET", "/platform/tenants/{tenant_id}"): lambda w, c: Req(
        "GET", f"/platform/tenants/{w.t.id}"
    ),
    ("PATCH", "/platform/tenants/{tenant_id}"): lambda w, c: Req(
        "PATCH", f"/platform/tenants/{w.t.id}", json={"seats": SEATS}
    ),
    # Chat, staff side: allowed callers act on a conversation assigned to them (w.held).
    ("GET", "/conversations"): lambda w, c: Req("GET", "/conversations"),
    ("GET", "/conversations/{conversation_id}"): _conv(""),
    ("GET", "/conversations/{conversation_id}/messages"): _conv("/messages"),
    ("GET", "/conversations/{conversation_id}/events"): _conv("/events"),
    ("GET", "/conversations/{conversation_id}/prior-messages"): _conv("/prior-messages"),
    ("GET", "/conversations/{conversation_id}/visitor"): _conv("/visitor"),
    ("POST", "/conversations/{conversation_id}/messages"): lambda w, c: _conv(
        "/messages", "POST", json=text_body("hello from the matrix")
    )(w, c),
    ("POST", "/conversations/{conversation_id}/messages/{message_id}/recall"): _recall,
    ("POST", "/conversations/{conversation_id}/attachments"): lambda w, c: _conv(
        "/attachments", "POST", files=_png(), data={"kind": "image"}
    )(w, c),
    ("POST", "/conversations/{conversation_id}/read"): _conv("/read", "POST", json={"seq": 1}),
    ("POST", "/conversations/{conversation_id}/end"): _end,
    ("PATCH", "/visitors/{visitor_id}"): lambda w, c: Req(
        "PATCH", f"/visitors/{w.held(c).visitor.id}", json={"remark": _unique("remark")}
    ),
    ("GET", "/me/today"): lambda w, c: Req("GET", "/me/today"),
    # Monitors see the holder's conversation (tenant-wide scope) and whisper into it.
    ("GET", "/current-sessions"): lambda w, c: Req("GET", "/current-sessions"),
    ("GET", "/current-sessions/{conversation_id}"): lambda w, c: Req(
        "GET", f"/current-sessions/{w.shared.conversation_id}"
    ),
    ("GET", "/current-sessions/{conversation_id}/messages"): lambda w, c: Req(
        "GET", f"/current-sessions/{w.shared.conversation_id}/messages"
    ),
    ("POST", "/current-sessions/{conversation_id}/end"): lambda w, c: Req(
        "POST", f"/current-sessions/{w.monitored(c).conversation_id}/end"
    ),
    ("POST", "/conversations/{conversation_id}/whisper"): lambda w, c: Req(
        "POST",
        f"/conversations/{w.shared.conversation_id}/whisper",
        json={"client_msg_id": cid(), "text": "a word to the agent"},
    ),
    ("GET", "/widgets"): lambda w, c: Req("GET", "/widgets"),
    ("POST", "/widgets"): lambda w, c: Req("POST", "/widgets", json={"name": _unique("site")}),
    ("GET", "/widgets/{widget_id}"): lambda w, c: Req("GET", f"/widgets/{w.target_widget}"),
    ("PATCH", "/widgets/{widget_id}"): lambda w, c: Req(
        "PATCH", f"/widgets/{w.target_widget}", json={"title": _unique("title")}
    ),
    ("DELETE", "/widgets/{widget_id}"): lambda w, c: Req(
        "DELETE", f"/widgets/{w.chat.new_widget()['id']}"
    ),
    ("POST", "/widgets/{widget_id}/secret"): lambda w, c: Req(
        "POST", f"/widgets/{w.target_widget}/secret"
    ),
    ("GET", "/associations"): lambda w, c: Req("GET", "/associations"),
    ("POST", "/associations"): lambda w, c: Req(
        "POST", "/associations", json={"name": _unique("assoc")}
    ),
    ("PATCH", "/associations/{association_id}"): lambda w, c: Req(
        "PATCH", f"/associations/{w.target_association}", json={"name": _unique("assoc")}
    ),
    ("DELETE", "/associations/{association_id}"): lambda w, c: Req(
        "DELETE", f"/associations/{w.chat.new_association()}"
    ),
    # Chat, visitor side: a registered visitor's token; the staff session is irrelevant.
    ("GET", "/public/widgets/{key}"): lambda w, c: Req(
        "GET", f"/public/widgets/{w.chat.widget['key']}"
    ),
    ("POST", "/visitor/session"): lambda w, c: Req(
        "POST",
        "/visitor/session",
        json={"widget_key": w.chat.widget["key"], "token": visitor_token()},
    ),
    ("GET", "/visitor/conversation"): _visitor("GET", "/visitor/conversation"),
    ("GET", "/visitor/messages"): _visitor_conv("/visitor/messages"),
    ("GET", "/visitor/events"): _visitor_conv("/visitor/events"),
    ("GET", "/visitor/prior-messages"): _visitor("GET", "/visitor/prior-messages"),
    ("POST", "/visitor/messages"): lambda w, c: _visitor(
        "POST", "/visitor/messages", json=text_body("hello from the visitor")
    )(w, c),
    ("POST", "/visitor/attachments"): lambda w, c: _visitor(
        "POST", "/visitor/attachments", files=_png(), data={"kind": "image"}
    )(w, c),
    ("GET", "/files/{attachment_id}"): lambda w, c: Req(
        "GET", w.chat.file_path(w.shared_file), params=w.chat.signed_params(w.shared_file)
    ),
    ("GET", "/colleagues/unread"): lambda w, c: Req("GET", "/colleagues/unread"),
    ("GET", "/colleagues/{user_id}/messages"): lambda w, c: Req(
        "GET", f"/colleagues/{w.target_user}/messages"
    ),
    ("POST", "/colleagues/{user_id}/messages"): lambda w, c: Req(
        "POST",
        f"/colleagues/{w.target_user}/messages",
        json={"client_msg_id": cid(), "text": "hello, colleague"},
    ),
    ("POST", "/colleagues/{user_id}/read"): lambda w, c: Req(
        "POST", f"/colleagues/{w.target_user}/read"
    ),
    ("GET", "/notifications"): lambda w, c: Req("GET", "/notifications"),
    ("GET", "/notifications/unread-count"): lambda w, c: Req("GET", "/notifications/unread-count"),
    ("POST", "/notifications/read-all"): lambda w, c: Req("POST", "/notifications/read-all"),
    ("POST", "/notifications/{notification_id}/read"): lambda w, c: Req(
        "POST", f"/notifications/{w.own_notice(c)}/read"
    ),
    ("GET", "/announcements/recipients"): lambda w, c: Req("GET", "/announcements/recipients"),
    ("POST", "/announcements/attachments"): lambda w, c: Req(
        "POST",
        "/announcements/attachments",
        files={"file": ("a.txt", b"x", "text/plain")},
        data={"kind": "file"},
    ),
    ("POST", "/announcements"): lambda w, c: Req(
        "POST", "/announcements", json={"subject": _unique("notice"), "audience": {"all": True}}
    ),
    ("GET", "/announcements"): lambda w, c: Req("GET", "/announcements"),
    # Sent to everyone just now, so every signed-in caller is a recipient.
    ("GET", "/announcements/{announcement_id}"): lambda w, c: Req(
        "GET",
        "/announcements/{}".format(
            w.t.admin.ok(
                "POST", "/announcements", json={"subject": "m", "audience": {"all": True}}
            )["id"]
        ),
    ),
    ("GET", "/approvals"): lambda w, c: Req("GET", "/approvals"),
    # Deciding is once per request: a fresh pending one each time.
    ("POST", "/approvals/{approval_id}/approve"): lambda w, c: Req(
        "POST", f"/approvals/{w.pending_approval()}/approve"
    ),
    ("POST", "/approvals/{approval_id}/reject"): lambda w, c: Req(
        "POST", f"/approvals/{w.pending_approval()}/reject", json={"comment": "no"}
    ),
    # Routing and dispatch: configuration objects of the World; deleted ones made afresh.
    ("GET", "/time-plans"): lambda w, c: Req("GET", "/time-plans"),
    ("POST", "/time-plans"): lambda w, c: Req(
        "POST", "/time-plans", json={"name": _unique("plan"), "weekly": {"1": [["09:00", "18:00"]]}}
    ),
    ("GET", "/time-plans/{plan_id}"): lambda w, c: Req("GET", f"/time-plans/{w.target_plan}"),
    ("PATCH", "/time-plans/{plan_id}"): lambda w, c: Req(
        "PATCH", f"/time-plans/{w.target_plan}", json={"name": _unique("plan")}
    ),
    ("DELETE", "/time-plans/{plan_id}"): lambda w, c: Req(
        "DELETE", f"/time-plans/{w.routing.new_plan()}"
    ),
    ("GET", "/time-plans/{plan_id}/status"): lambda w, c: Req(
        "GET", f"/time-plans/{w.target_plan}/status", params={"at": "2024-06-11T10:00:00+08:00"}
    ),
    ("GET", "/skill-groups"): lambda w, c: Req("GET", "/skill-groups"),
    ("POST", "/skill-groups"): lambda w, c: Req(
        "POST", "/skill-groups", json={"name": _unique("group"), "greeting": "hello"}
    ),
    ("GET", "/skill-groups/candidates"): lambda w, c: Req("GET", "/skill-groups/candidates"),
    ("GET", "/skill-groups/{group_id}"): lambda w, c: Req("GET", f"/skill-groups/{w.target_group}"),
    ("PATCH", "/skill-groups/{group_id}"): lambda w, c: Req(
        "PATCH", f"/skill-groups/{w.target_group}", json={"name": _unique("group")}
    ),
    ("DELETE", "/skill-groups/{group_id}"): lambda w, c: Req(
        "DELETE", f"/skill-groups/{w.routing.new_group()}"
    ),
    ("GET", "/skill-groups/{group_id}/members"): lambda w, c: Req(
        "GET", f"/skill-groups/{w.target_group}/members"
    ),
    ("PUT", "/skill-groups/{group_id}/members"): _set_members,
    ("POST", "/skill-groups/{group_id}/members/code"): _members_code,
    ("GET", "/me/favourite-groups"): lambda w, c: Req("GET", "/me/favourite-groups"),
    ("PUT", "/me/favourite-groups"): lambda w, c: Req(
        "PUT", "/me/favourite-groups", json={"skill_group_ids": [w.target_group]}
    ),
    ("GET", "/routing-rules"): lambda w, c: Req("GET", "/routing-rules"),
    ("POST", "/routing-rules"): lambda w, c: Req(
        "POST", "/routing-rules", json=w.routing.routing_rule_body(w.rule_tag, w.target_group)
    ),
    # Every customer-info rule, in the reverse of the current order.
    ("PUT", "/routing-rules/order"): lambda w, c: Req(
        "PUT",
        "/routing-rules/order",
        json={
            "ids": [
                r["id"] for r in w.t.admin.ok("GET", "/routing-rules", params={"kind": "customer"})
            ][::-1]
        },
    ),
    ("PATCH", "/routing-rules/{rule_id}"): lambda w, c: Req(
        "PATCH", f"/routing-rules/{w.target_rule}", json={"name": _unique("rule")}
    ),
    ("DELETE", "/routing-rules/{rule_id}"): lambda w, c: Req(
        "DELETE", f"/routing-rules/{w.routing.new_routing_rule(w.rule_tag, w.target_group)}"
    ),
    ("GET", "/dispatch-settings"): lambda w, c: Req("GET", "/dispatch-settings"),
    ("PUT", "/dispatch-settings"): _dispatch_settings,
    ("GET", "/overflow-rules"): lambda w, c: Req("GET", "/overflow-rules"),
    ("POST", "/overflow-rules"): lambda w, c: Req(
        "POST", "/overflow-rules", json=w.routing.overflow_rule_body()
    ),
    ("PATCH", "/overflow-rules/{rule_id}"): lambda w, c: Req(
        "PATCH", f"/overflow-rules/{w.target_overflow}", json={"name": _unique("overflow")}
    ),
    ("DELETE", "/overflow-rules/{rule_id}"): lambda w, c: Req(
        "DELETE", f"/overflow-rules/{w.routing.new_overflow_rule()}"
    ),
    ("GET", "/welcome-menu"): lambda w, c: Req("GET", "/welcome-menu"),
    ("PUT", "/welcome-menu"): lambda w, c: Req(
        "PUT",
        "/welcome-menu",
        json={"items": [{"label": _unique("menu"), "skill_group_id": w.target_group}]},
    ),
    ("GET", "/visitor-tags"): lambda w, c: Req("GET", "/visitor-tags"),
    ("POST", "/visitor-tags"): lambda w, c: Req(
        "POST", "/visitor-tags", json={"name": _unique("tag"), "color": "#67c23a"}
    ),
    ("PATCH", "/visitor-tags/{tag_id}"): lambda w, c: Req(
        "PATCH", f"/visitor-tags/{w.target_tag}", json={"name": _unique("tag")}
    ),
    ("DELETE", "/visitor-tags/{tag_id}"): lambda w, c: Req(
        "DELETE", f"/visitor-tags/{w.routing.new_tag()}"
    ),
    ("GET", "/visitor-tags/template"): lambda w, c: Req("GET", "/visitor-tags/template"),
    ("GET", "/visitor-tags/export"): lambda w, c: Req("GET", "/visitor-tags/export"),
    ("POST", "/visitor-tags/import"): lambda w, c: Req(
        "POST", "/visitor-tags/import", files=_xlsx_file([[_unique("vt")]])
    ),
    # Session tags: fresh ones under one first-level tag of the World.
    ("GET", "/session-tags"): lambda w, c: Req("GET", "/session-tags"),
    ("GET", "/session-tags/suggested"): lambda w, c: Req("GET", "/session-tags/suggested"),
    ("POST", "/session-tags"): lambda w, c: Req(
        "POST", "/session-tags", json={"name": _unique("stag"), "parent_id": _session_tag_root(w)}
    ),
    ("PUT", "/session-tags/order"): _session_tag_order,
    ("GET", "/session-tags/template"): lambda w, c: Req("GET", "/session-tags/template"),
    ("GET", "/session-tags/export"): lambda w, c: Req("GET", "/session-tags/export"),
    ("POST", "/session-tags/import"): _session_tag_import,
    ("PATCH", "/session-tags/{session_tag_id}"): lambda w, c: Req(
        "PATCH", f"/session-tags/{_session_tag(w)}", json={"name": _unique("stag")}
    ),
    ("DELETE", "/session-tags/{session_tag_id}"): lambda w, c: Req(
        "DELETE", f"/session-tags/{_session_tag(w)}"
    ),
    # The caller's own conversation (monitors and History admins: the holder's, refused
    # callers: the holder's too).
    ("GET", "/conversations/{conversation_id}/session-tags"): lambda w, c: Req(
        "GET", f"/conversations/{w.held(c).conversation_id}/session-tags"
    ),
    ("PUT", "/conversations/{conversation_id}/session-tags"): lambda w, c: Req(
        "PUT",
        f"/conversations/{w.held(c).conversation_id}/session-tags",
        json={"tag_ids": [_session_tag(w)], "remark": "matrix"},
    ),
    # A visitor of the caller's own conversation (refused callers: the holder's visitor).
    ("GET", "/visitors/{visitor_id}/tags"): lambda w, c: Req(
        "GET", f"/visitors/{w.held(c).visitor.id}/tags"
    ),
    ("PUT", "/visitors/{visitor_id}/tags"): lambda w, c: Req(
        "PUT", f"/visitors/{w.held(c).visitor.id}/tags", json={"tag_ids": [w.target_tag]}
    ),
    # The queue: callers in no group see the Ungrouped queue, admins all of it. Each request
    # acts on a conversation of its own, waiting there.
    ("GET", "/waiting"): lambda w, c: Req("GET", "/waiting"),
    ("POST", "/waiting/{conversation_id}/pickup"): lambda w, c: Req(
        "POST", f"/waiting/{w.routing.waiting_conversation()}/pickup"
    ),
    ("GET", "/waiting/{conversation_id}/messages"): lambda w, c: Req(
        "GET", f"/waiting/{w.routing.waiting_conversation()}/messages"
    ),
    ("POST", "/waiting/{conversation_id}/transfer"): lambda w, c: Req(
        "POST",
        f"/waiting/{w.routing.waiting_conversation()}/transfer",
        json={"skill_group_id": w.target_group},
    ),
    ("POST", "/waiting/{conversation_id}/end"): lambda w, c: Req(
        "POST", f"/waiting/{w.routing.waiting_conversation()}/end"
    ),
    ("GET", "/transfer-targets"): lambda w, c: Req("GET", "/transfer-targets"),
    # The holder transfers to the group (where it waits); a fresh conversation each time.
    ("POST", "/conversations/{conversation_id}/transfer"): lambda w, c: Req(
        "POST",
        f"/conversations/{w.new_held(c).conversation_id}/transfer",
        json={"skill_group_id": w.target_group},
    ),
    ("GET", "/transfer-requests"): lambda w, c: Req("GET", "/transfer-requests"),
    # Deciding is once per request: a fresh one, addressed to the caller.
    ("POST", "/transfer-requests/{request_id}/accept"): lambda w, c: Req(
        "POST", f"/transfer-requests/{w.transfer_request(c)}/accept"
    ),
    ("POST", "/transfer-requests/{request_id}/reject"): lambda w, c: Req(
        "POST", f"/transfer-requests/{w.transfer_request(c)}/reject"
    ),
    # An ended conversation (its visitor has no other) gets a new one, waiting in the group.
    ("POST", "/conversations/{conversation_id}/reassign"): lambda w, c: Req(
        "POST",
        f"/conversations/{w.routing.ended_conversation()}/reassign",
        json={"skill_group_id": w.target_group},
    ),
    ("POST", "/visitor/menu-choice"): lambda w, c: _visitor(
        "POST",
        "/visitor/menu-choice",
        json={"item_id": w.routing.menu_item(w.target_group), "client_msg_id": cid()},
    )(w, c),
    # Knowledge base (tests/world_knowledge.py): deletes act on fresh objects.
    ("GET", "/knowledge/categories"): lambda w, c: Req("GET", "/knowledge/categories"),
    ("POST", "/knowledge/categories"): lambda w, c: Req(
        "POST", "/knowledge/categories", json={"name": kh.unique("kc")}
    ),
    ("PUT", "/knowledge/categories/order"): lambda w, c: Req(
        "PUT", "/knowledge/categories/order", json=kh.kb_of(w).order_body()
    ),
    ("PATCH", "/knowledge/categories/{knowledge_category_id}"): lambda w, c: Req(
        "PATCH", f"/knowledge/categories/{kh.kb_of(w).category()}", json={"name": kh.unique("kc")}
    ),
    ("DELETE", "/knowledge/categories/{knowledge_category_id}"): lambda w, c: Req(
        "DELETE", f"/knowledge/categories/{kh.kb_of(w).fresh_category()}"
    ),
    ("GET", "/knowledge/items"): lambda w, c: Req("GET", "/knowledge/items"),
    ("POST", "/knowledge/items"): lambda w, c: Req(
        "POST",
        "/knowledge/items",
        json={"category_id": kh.kb_of(w).category(), "title": kh.unique("ki")},
    ),
    ("GET", "/knowledge/items/{knowledge_item_id}"): lambda w, c: Req(
        "GET", f"/knowledge/items/{kh.kb_of(w).item()}"
    ),
    ("PATCH", "/knowledge/items/{knowledge_item_id}"): lambda w, c: Req(
        "PATCH", f"/knowledge/items/{kh.kb_of(w).item()}", json={"title": kh.unique("ki")}
    ),
    ("DELETE", "/knowledge/items/{knowledge_item_id}"): lambda w, c: Req(
        "DELETE", f"/knowledge/items/{kh.kb_of(w).fresh_item()}"
    ),
    ("POST", "/knowledge/files"): lambda w, c: Req(
        "POST", "/knowledge/files", files=kh.upload_files(), data={"kind": "file"}
    ),
    ("GET", "/knowledge/assets/{asset}"): lambda w, c: Req("GET", kh.kb_of(w).asset()),
    ("GET", "/knowledge/export"): lambda w, c: Req("GET", "/knowledge/export"),
    ("POST", "/knowledge/import"): lambda w, c: Req(
        "POST", "/knowledge/import", files=kh.import_files()
    ),
    ("GET", "/knowledge/settings"): lambda w, c: Req("GET", "/knowledge/settings"),
    ("PUT", "/knowledge/settings"): lambda w, c: Req(
        "PUT", "/knowledge/settings", json=kh.kb_of(w).settings_body()
    ),
    ("POST", "/conversations/{conversation_id}/knowledge/{knowledge_item_id}/send"): (
        lambda w, c: Req(
            "POST",
            f"/conversations/{w.held(c).conversation_id}/knowledge/{kh.kb_of(w).item()}/send",
            json={"client_msg_id": cid()},
        )
    ),
    # Canned replies (tests/world_canned.py): personal routes on the caller's own objects;
    # deleting and deciding act on fresh ones.
    ("GET", "/canned/public"): lambda w, c: Req("GET", "/canned/public"),
    ("POST", "/canned/public/categories"): lambda w, c: Req(
        "POST", "/canned/public/categories", json={"name": ch.unique("c")}
    ),
    ("PATCH", "/canned/public/categories/{canned_category_id}"): lambda w, c: Req(
        "PATCH",
        f"/canned/public/categories/{ch.canned_of(w).category()}",
        json={"name": ch.unique("c")},
    ),
    ("DELETE", "/canned/public/categories/{canned_category_id}"): lambda w, c: Req(
        "DELETE", f"/canned/public/categories/{ch.canned_of(w).fresh_category()}"
    ),
    ("POST", "/canned/public/replies"): lambda w, c: Req(
        "POST",
        "/canned/public/replies",
        json={"category_id": ch.canned_of(w).category(), "text": ch.unique("r")},
    ),
    ("PATCH", "/canned/public/replies/{canned_reply_id}"): lambda w, c: Req(
        "PATCH", f"/canned/public/replies/{ch.canned_of(w).reply()}", json={"text": ch.unique("r")}
    ),
    ("DELETE", "/canned/public/replies/{canned_reply_id}"): lambda w, c: Req(
        "DELETE", f"/canned/public/replies/{ch.canned_of(w).fresh_reply()}"
    ),
    ("GET", "/canned/public/export"): lambda w, c: Req("GET", "/canned/public/export"),
    ("POST", "/canned/public/import"): lambda w, c: Req(
        "POST", "/canned/public/import", files=ch.import_files()
    ),
    ("GET", "/canned/personal"): lambda w, c: Req("GET", "/canned/personal"),
    ("POST", "/canned/personal/categories"): lambda w, c: Req(
        "POST", "/canned/personal/categories", json={"name": ch.unique("p")}
    ),
    ("PATCH", "/canned/personal/categories/{canned_category_id}"): lambda w, c: Req(
        "PATCH",
        f"/canned/personal/categories/{ch.canned_of(w).own_category(c)}",
        json={"name": ch.unique("p")},
    ),
    ("DELETE", "/canned/personal/categories/{canned_category_id}"): lambda w, c: Req(
        "DELETE", f"/canned/personal/categories/{ch.canned_of(w).own_category(c)}"
    ),
    ("POST", "/canned/personal/replies"): lambda w, c: Req(
        "POST", "/canned/personal/replies", json={"text": ch.unique("p")}
    ),
    ("PATCH", "/canned/personal/replies/{canned_reply_id}"): lambda w, c: Req(
        "PATCH",
        f"/canned/personal/replies/{ch.canned_of(w).own_reply(c)}",
        json={"text": ch.unique("p")},
    ),
    ("DELETE", "/canned/personal/replies/{canned_reply_id}"): lambda w, c: Req(
        "DELETE", f"/canned/personal/replies/{ch.canned_of(w).own_reply(c)}"
    ),
    ("GET", "/canned/personal/export"): lambda w, c: Req("GET", "/canned/personal/export"),
    ("POST", "/canned/personal/import"): lambda w, c: Req(
        "POST", "/canned/personal/import", files=ch.import_files()
    ),
    ("GET", "/canned/template"): lambda w, c: Req("GET", "/canned/template"),
    ("GET", "/canned/suggest"): lambda w, c: Req("GET", "/canned/suggest", params={"q": "reply"}),
    ("POST", "/canned/replies/{canned_reply_id}/used"): lambda w, c: Req(
        "POST", f"/canned/replies/{ch.canned_of(w).reply()}/used"
    ),
    ("PUT", "/canned/replies/{canned_reply_id}/pin"): lambda w, c: Req(
        "PUT", f"/canned/replies/{ch.canned_of(w).reply()}/pin"
    ),
    ("DELETE", "/canned/replies/{canned_reply_id}/pin"): lambda w, c: Req(
        "DELETE", f"/canned/replies/{ch.canned_of(w).reply()}/pin"
    ),
    ("GET", "/canned/prefs"): lambda w, c: Req("GET", "/canned/prefs"),
    ("PUT", "/canned/prefs"): lambda w, c: Req("PUT", "/canned/prefs", json={"sort": "smart"}),
    ("POST", "/canned/submissions"): lambda w, c: Req(
        "POST",
        "/canned/submissions",
        json={
            "reply_id": ch.canned_of(w).own_reply(c),
            "category_id": ch.canned_of(w).category(),
            "reason": "matrix",
        },
    ),
    ("GET", "/canned/submissions/mine"): lambda w, c: Req("GET", "/canned/submissions/mine"),
    ("GET", "/canned/submissions"): lambda w, c: Req("GET", "/canned/submissions"),
    ("POST", "/canned/submissions/{canned_submission_id}/accept"): lambda w, c: Req(
        "POST", f"/canned/submissions/{ch.canned_of(w).pending()}/accept"
    ),
    ("POST", "/canned/submissions/{canned_submission_id}/reject"): lambda w, c: Req(
        "POST", f"/canned/submissions/{ch.canned_of(w).pending()}/reject", json={"comment": "no"}
    ),
    # Satisfaction: inviting is once per conversation, so a fresh one of the caller's each time.
    ("GET", "/csat/settings"): lambda w, c: Req("GET", "/csat/settings"),
    ("PUT", "/csat/settings"): lambda w, c: Req(
        "PUT",
        "/csat/settings",
        json={
            "invite_text": _unique("rate us"),
            "stars": [{"score": n, "text": f"{n} stars", "tags": []} for n in range(1, 6)],
        },
    ),
    ("GET", "/conversations/{conversation_id}/csat"): _conv("/csat"),
    ("POST", "/conversations/{conversation_id}/csat-invite"): lambda w, c: Req(
        "POST", f"/conversations/{w.new_held(c).conversation_id}/csat-invite"
    ),
    ("GET", "/visitor/csat"): _visitor_conv("/visitor/csat"),
    ("POST", "/visitor/csat"): lambda w, c: Req(
        "POST",
        "/visitor/csat",
        headers=w.shared.visitor.headers,
        json={"conversation_id": w.shared.conversation_id, "score": 5},
    ),
    # Blacklist, History, callback (tests/world_history.py): fresh objects each time.
    ("POST", "/conversations/{conversation_id}/blacklist"): lambda w, c: Req(
        "POST", f"/conversations/{w.new_held(c).conversation_id}/blacklist", json={"reason": "m"}
    ),
    ("POST", "/blacklist"): lambda w, c: Req(
        "POST", "/blacklist", json={"visitor_id": hs.blacklist_visitor(w, c), "reason": "m"}
    ),
    ("GET", "/blacklist"): lambda w, c: Req("GET", "/blacklist"),
    ("POST", "/exports"): lambda w, c: Req("POST", "/exports", json=eh.matrix_body()),
    ("GET", "/exports"): lambda w, c: Req("GET", "/exports"),
    ("GET", "/exports/{export_id}"): lambda w, c: Req("GET", f"/exports/{_export(w, c)}"),
    ("GET", "/exports/{export_id}/download"): lambda w, c: Req(
        "GET", f"/exports/{_export(w, c)}/download"
    ),
    ("GET", "/exports/{export_id}/downloads"): lambda w, c: Req(
        "GET", f"/exports/{_export(w, c)}/downloads"
    ),
    ("DELETE", "/exports/{export_id}"): lambda w, c: Req(
        "DELETE", f"/exports/{_export(w, c, fresh=True)}"
    ),
    ("POST", "/blacklist/{entry_id}/approve"): lambda w, c: Req(
        "POST", f"/blacklist/{hs.pending_blacklist(w)}/approve"
    ),
    ("POST", "/blacklist/{entry_id}/reject"): lambda w, c: Req(
        "POST", f"/blacklist/{hs.pending_blacklist(w)}/reject"
    ),
    ("DELETE", "/blacklist/{entry_id}"): lambda w, c: Req(
        "DELETE", f"/blacklist/{hs.active_blacklist(w)}"
    ),
    ("GET", "/history"): lambda w, c: Req("GET", "/history"),
    ("GET", "/search"): lambda w, c: Req("GET", "/search", params={"q": "h"}),
    ("GET", "/history/{conversation_id}"): lambda w, c: Req(
        "GET", f"/history/{hs.history_conversation(w, c)}"
    ),
    ("GET", "/history/{conversation_id}/messages"): lambda w, c: Req(
        "GET", f"/history/{hs.history_conversation(w, c)}/messages"
    ),
    ("GET", "/history/{conversation_id}/messages/search"): lambda w, c: Req(
        "GET", f"/history/{hs.history_conversation(w, c)}/messages/search", params={"q": "h"}
    ),
    ("GET", "/history/settings"): lambda w, c: Req("GET", "/history/settings"),
    ("GET", "/history/options"): lambda w, c: Req("GET", "/history/options"),
    ("GET", "/history/{conversation_id}/visitor-tags"): lambda w, c: Req(
        "GET", f"/history/{hs.history_conversation(w, c)}/visitor-tags"
    ),
    ("PUT", "/history/{conversation_id}/visitor-tags"): lambda w, c: Req(
        "PUT", f"/history/{hs.history_conversation(w, c)}/visitor-tags", json={"tag_ids": []}
    ),
    ("PUT", "/history/settings"): lambda w, c: Req(
        "PUT", "/history/settings", json={"retention_months": 6}
    ),
    ("POST", "/history/{conversation_id}/blacklist"): lambda w, c: Req(
        "POST", f"/history/{hs.history_conversation(w, c)}/blacklist", json={"reason": "m"}
    ),
    ("POST", "/conversations/{conversation_id}/callback"): lambda w, c: Req(
        "POST", f"/conversations/{hs.callback_conversation(w, c)}/callback"
    ),
    ("GET", "/automations/settings"): lambda w, c: Req("GET", "/automations/settings"),
    ("PUT", "/automations/settings"): _automations,
    ("GET", "/automations/overdue"): lambda w, c: Req("GET", "/automations/overdue"),
    ("POST", "/visitor/leave-message"): _leave_message,
    ("GET", "/visitor/leave-message/offer"): lambda w, c: Req(
        "GET", "/visitor/leave-message/offer", headers=w.chat.new_visitor().headers
    ),
    ("GET", "/leave-messages"): lambda w, c: Req("GET", "/leave-messages", params=_leave_mode(c)),
    ("GET", "/leave-messages/badge"): lambda w, c: Req("GET", "/leave-messages/badge"),
    ("GET", "/leave-messages/lookup"): lambda w, c: Req(
        "GET", "/leave-messages/lookup", params={"number": _new_leave(w)["number"]}
    ),
    ("GET", "/leave-messages/assignees"): lambda w, c: Req("GET", "/leave-messages/assignees"),
    ("GET", "/leave-messages/{message_id}"): lambda w, c: Req(
        "GET", f"/leave-messages/{_new_leave(w)['id']}"
    ),
    ("POST", "/leave-messages/batch/assign"): lambda w, c: _leave_assign(w, c, True),
    ("POST", "/leave-messages/batch/status"): lambda w, c: _leave_status(w, c, True),
    ("POST", "/leave-messages/{message_id}/assign"): lambda w, c: _leave_assign(w, c, False),
    ("POST", "/leave-messages/{message_id}/status"): lambda w, c: _leave_status(w, c, False),
    ("POST", "/leave-messages/{message_id}/comments"): lambda w, c: Req(
        "POST", f"/leave-messages/{_new_leave(w)['id']}/comments", json={"text": "matrix"}
    ),
    ("GET", "/customers"): lambda w, c: Req("GET", "/customers"),
    ("GET", "/customers/template"): lambda w, c: Req("GET", "/customers/template"),
    ("POST", "/customers/import"): lambda w, c: Req(
        "POST", "/customers/import", files=cu.import_files()
    ),
    ("GET", "/customers/{visitor_id}"): lambda w, c: Req("GET", f"/customers/{cu.served(w, c)[0]}"),
    ("PATCH", "/customers/{visitor_id}"): lambda w, c: Req(
        "PATCH", f"/customers/{cu.served(w, c)[0]}", json={"fields": {"nickname": cu.unique("n")}}
    ),
    ("GET", "/customers/{visitor_id}/conversations"): lambda w, c: Req(
        "GET", f"/customers/{cu.served(w, c)[0]}/conversations"
    ),
    ("GET", "/customers/{visitor_id}/conversations/{conversation_id}/messages"): lambda w, c: Req(
        "GET", "/customers/{}/conversations/{}/messages".format(*cu.served(w, c))
    ),
    ("POST", "/customers/{visitor_id}/callback"): lambda w, c: Req(
        "POST", f"/customers/{cu.callback_customer(w, c)}/callback"
    ),
    ("GET", "/customer-fields"): lambda w, c: Req("GET", "/customer-fields"),
    ("POST", "/customer-fields"): lambda w, c: Req(
        "POST", "/customer-fields", json={"name": cu.unique("f")}
    ),
    ("PUT", "/customer-fields/layout"): lambda w, c: Req(
        "PUT", "/customer-fields/layout", json=cu.layout(w)
    ),
    ("PATCH", "/customer-fields/{field_id}"): lambda w, c: Req(
        "PATCH", f"/customer-fields/{cu.field_for(w, c)}", json={"name": cu.unique("f")}
    ),
    ("DELETE", "/customer-fields/{field_id}"): lambda w, c: Req(
        "DELETE", f"/customer-fields/{cu.field_for(w, c)}"
    ),
    ("GET", "/customer-groups"): lambda w, c: Req("GET", "/customer-groups"),
    ("POST", "/customer-groups"): lambda w, c: Req(
        "POST", "/customer-groups", json={"name": cu.unique("g"), "items": [{"kind": "vip"}]}
    ),
    ("PATCH", "/customer-groups/{group_id}"): lambda w, c: Req(
        "PATCH", f"/customer-groups/{cu.group_for(w, c)}", json={"name": cu.unique("g")}
    ),
    ("DELETE", "/customer-groups/{group_id}"): lambda w, c: Req(
        "DELETE", f"/customer-groups/{cu.group_for(w, c)}"
    ),
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
    hidden = sorted(
        r.key
        for r in app_routes(server.app)
        if r.kind == "http" and (not r.include_in_schema or r.key not in live)
    )
    assert not hidden, f"API routes missing from the OpenAPI document: {hidden}"
    http = {k for k in MATRIX if k[0] != "WS"}
    assert set(REQUESTS) == http, (
        f"REQUESTS must give a request for every HTTP route of the matrix: "
        f"missing {sorted(http - set(REQUESTS))}, extra {sorted(set(REQUESTS) - http)}"
    )


# Server bugs this test found, not fixed yet: route -> what is wrong. Their checks are left out of
# the tests below and run in test_known_server_bugs, which is expected to fail (strictly: once a
# bug is fixed the test says so, and the entry goes).
KNOWN_BUGS: dict[tuple[str, str], str] = {}


def _guard_problems(r: Any, access: Access) -> list[str]:
    problems = []
    guards = required_pages(r.dependant)
    want = {frozenset(access.pages)} if access.pages else set()
    if guards != want:
        got = (
            " and ".join(
                "any of " + ", ".join(sorted(g)) if len(g) > 1 else next(iter(g))
                for g in sorted(guards, key=sorted)
            )
            or "no page"
        )
        problems.append(f"{r.method} {r.path}: the route requires {got}, the matrix says {access}")
    if r.kind == "websocket":
        return problems  # resolves the caller by hand (cookie or ?token=); checked live below
    signed = requires_principal(r.dependant)
    if access.kind in ("signed_in", "page", "any_page") and not signed:
        problems.append(
            f"{r.method} {r.path}: the matrix says {access}, "
            f"but the route does not resolve the signed-in caller"
        )
    if access.kind in ("public", "platform") and signed:
        problems.append(
            f"{r.method} {r.path}: the matrix says {access}, but the route requires a session"
        )
    return problems


def test_route_guards_match_the_matrix(server: Any) -> None:
    problems = []
    for r in app_routes(server.app):
        access = MATRIX.get(r.key)
        if access is None or r.key in KNOWN_BUGS:
            continue  # unlisted: reported by test_matrix_lists_exactly_the_live_routes
        problems += _guard_problems(r, access)
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


def _live_problems(w: World, key: tuple[str, str], access: Access) -> tuple[list[str], int]:
    """Every caller of the route, each with a valid request: (problems, requests sent).

    Refused callers go first, their requests (and sessions) made before the first snapshot,
    since making them may create objects. No refused call may change the tenant, so one
    snapshot before them and one after all of them check them together (a snapshot is about 25
    requests; one per refused call made this the longest test of the suite). Allowed callers
    follow (they may change the tenant)."""
    attempts: list[tuple[str, bool, bool]] = []  # caller, with the platform key, allowed
    for caller in callers_for(access):
        # Platform routes: the key, not the session, decides; try each caller both ways.
        for with_key in (True, False) if access.kind == "platform" else (False,):
            ok = allowed(access, caller) if access.kind != "platform" else with_key
            attempts.append((caller, with_key, ok))
    refused = [a for a in attempts if not a[2]]
    prepared = [(a, REQUESTS[key](w, a[0])) for a in refused]
    sessions = [w.session_of(a[0]) if req.session is OWN else req.session for a, req in prepared]
    state = w.snapshot() if prepared and key[0] != "GET" else None
    problems: list[str] = []
    labels = []
    for ((caller, with_key, _), req), session in zip(prepared, sessions, strict=True):
        label = f"{key[0]} {key[1]} as {caller}{' with the key' if with_key else ''}"
        labels.append(label)
        r = _send(w, req, session, with_key)
        status, code = _denial(access, caller)
        if r.status_code != status or error_code(r) != code:
            problems.append(f"{label}: should be refused with {status} {code}, got {describe(r)}")
    if state is not None:
        after = w.snapshot()
        if not _unchanged(state, after):
            changed = sorted(k for k in state if state[k] != after[k])
            problems.append(
                f"{'; '.join(labels)}: refused, yet the tenant's data changed "
                f"({', '.join(changed)})"
            )
    for caller, with_key, _ in (a for a in attempts if a[2]):
        label = f"{key[0]} {key[1]} as {caller}{' with the key' if with_key else ''}"
        req = REQUESTS[key](w, caller)
        session = w.session_of(caller) if req.session is OWN else req.session
        r = _send(w, req, session, with_key)
        if not 200 <= r.status_code < 300:
            problems.append(f"{label}: allowed by the matrix, got {describe(r)}")
    return problems, len(attempts)


def _send(w: World, req: Req, session: str | None, with_key: bool) -> httpx.Response:
    headers = {**req.headers, **(KEY if with_key else {})}
    with w.client(session, headers) as c:
        return c.request(
            req.method, req.url, json=req.json, files=req.files, data=req.data, params=req.params
        )


# The live walk checks guards and access rules, which no SQL dialect changes; it is the longest
# test, so it runs on SQLite only (the guard tests above and tenant isolation run on both).
@pytest.mark.skipif(
    bool(os.environ.get("KEFU_TEST_DATABASE_URL")), reason="dialect-independent: SQLite run only"
)
def test_every_route_for_every_caller(server: Any, raw: httpx.Client, world: World) -> None:
    live = live_routes(server, raw)
    problems: list[str] = []
    calls = 0
    for key, access in MATRIX.items():
        if key not in live or key[0] == "WS" or key in KNOWN_BUGS:
            continue
        found, sent = _live_problems(world, key, access)
        problems += found
        calls += sent
    assert calls > 100, calls
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(key, id=f"{key[0]} {key[1]}", marks=pytest.mark.xfail(strict=True, reason=why))
        for key, why in KNOWN_BUGS.items()
    ],
)
def test_known_server_bugs(
    server: Any, raw: httpx.Client, key: tuple[str, str], api: Api, reset_links: ResetLinks
) -> None:
    """The checks of test_route_guards_match_the_matrix and test_every_route_for_every_caller,
    for one route of KNOWN_BUGS (a World of its own, made only when the guard is right)."""
    assert key in live_routes(server, raw), f"{key} is gone: remove it from KNOWN_BUGS"
    access = MATRIX[key]
    problems = [
        p for r in app_routes(server.app) if r.key == key for p in _guard_problems(r, access)
    ]
    assert not problems, "\n".join(problems)
    w = World(api, reset_links)
    try:
        problems, _ = _live_problems(w, key, access)
    finally:
        w.close()
    assert not problems, "\n".join(problems)


def _ws_url(base: str) -> str:
    return base.replace("http://", "ws://", 1) + API_PREFIX + "/ws"


def test_websocket_for_every_caller(api: Api, server: Any, raw: httpx.Client, world: World) -> None:
    access = MATRIX[("WS", "/ws")]
    assert ("WS", "/ws") in live_routes(server, raw)
    w = world
    problems = []
    for caller in callers_for(access):
        session = w.session_of(caller)
        headers = {"Cookie": f"kefu_session={session}"} if session else {}
        try:
            with ws_connect(
                _ws_url(api.base_url), additional_headers=headers, open_timeout=10, proxy=None
            ) as ws:
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


def _visitor_socket(w: World, token: str, session: str | None) -> str:
    """What the visitor socket makes of an auth frame with `token`, sent along a staff cookie."""
    headers = {"Cookie": f"kefu_session={session}"} if session else {}
    url = visitor_socket_url(w.base, w.chat.widget["key"])
    try:
        with ws_connect(
            url, additional_headers=headers, origin=Origin(w.base), open_timeout=10, proxy=None
        ) as ws:
            ws.send(json.dumps({"type": "auth", "token": token}))
            first = json.loads(ws.recv(timeout=10))
        return "allowed" if first.get("type") == "hello" else f"unexpected first frame {first!r}"
    except InvalidStatus as exc:
        return f"refused (HTTP {exc.response.status_code})"
    except ConnectionClosed as exc:
        return f"refused (close {exc.rcvd.code if exc.rcvd else None})"


def test_visitor_websocket_for_every_caller(server: Any, raw: httpx.Client, world: World) -> None:
    """/visitor/ws is the visitor's: a registered token gets its hello, a bad one is closed with
    4401 -- whatever staff session the browser also carries (docs/protocol.md)."""
    access = MATRIX[("WS", "/visitor/ws")]
    assert ("WS", "/visitor/ws") in live_routes(server, raw)
    w = world
    problems = []
    for caller in callers_for(access):
        assert allowed(access, caller)
        session = w.session_of(caller)
        got = _visitor_socket(w, w.shared.visitor.token, session)
        if got != "allowed":
            problems.append(
                f"WS /visitor/ws as {caller} with a visitor token: expected allowed, got {got}"
            )
        # A well-formed token nobody registered: the staff cookie does not stand in for it.
        got = _visitor_socket(w, visitor_token(), session)
        if got != "refused (close 4401)":
            problems.append(
                f"WS /visitor/ws as {caller} with an unknown token: expected "
                f"refused (close 4401), got {got}"
            )
    assert not problems, "\n".join(problems)


def _probe_route(page_key: str) -> tuple[str, str]:
    """A route to probe a page with: its first GET without path parameters (a list, which answers
    anyone with the page -- unlike e.g. a conversation route, which wants a conversation the
    very user holds), else its first route."""
    keys = [k for k, a in MATRIX.items() if a.page == page_key and not a.builtin_admin_only]
    keys = keys or [k for k, a in MATRIX.items() if page_key in a.pages]
    return next((k for k in keys if k[0] == "GET" and "{" not in k[1]), keys[0])


def test_role_change_keeps_the_intersection_until_next_sign_in(world: World) -> None:
    """SPEC §1.2: removed rights go at once; added rights wait for the next sign-in."""
    w = world
    problems = []

    def call(key: tuple[str, str], session: str | None) -> httpx.Response:
        req = REQUESTS[key](w, "admin")
        with w.client(session, req.headers) as c:
            return c.request(
                req.method,
                req.url,
                json=req.json,
                files=req.files,
                data=req.data,
                params=req.params,
            )

    def set_role(user_id: int, caller: str) -> None:
        w.t.admin.ok("PATCH", f"/users/{user_id}", json={"role_id": w.role_ids[caller]})

    for p in MATRIX_PAGES:
        key = _probe_route(p)
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
            problems.append(
                f"{route} after {p} was added: {describe(r)}; expected 403 until "
                f"the user signs in again"
            )
        with w.client(session) as c:
            if c.get("/me").json().get("relogin_required") is not True:
                problems.append("GET /me after a role change: relogin_required is not true")
        if not 200 <= (r := call(key, w.login(email))).status_code < 300:
            problems.append(f"{route} after signing in again with {p}: {describe(r)}")
    assert not problems, "\n".join(problems)


def test_waiting_detail_is_for_waiting_conversations_only(api: Api) -> None:
    """The Waiting page's detail (§3.3, the switch "waiting detail") shows a conversation while
    it waits. One an agent holds, or one that ended, is in nobody's queue: an agent who does not
    hold it gets 404 not_found, as from GET /conversations/{id} -- not its messages."""
    t = api.provision("Waiting Co", seats=10)
    chat = TenantChat(t)
    routing = TenantRouting(chat)
    try:
        sessions = []
        for _ in range(2):
            email = unique_email("wd")
            t.admin.ok(
                "POST",
                "/users",
                json={
                    "email": email,
                    "password": PASSWORD,
                    "nickname": email[:20],
                    "role_id": t.roles["agent"],
                },
            )
            sessions.append(api.login(email, PASSWORD))
        holder, other = sessions
        held = routing.hold(holder.cookies["kefu_session"], holder)
        routing.switches(waiting_detail=True)
        waiting = routing.waiting_conversation()
        r = other.get(f"/waiting/{waiting}/messages")
        assert r.status_code == 200, f"a waiting conversation's detail: {describe(r)}"
        problems = []
        for what, conv in (
            ("held by a colleague", held.conversation_id),
            ("ended", routing.ended_conversation()),
        ):
            r = other.get(f"/waiting/{conv}/messages")
            if r.status_code != 404 or error_code(r) != "not_found":
                problems.append(
                    f"GET /waiting/{conv}/messages, a conversation {what}, as another "
                    f"agent: {describe(r)}; expected 404 not_found"
                )
        assert not problems, "\n".join(problems)
    finally:
        chat.close()
