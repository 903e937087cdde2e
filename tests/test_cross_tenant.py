"""Another tenant's ID answers exactly like an unknown ID (docs/api.md, "Tenancy").

The routes come from the live OpenAPI document, so a new route with an id in its path, query or
body is probed automatically -- or fails here until someone says how to make that object.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests import exports_helpers as eh
from tests import world_canned as ch
from tests import world_customers as cu
from tests import world_history as hs
from tests import world_knowledge as kh
from tests.conftest import PG_URL
from tests.helpers import PASSWORD, PLATFORM_KEY, Api, Tenant, unique_email
from tests.route_walk import (
    UNKNOWN_ID,
    Operation,
    body_id_fields,
    body_properties,
    describe,
    error_code,
    nested_body_id_fields,
    openapi,
    operations,
)
from tests.world_chat import (
    SESSION_COOKIE,
    ChatVisitor,
    chat_of,
    cid,
    forget_chats,
    png_upload,
    text_body,
    visitor_token,
)
from tests.world_routing import TenantRouting


@pytest.fixture(autouse=True)
def _chats() -> Iterator[None]:
    """Chat objects are kept per tenant (tests/world_chat.py); a test's tenants die with it."""
    yield
    forget_chats()
    _NOTICE_READERS.clear()
    _REQUEST_READERS.clear()
    _GROUPS.clear()


_names = itertools.count(1)


def _name(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


# --- objects in a tenant, made through the API ------------------------------------------------


def _root_team(t: Tenant) -> int:
    tree = t.admin.ok("GET", "/teams")
    (root,) = [n for n in tree if n["is_root"]]
    return int(root["id"])


def _find_team(tree: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    for node in tree:
        if node["name"] == name:
            return node
        found = _find_team(node["children"], name)
        if found is not None:
            return found
    return None


def make_user(t: Tenant, **fields: Any) -> int:
    email = unique_email("xt")
    body = {
        "email": email,
        "password": PASSWORD,
        "nickname": email[:20],
        "role_id": t.roles["agent"],
        **fields,
    }
    return int(t.admin.ok("POST", "/users", json=body)["id"])


def make_role(t: Tenant) -> int:
    role = t.admin.ok("POST", "/roles", json={"name": _name("role"), "pages": ["agent.sessions"]})
    return int(role["id"])


def make_team(t: Tenant) -> int:
    """A sub-team of Headquarters with one member, so emptying it would show."""
    name = _name("team")
    tree = t.admin.ok("POST", "/teams", json={"name": name, "parent_id": _root_team(t)})
    team = _find_team(tree, name)
    assert team is not None, tree
    make_user(t, team_id=team["id"])
    return int(team["id"])


# Who can read a notice back: (server, notice id) -> the recipient's bearer token.
_NOTICE_READERS: dict[tuple[str, int], str] = {}


def make_notification(t: Tenant) -> int:
    """A notice in a new user's message center: their admin changed their max concurrent."""
    email = unique_email("xt")
    uid = make_user(t, email=email)
    t.admin.ok("PATCH", f"/users/{uid}", json={"max_concurrent": 11})
    chat = chat_of(t)  # its client has no session of its own
    r = chat.http.post(
        "/auth/login", json={"email": email, "password": PASSWORD, "client": "token"}
    )
    assert r.status_code == 200, describe(r)
    token = str(r.json()["token"])
    r = chat.http.get("/notifications", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["items"], describe(r)
    notice = int(r.json()["items"][0]["id"])
    _NOTICE_READERS[(chat.api_url, notice)] = token
    return notice


def _read_notification(t: Tenant, notice: int) -> Any:
    chat = chat_of(t)
    token = _NOTICE_READERS[(chat.api_url, notice)]
    r = chat.http.get("/notifications", headers={"Authorization": f"Bearer {token}"})
    return next((n for n in r.json()["items"] if n["id"] == notice), None)


def make_announcement(t: Tenant) -> int:
    """An announcement the tenant's admin sent to everyone (a new agent is its recipient)."""
    make_user(t, email=unique_email("xt"))
    body = {"subject": "Rota", "audience": {"all": True}}
    return int(t.admin.ok("POST", "/announcements", json=body)["id"])


def make_approval(t: Tenant) -> int:
    """A new agent's pending status-change request (§2.1); the switch is on only meanwhile."""
    email = unique_email("xt")
    make_user(t, email=email)
    t.admin.ok("PATCH", "/tenant/switches", json={"status_change_approval": True})
    chat = chat_of(t)
    r = chat.http.post(
        "/auth/login", json={"email": email, "password": PASSWORD, "client": "token"}
    )
    assert r.status_code == 200, describe(r)
    r = chat.http.put(
        "/me/status",
        json={"status": "busy", "reason": "cross-tenant"},
        headers={"Authorization": f"Bearer {r.json()['token']}"},
    )
    t.admin.ok("PATCH", "/tenant/switches", json={"status_change_approval": False})
    assert r.status_code == 202, describe(r)
    return int(r.json()["approval"]["id"])


def _read_approval(t: Tenant, approval_id: int) -> Any:
    items = t.admin.ok("GET", "/approvals", params={"state": "all", "page_size": 100})["items"]
    return next((a for a in items if a["id"] == approval_id), None)


# --- routing and dispatch (tests/world_routing.py) ---------------------------------------------


def routing_of(t: Tenant) -> TenantRouting:
    return TenantRouting(chat_of(t))


# A skill group with one member per tenant, for bodies that need one: (server, tenant) -> id.
_GROUPS: dict[tuple[str, int], int] = {}


def make_group(t: Tenant) -> int:
    """A skill group with one member (never online), so emptying it would show."""
    return routing_of(t).new_group([make_user(t)])


def own_group(t: Tenant) -> int:
    key = (str(t.admin.base_url), t.id)
    if key not in _GROUPS:
        _GROUPS[key] = make_group(t)
    return _GROUPS[key]


def make_routing_rule(t: Tenant) -> int:
    """A customer-info rule (off) of a new tag, to a new group."""
    r = routing_of(t)
    return r.new_routing_rule(r.new_tag(), own_group(t))


def make_menu_item(t: Tenant) -> int:
    return routing_of(t).menu_item(own_group(t))


def make_leave_message(t: Tenant) -> int:
    """A waiting visitor's leave message (docs/leave-messages.md)."""
    chat = chat_of(t)
    v = chat.new_visitor()
    chat.send(v)
    r = chat.http.post(
        "/visitor/leave-message",
        headers=v.headers,
        json={"origin": "waiting", "content": "left in this tenant"},
    )
    assert r.status_code == 201, describe(r)
    return int(r.json()["id"])


def _signed_in(t: Tenant) -> str:
    """A new agent's session cookie (they stay offline until a socket is opened with it)."""
    email = unique_email("xt")
    make_user(t, email=email)
    with httpx.Client(base_url=chat_of(t).api_url, timeout=30) as c:
        r = c.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, describe(r)
    return str(r.cookies[SESSION_COOKIE])


# Who can read a transfer request back: (server, request id) -> the target's session.
_REQUEST_READERS: dict[tuple[str, int], str] = {}


def make_transfer_request(t: Tenant) -> int:
    """A pending transfer from one new agent to another, lasting an hour."""
    r = routing_of(t)
    r.admin.ok("PUT", "/dispatch-settings", json=r.dispatch_body(transfer_confirm_seconds=3600))
    target = _signed_in(t)
    request = r.transfer_request(_signed_in(t), target)
    _REQUEST_READERS[(chat_of(t).api_url, int(request["id"]))] = target
    return int(request["id"])


def _read_transfer_request(t: Tenant, request_id: int) -> Any:
    chat = chat_of(t)
    session = _REQUEST_READERS[(chat.api_url, request_id)]
    with httpx.Client(base_url=chat.api_url, cookies={SESSION_COOKIE: session}, timeout=30) as c:
        r = c.get("/transfer-requests")
    return next((q for q in r.json() if q["id"] == request_id), None)


def _in_list(url: str) -> Callable[[Tenant, int], Any]:
    return lambda t, i: next((x for x in t.admin.ok("GET", url) if x["id"] == i), None)


def _read_group(t: Tenant, group_id: int) -> Any:
    return (_read(t, f"/skill-groups/{group_id}"), _read(t, f"/skill-groups/{group_id}/members"))


# Path/query parameter name -> a factory that makes such an object in a tenant and returns its id.
# A route whose id parameter is not here fails the test: add a factory, don't skip the route.
# Chat objects come through the tenant's widget: a new visitor writes, which opens a conversation
# (waiting: nobody is online in these tenants); the tenant's admin may see every conversation.
FACTORIES: dict[str, Callable[[Tenant], int]] = {
    "user_id": make_user,
    "role_id": make_role,
    "team_id": make_team,
    "conversation_id": lambda t: chat_of(t).conversation(),
    "message_id": lambda t: chat_of(t).message(),  # a visitor's message in a new conversation
    "widget_id": lambda t: int(chat_of(t).new_widget()["id"]),
    "association_id": lambda t: chat_of(t).new_association(),
    "visitor_id": lambda t: chat_of(t).visitor_with_conversation(),
    "attachment_id": lambda t: chat_of(t).attachment(),  # an image a visitor uploaded
    "notification_id": make_notification,
    "announcement_id": make_announcement,
    "approval_id": make_approval,
    "plan_id": lambda t: routing_of(t).new_plan(),
    "group_id": make_group,
    "routing_rule_id": make_routing_rule,
    "overflow_rule_id": lambda t: routing_of(t).new_overflow_rule(),
    "tag_id": lambda t: routing_of(t).new_tag(),
    "session_tag_id": lambda t: int(
        t.admin.ok("POST", "/session-tags", json={"name": _name("stag")})["id"]
    ),
    "request_id": make_transfer_request,
    "menu_item_id": make_menu_item,
    "entry_id": hs.make_blacklist_entry,
    # Canned replies: a public category, a public reply, a pending submission.
    "canned_category_id": ch.make_category,
    "canned_reply_id": ch.make_reply,
    "canned_submission_id": ch.make_submission,
    # Knowledge base: a category, an item, a file uploaded to the knowledge base.
    "knowledge_category_id": kh.make_category,
    "knowledge_item_id": kh.make_item,
    "knowledge_file_id": kh.make_file,
    "leave_message_id": make_leave_message,
    "export_id": eh.make_export_job,  # a finished export job (§14)
    # Customer center settings: an automatic group, a custom profile field.
    "customer_group_id": cu.make_group,
    "customer_field_id": cu.make_field,
}

# Path parameters whose name alone does not say which object they name: (path prefix, name) ->
# the FACTORIES key.
PARAM_KINDS: dict[tuple[str, str], str] = {
    ("/routing-rules/", "rule_id"): "routing_rule_id",
    ("/overflow-rules/", "rule_id"): "overflow_rule_id",
    ("/leave-messages/", "message_id"): "leave_message_id",
    ("/customer-groups/", "group_id"): "customer_group_id",
    ("/customer-fields/", "field_id"): "customer_field_id",
}


def param_kind(op: Operation, name: str) -> str:
    return next(
        (
            kind
            for (prefix, param), kind in PARAM_KINDS.items()
            if param == name and op.path.startswith(prefix)
        ),
        name,
    )


def _read(t: Tenant, url: str) -> Any:
    r = t.admin.get(url)
    return (r.status_code, _json(r))


def _read_team(t: Tenant, team_id: int) -> Any:
    def find(nodes: list[dict[str, Any]]) -> Any:
        for n in nodes:
            if n["id"] == team_id:
                return n
            hit = find(n["children"])
            if hit is not None:
                return hit
        return None

    return find(t.admin.ok("GET", "/teams"))


def _read_association(t: Tenant, association_id: int) -> Any:
    return next((a for a in t.admin.ok("GET", "/associations") if a["id"] == association_id), None)


def _read_conversation(t: Tenant, conversation_id: int) -> Any:
    return (
        _read(t, f"/conversations/{conversation_id}"),
        _read(t, f"/conversations/{conversation_id}/messages"),
    )


def _read_file(t: Tenant, attachment_id: int) -> Any:
    """The file through the owner's own signed link: still there, same bytes."""
    chat = chat_of(t)
    r = chat.http.get(chat.file_path(attachment_id), params=chat.signed_params(attachment_id))
    return (r.status_code, r.headers.get("content-type"), r.content)


# How the owner reads the object back (to prove it is unchanged).
READERS: dict[str, Callable[[Tenant, int], Any]] = {
    "user_id": lambda t, i: _read(t, f"/users/{i}"),
    "role_id": lambda t, i: _read(t, f"/roles/{i}"),
    "team_id": _read_team,
    "conversation_id": _read_conversation,
    "message_id": lambda t, i: _read_conversation(t, chat_of(t).conversation_of_message[i]),
    "widget_id": lambda t, i: _read(t, f"/widgets/{i}"),
    "association_id": _read_association,
    "visitor_id": lambda t, i: _read(
        t, f"/conversations/{chat_of(t).conversation_of_visitor[i]}/visitor"
    ),
    "attachment_id": _read_file,
    "notification_id": _read_notification,
    "announcement_id": lambda t, i: _read(t, f"/announcements/{i}"),
    "approval_id": _read_approval,
    "plan_id": lambda t, i: _read(t, f"/time-plans/{i}"),
    "group_id": _read_group,
    "routing_rule_id": _in_list("/routing-rules"),
    "overflow_rule_id": _in_list("/overflow-rules"),
    "tag_id": _in_list("/visitor-tags"),
    "session_tag_id": _in_list("/session-tags"),
    "request_id": _read_transfer_request,
    "entry_id": hs.read_blacklist_entry,
    "canned_category_id": ch.read_category,
    "canned_reply_id": ch.read_reply,
    "canned_submission_id": ch.read_submission,
    "knowledge_category_id": kh.read_category_of,
    "knowledge_item_id": kh.read_item_of,
    "leave_message_id": lambda t, i: _read(t, f"/leave-messages/{i}"),
    "export_id": eh.read_export_job,  # the job and its download records
    "customer_group_id": cu.read_group,
    "customer_field_id": cu.read_field,
}

# Minimal valid bodies for routes with an id in the path, keyed by operation. They really change
# something, so a leak would show in the owner's data. A missing entry fails the test.
# A callable makes the body from tenant A's own objects.
PATH_ID_BODIES: dict[tuple[str, str], dict[str, Any] | Callable[[Tenant], dict[str, Any]]] = {
    ("PATCH", "/users/{user_id}"): {"nickname": "renamed by A", "password": "Changed-by-A-1"},
    ("PATCH", "/roles/{role_id}"): {"name": "renamed by A", "pages": ["admin.settings.audit"]},
    ("PATCH", "/teams/{team_id}"): {"name": "renamed by A"},
    ("PUT", "/teams/{team_id}/members"): {"user_ids": []},
    ("PUT", "/users/{user_id}/status"): {"status": "busy"},
    ("POST", "/conversations/{conversation_id}/messages"): text_body("sent by A"),
    ("POST", "/conversations/{conversation_id}/whisper"): {
        "client_msg_id": cid(),
        "text": "whispered by A",
    },
    ("POST", "/conversations/{conversation_id}/read"): {"seq": 1000},
    ("PATCH", "/visitors/{visitor_id}"): {"name": "renamed by A", "remark": "seen by A"},
    ("PATCH", "/widgets/{widget_id}"): {
        "name": "renamed by A",
        "allowed_origins": "https://a.example",
    },
    ("PATCH", "/associations/{association_id}"): {"name": "renamed by A"},
    ("POST", "/colleagues/{user_id}/messages"): {"client_msg_id": cid(), "text": "from A"},
    ("POST", "/approvals/{approval_id}/approve"): {"comment": "approved by A"},
    ("POST", "/approvals/{approval_id}/reject"): {"comment": "rejected by A"},
    ("PATCH", "/time-plans/{plan_id}"): {
        "name": "renamed by A",
        "weekly": {"1": [["00:00", "24:00"]]},
    },
    ("PATCH", "/skill-groups/{group_id}"): {"name": "renamedbyA", "greeting": "from A"},
    ("PUT", "/skill-groups/{group_id}/members"): {"user_ids": []},
    ("POST", "/skill-groups/{group_id}/members/code"): {
        "text": "nobody@example.test",
        "action": "add",
    },
    ("PATCH", "/routing-rules/{rule_id}"): {"name": "renamed by A", "enabled": True},
    ("PATCH", "/overflow-rules/{rule_id}"): {"name": "renamed by A", "enabled": True},
    ("PATCH", "/visitor-tags/{tag_id}"): {"name": "renamed by A"},
    ("PUT", "/visitors/{visitor_id}/tags"): {"tag_ids": []},
    ("PUT", "/history/{conversation_id}/visitor-tags"): {"tag_ids": []},
    ("PATCH", "/session-tags/{session_tag_id}"): {"name": "renamed by A"},
    ("PUT", "/conversations/{conversation_id}/session-tags"): {"tag_ids": [], "remark": "by A"},
    # To A's own group (one member, offline): a leak would move B's conversation there.
    ("POST", "/waiting/{conversation_id}/transfer"): lambda a: {"skill_group_id": own_group(a)},
    ("POST", "/conversations/{conversation_id}/transfer"): lambda a: {
        "skill_group_id": own_group(a)
    },
    ("POST", "/conversations/{conversation_id}/reassign"): lambda a: {
        "skill_group_id": own_group(a)
    },
    ("POST", "/conversations/{conversation_id}/blacklist"): {"reason": "by A"},
    ("POST", "/history/{conversation_id}/blacklist"): {"reason": "by A"},
    ("POST", "/blacklist/{entry_id}/approve"): {"comment": "approved by A"},
    ("POST", "/blacklist/{entry_id}/reject"): {"comment": "rejected by A"},
    ("PATCH", "/canned/public/categories/{canned_category_id}"): {"name": "renamed by A"},
    ("PATCH", "/canned/personal/categories/{canned_category_id}"): {"name": "renamed by A"},
    ("PATCH", "/canned/public/replies/{canned_reply_id}"): {"text": "changed by A"},
    ("PATCH", "/canned/personal/replies/{canned_reply_id}"): {"text": "changed by A"},
    ("POST", "/canned/submissions/{canned_submission_id}/accept"): {"comment": "by A"},
    ("POST", "/canned/submissions/{canned_submission_id}/reject"): {"comment": "by A"},
    ("PATCH", "/knowledge/categories/{knowledge_category_id}"): {"name": "renamed by A"},
    ("PATCH", "/knowledge/items/{knowledge_item_id}"): {"title": "changed by A"},
    ("POST", "/conversations/{conversation_id}/knowledge/{knowledge_item_id}/send"): {
        "client_msg_id": cid()
    },
    ("POST", "/leave-messages/{message_id}/assign"): lambda a: {"assignee_id": a.admin.me["id"]},
    ("POST", "/leave-messages/{message_id}/status"): {"status": "resolved"},
    ("POST", "/leave-messages/{message_id}/comments"): {"text": "by A"},
    ("PATCH", "/customers/{visitor_id}"): {"fields": {"nickname": "renamed by A"}},
    ("PATCH", "/customer-fields/{field_id}"): {"name": "renamedbyA"},
    ("PATCH", "/customer-groups/{group_id}"): {"name": "renamedbyA"},
}

# Multipart bodies (uploads), made afresh for each request. A missing entry fails the test.
PATH_ID_FORMS: dict[tuple[str, str], Callable[[], dict[str, Any]]] = {
    ("POST", "/conversations/{conversation_id}/attachments"): lambda: {
        "files": png_upload(),
        "data": {"kind": "image"},
    },
}

# Required query parameters, from tenant A's own objects.
PATH_ID_QUERIES: dict[tuple[str, str], Callable[[Tenant], dict[str, Any]]] = {
    # A valid signature -- for A's own attachment -- sent with the id under test.
    ("GET", "/files/{attachment_id}"): lambda a: chat_of(a).signed_params(
        FACTORIES["attachment_id"](a)
    ),
    ("GET", "/history/{conversation_id}/messages/search"): lambda a: {"q": "hello"},
}

# Routes whose answer to a foreign or unknown id is not 404 not_found, and why. The answers must
# still be identical.
PATH_ID_ANSWERS: dict[tuple[str, str], tuple[int, str]] = {
    # The signed link is the credential, and its signature covers the id: a signature made for
    # another id is refused before anything is looked up, so the answer cannot depend on whose
    # the id is. (A tenant's own link works for whoever holds it, by design: it is handed only
    # to clients allowed to see the message, and expires after 24 hours.)
    ("GET", "/files/{attachment_id}"): (403, "link_expired"),
}


def snapshot(t: Tenant) -> dict[str, Any]:
    """What the tenant's admin sees of their tenant; nothing another tenant does may change it.

    Presence is left out: it moves by itself (30 s after a user's last socket closed -- those of
    the transfer-request factory -- a timer takes them offline), so users' statuses and groups'
    idle counts are not compared."""
    users = t.admin.ok("GET", "/users", params={"page_size": 100, "sort": "created_at"})
    users["items"] = [{**u, "status": None} for u in users["items"]]
    return {
        "users": users,
        "roles": t.admin.ok("GET", "/roles"),
        "teams": t.admin.ok("GET", "/teams"),
        "tenant": t.admin.ok("GET", "/tenant"),
        "switches": t.admin.ok("GET", "/tenant/switches"),
        "audit_total": t.admin.ok("GET", "/audit-logs", params={"page_size": 1})["total"],
        "widgets": t.admin.ok("GET", "/widgets"),
        "associations": t.admin.ok("GET", "/associations"),
        # Every live conversation, with its seq and last message.
        "ongoing": t.admin.ok("GET", "/current-sessions"),
        "waiting": t.admin.ok("GET", "/conversations", params={"state": "waiting"}),
        # Routing and dispatch configuration, and the queue as the Waiting page shows it.
        "time_plans": t.admin.ok("GET", "/time-plans"),
        "skill_groups": [{**g, "idle_count": None} for g in t.admin.ok("GET", "/skill-groups")],
        "routing_rules": t.admin.ok("GET", "/routing-rules"),
        "dispatch_settings": t.admin.ok("GET", "/dispatch-settings"),
        "overflow_rules": t.admin.ok("GET", "/overflow-rules"),
        "welcome_menu": t.admin.ok("GET", "/welcome-menu"),
        "visitor_tags": t.admin.ok("GET", "/visitor-tags"),
        "session_tags": t.admin.ok("GET", "/session-tags"),
        "queue": t.admin.ok("GET", "/waiting", params={"limit": 200}),
        "canned_public": t.admin.ok("GET", "/canned/public"),
        "leave_messages": t.admin.ok(
            "GET", "/leave-messages", params={"mode": "admin", "page_size": 100}
        ),
    }


def _json(r: httpx.Response) -> Any:
    try:
        return r.json()
    except ValueError:
        return r.content


def _same_answer(
    label: str,
    r_other: httpx.Response,
    r_unknown: httpx.Response,
    expect_status: int = 404,
    expect_code: str = "not_found",
) -> list[str]:
    problems = []
    if r_unknown.status_code != expect_status or error_code(r_unknown) != expect_code:
        problems.append(
            f"{label}: unknown id -> {describe(r_unknown)}; expected {expect_status} {expect_code}"
        )
    if r_other.status_code != r_unknown.status_code or _json(r_other) != _json(r_unknown):
        problems.append(
            f"{label}: other tenant's id -> {describe(r_other)}, but unknown id -> "
            f"{describe(r_unknown)}; the answers must be identical"
        )
    return problems


def _provision_pair(api: Api) -> tuple[Tenant, Tenant]:
    return api.provision("Tenant A", seats=100), api.provision("Tenant B", seats=100)


# --- path ids -----------------------------------------------------------------------------------


# The two long walks check tenant scoping, which is built in Python the same way for both SQL
# dialects: each runs on one (CI runs both), so neither run pays for both (docs/development.md).
@pytest.mark.skipif(bool(PG_URL), reason="dialect-independent: SQLite run only")
def test_path_ids_of_another_tenant_answer_like_unknown_ids(api: Api, raw: httpx.Client) -> None:
    ops = [op for op in operations(openapi(raw)) if op.id_path_params and not op.is_platform]
    assert ops, "the OpenAPI document lists no tenant routes with an id in the path"

    missing = []
    for op in ops:
        missing += [
            f"{op}: no factory for path parameter {{{p}}} -- add one to FACTORIES "
            f"(and READERS), or say in PARAM_KINDS which object it names"
            for p in op.id_path_params
            if param_kind(op, p) not in FACTORIES
        ]
        if "application/json" in op.body_media and op.key not in PATH_ID_BODIES:
            missing.append(f"{op}: no minimal body -- add one to PATH_ID_BODIES")
        if "multipart/form-data" in op.body_media and op.key not in PATH_ID_FORMS:
            missing.append(f"{op}: no minimal multipart body -- add one to PATH_ID_FORMS")
        other_media = set(op.body_media) - {"application/json", "multipart/form-data"}
        if other_media:
            missing.append(f"{op}: body media {sorted(other_media)} not supported by this test")
        required = [p["name"] for p in op.params("query") if p.get("required")]
        if required and op.key not in PATH_ID_QUERIES:
            missing.append(
                f"{op}: required query parameters {required} -- add them to PATH_ID_QUERIES"
            )
    assert not missing, "\n".join(missing)
    keys = {op.key for op in ops}
    for name, table in (
        ("PATH_ID_BODIES", PATH_ID_BODIES),
        ("PATH_ID_FORMS", PATH_ID_FORMS),
        ("PATH_ID_QUERIES", PATH_ID_QUERIES),
        ("PATH_ID_ANSWERS", PATH_ID_ANSWERS),
    ):
        stale = sorted(set(table) - keys)
        assert not stale, f"{name} lists operations that no longer exist: {stale}"

    a, b = _provision_pair(api)
    problems: list[str] = []
    for op in ops:
        for param in op.id_path_params:
            kind = param_kind(op, param)
            # Every other id in the path is A's own object, so only `param` is foreign.
            own = {q: FACTORIES[param_kind(op, q)](a) for q in op.id_path_params if q != param}
            b_id = FACTORIES[kind](b)
            before, obj_before = snapshot(b), READERS[kind](b, b_id)
            kw: dict[str, Any] = {}
            if op.key in PATH_ID_BODIES:
                body = PATH_ID_BODIES[op.key]
                kw["json"] = body(a) if callable(body) else body
            if op.key in PATH_ID_QUERIES:
                kw["params"] = PATH_ID_QUERIES[op.key](a)
            form = PATH_ID_FORMS.get(op.key, dict)
            label = f"{op} with {{{param}}}"
            r_other = a.admin.request(op.method, op.url(**own, **{param: b_id}), **kw, **form())
            r_unknown = a.admin.request(
                op.method, op.url(**own, **{param: UNKNOWN_ID}), **kw, **form()
            )
            problems += _same_answer(
                label, r_other, r_unknown, *PATH_ID_ANSWERS.get(op.key, (404, "not_found"))
            )
            if READERS[kind](b, b_id) != obj_before:
                problems.append(
                    f"{label}: tenant B's object {b_id} changed: "
                    f"{obj_before} -> {READERS[kind](b, b_id)}"
                )
            if snapshot(b) != before:
                problems.append(f"{label}: tenant B's data changed")
    assert not problems, "\n".join(problems)


# --- query ids ----------------------------------------------------------------------------------

# (method, path, query parameter) -> which kind of object it names; None = names no object.
QUERY_IDS: dict[tuple[str, str, str], str | None] = {
    ("GET", "/users", "team_id"): "team_id",
    ("GET", "/users", "role_id"): "role_id",
    # Public by design: the visitor widget loads any tenant's logo by tenant id, signed in or not.
    ("GET", "/tenant/logo", "tenant_id"): None,
    # Visitor routes: asked by a visitor of tenant A (see VISITOR_PATHS).
    ("GET", "/visitor/messages", "conversation_id"): "conversation_id",
    ("GET", "/visitor/events", "conversation_id"): "conversation_id",
    # Cursors, not objects: "messages with an id below this", within the caller's own
    # conversations. Nothing is looked up by them, so any number is as good as any other.
    ("GET", "/visitor/prior-messages", "before_id"): None,
    ("GET", "/conversations/{conversation_id}/prior-messages", "before_id"): None,
    ("GET", "/colleagues/{user_id}/messages", "before_id"): None,
    # "My notices up to this one": a bound within the caller's own notices, looked up by nothing.
    ("POST", "/notifications/read-all", "up_to_id"): None,
    # Filters of the waiting queue: B's queue has a conversation in B's group (see below).
    ("GET", "/waiting", "association_id"): "association_id",
    ("GET", "/waiting", "skill_group_id"): "group_id",
    # History and blacklist filters (within the caller's tenant).
    ("GET", "/history", "agent_id"): "user_id",
    ("GET", "/history", "visitor_id"): "visitor_id",
    ("GET", "/history", "conversation_id"): "conversation_id",
    ("GET", "/history", "association_id"): "association_id",
    ("GET", "/history", "skill_group_id"): "group_id",
    ("GET", "/history", "session_tag_ids"): "session_tag_id",
    ("GET", "/blacklist", "visitor_id"): "visitor_id",
    # Search filters (within the caller's tenant; docs/search.md).
    ("GET", "/search", "association_id"): "association_id",
    ("GET", "/search", "session_tag_id"): "session_tag_id",
    # Satisfaction: the visitor's rating card of a conversation (docs/satisfaction.md).
    ("GET", "/visitor/csat", "conversation_id"): "conversation_id",
    # Knowledge items of a category (and its subcategories).
    ("GET", "/knowledge/items", "category_id"): "knowledge_category_id",
    # Leave messages: the assignee filter (within the caller's tenant).
    ("GET", "/leave-messages", "agent_id"): "user_id",
    # Customer center filters: tags and a group tab (within the caller's tenant).
    ("GET", "/customers", "tag_ids"): "tag_id",
    ("GET", "/customers", "group_id"): "customer_group_id",
}
# Routes a visitor calls (with `Authorization: Visitor <token>`, no staff session). Those naming an
# object answer 404 not_found to another tenant's id, as to an unknown one.
VISITOR_PATHS = "/visitor/"


def test_query_ids_of_another_tenant_answer_like_unknown_ids(api: Api, raw: httpx.Client) -> None:
    cases = [(op, name) for op in operations(openapi(raw)) for name in op.id_query_params]
    missing = [
        f"{op}: query parameter {name!r} is not in QUERY_IDS -- say which object it names"
        for op, name in cases
        if (op.method, op.path, name) not in QUERY_IDS
    ]
    assert not missing, "\n".join(missing)
    listed = {(op.method, op.path, name) for op, name in cases}
    stale = [k for k in QUERY_IDS if k not in listed]
    assert not stale, f"QUERY_IDS lists parameters that no longer exist: {stale}"

    a, b = _provision_pair(api)
    # One user of B who is in B's sub-team and holds B's custom role: a leaky filter returns them.
    b_role, b_team = make_role(b), make_team(b)
    b_user = b.admin.ok("GET", f"/users/{make_user(b, role_id=b_role, team_id=b_team)}")
    # A conversation of B waiting in B's group (a leaky queue filter would return it).
    b_group = make_group(b)
    b_routing = routing_of(b)
    b_routing.admin.ok(
        "POST",
        f"/waiting/{b_routing.waiting_conversation()}/transfer",
        json={"skill_group_id": b_group},
    )
    # And one that came through a widget of B's association.
    b_association = FACTORIES["association_id"](b)
    b_chat = chat_of(b)
    widget = b_chat.new_widget(association_id=b_association)
    token = visitor_token()
    r = b_chat.http.post("/visitor/session", json={"widget_key": widget["key"], "token": token})
    assert r.status_code in (200, 201), describe(r)
    b_chat.send(
        ChatVisitor(id=int(r.json()["visitor"]["id"]), token=token, widget_key=widget["key"])
    )
    b_ids = {
        "role_id": b_role,
        "team_id": b_team,
        "user_id": b_user["id"],
        "conversation_id": FACTORIES["conversation_id"](b),
        "group_id": b_group,
        "association_id": b_association,
        "visitor_id": FACTORIES["visitor_id"](b),
        "knowledge_category_id": FACTORIES["knowledge_category_id"](b),
        "session_tag_id": FACTORIES["session_tag_id"](b),
        "tag_id": FACTORIES["tag_id"](b),
        "customer_group_id": FACTORIES["customer_group_id"](b),
    }
    # A visitor of A with a conversation of their own, asking for B's.
    a_chat = chat_of(a)
    a_visitor = a_chat.new_visitor()
    a_chat.send(a_visitor)

    problems: list[str] = []
    for op, name in cases:
        kind = QUERY_IDS[(op.method, op.path, name)]
        if kind is None:
            continue
        label = f"{op}?{name}="
        url = op.url(**{p: FACTORIES[param_kind(op, p)](a) for p in op.path_params})
        if op.path.startswith(VISITOR_PATHS):
            client, headers = a_chat.http, a_visitor.headers
        else:
            client, headers = a.admin, {}
        r_other = client.request(op.method, url, params={name: b_ids[kind]}, headers=headers)
        r_unknown = client.request(op.method, url, params={name: UNKNOWN_ID}, headers=headers)
        if op.path.startswith(VISITOR_PATHS):
            problems += _same_answer(label, r_other, r_unknown)
        if r_unknown.status_code >= 500:
            problems.append(f"{label}: unknown id -> {describe(r_unknown)}")
        if r_other.status_code != r_unknown.status_code or _json(r_other) != _json(r_unknown):
            problems.append(
                f"{label}: other tenant's id -> {describe(r_other)}, but unknown id -> "
                f"{describe(r_unknown)}"
            )
        if b_user["email"] in r_other.text:
            problems.append(f"{label}: the answer reveals tenant B's user {b_user['email']}")
    assert not problems, "\n".join(problems)


# --- ids inside request bodies -----------------------------------------------------------------

# (method, path, body field) -> (kind of object the field names, builder of (path values, body)
# from A's own objects and the id under test), or a list of such cases (a field naming objects of
# several kinds, like a rule target's id). A missing entry fails the test. Fields one level down
# are named "parent.field" (tests/route_walk.py, nested_body_id_fields); a few bodies name ids in
# fields whose name does not say so (dispatch settings' group_priority, priority_levels): they
# are listed too.
BodyBuilder = Callable[[dict[str, Any], Any], tuple[dict[str, int], dict[str, Any]]]
BodyCase = tuple[str, BodyBuilder]


def _new_user_body(**extra: Any) -> dict[str, Any]:
    return {
        "email": "probe-body-id@example.test",
        "password": PASSWORD,
        "nickname": "probe",
        **extra,
    }


def _to_group(group_id: Any) -> dict[str, Any]:
    return {"type": "group", "id": group_id}


def _to_agent(user_id: Any) -> dict[str, Any]:
    return {"type": "agent", "id": user_id}


def _customer_rule(own: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "kind": "customer",
        "name": "probe",
        "tag_ids": [own["tag_id"]],
        "on_target": _to_group(own["group_id"]),
        **fields,
    }


def _split_channel_rule(own: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "kind": "channel",
        "channel": "app",
        "split": True,
        "on_target": {"type": "robot"},
        "off_target": _to_group(own["group_id"]),
        **fields,
    }


def _overflow_rule(**fields: Any) -> dict[str, Any]:
    return {"name": "probe", "condition": "queue_length", "threshold": 5, "notify": True, **fields}


def _levels(tag_id: Any) -> list[list[Any]]:
    return [[tag_id]] + [[] for _ in range(9)]


def _rule(key: str, body: Callable[[dict[str, Any], Any], dict[str, Any]]) -> BodyBuilder:
    """A PATCH /routing-rules/{rule_id} case on A's rule `key`."""
    return lambda own, v: ({"rule_id": own[key]}, body(own, v))


def _on(key: str, body: Callable[[dict[str, Any], Any], dict[str, Any]]) -> BodyBuilder:
    """A case on A's own object `key`, named by the route's one path parameter."""
    return lambda own, v: (own[key], body(own, v))


# A None entry: the field ends in _id but names no object (it is listed so that a new field still
# fails the test until someone decides).
BODY_IDS: dict[tuple[str, str, str], BodyCase | list[BodyCase] | None] = {
    ("POST", "/users", "role_id"): ("role_id", lambda own, v: ({}, _new_user_body(role_id=v))),
    ("POST", "/users", "team_id"): (
        "team_id",
        lambda own, v: ({}, _new_user_body(role_id=own["agent_role"], team_id=v)),
    ),
    ("PATCH", "/users/{user_id}", "role_id"): (
        "role_id",
        lambda own, v: ({"user_id": own["user_id"]}, {"role_id": v}),
    ),
    ("PATCH", "/users/{user_id}", "team_id"): (
        "team_id",
        lambda own, v: ({"user_id": own["user_id"]}, {"team_id": v}),
    ),
    ("POST", "/teams", "parent_id"): (
        "team_id",
        lambda own, v: ({}, {"name": "probe team", "parent_id": v}),
    ),
    ("PATCH", "/teams/{team_id}", "parent_id"): (
        "team_id",
        lambda own, v: ({"team_id": own["team_id"]}, {"parent_id": v}),
    ),
    ("PUT", "/teams/{team_id}/members", "user_ids"): (
        "user_id",
        lambda own, v: ({"team_id": own["team_id"]}, {"user_ids": [v]}),
    ),
    # A widget's association is looked up in the caller's tenant (404 not_found otherwise).
    ("POST", "/widgets", "association_id"): (
        "association_id",
        lambda own, v: ({}, {"name": "probe widget", "association_id": v}),
    ),
    ("PATCH", "/widgets/{widget_id}", "association_id"): (
        "association_id",
        lambda own, v: ({"widget_id": own["widget_id"]}, {"association_id": v}),
    ),
    # The sender's idempotency key for a send (docs/protocol.md): any string the client picks,
    # unique per sender; a retry is matched within the sender's own messages only.
    ("POST", "/conversations/{conversation_id}/messages", "client_msg_id"): None,
    ("POST", "/conversations/{conversation_id}/whisper", "client_msg_id"): None,
    ("POST", "/visitor/messages", "client_msg_id"): None,
    ("POST", "/visitor/menu-choice", "client_msg_id"): None,
    ("POST", "/colleagues/{user_id}/messages", "client_msg_id"): None,
    # The site's own user id in a signed widget identity: the site's, not an object of Kefu.
    ("POST", "/visitor/session", "identity.user_id"): None,
    # A visitor of A choosing B's welcome-menu item (the menu is on in A).
    ("POST", "/visitor/menu-choice", "item_id"): (
        "menu_item_id",
        lambda own, v: ({}, {"item_id": v, "client_msg_id": cid()}),
    ),
    # A visitor of A rating B's conversation (docs/satisfaction.md).
    ("POST", "/visitor/csat", "conversation_id"): (
        "conversation_id",
        lambda own, v: ({}, {"conversation_id": v, "score": 5}),
    ),
    # Routing and dispatch.
    ("POST", "/skill-groups", "time_plan_id"): (
        "plan_id",
        lambda own, v: ({}, {"name": "probegroup", "time_plan_id": v}),
    ),
    ("PATCH", "/skill-groups/{group_id}", "time_plan_id"): (
        "plan_id",
        lambda own, v: ({"group_id": own["group_id"]}, {"time_plan_id": v}),
    ),
    ("PUT", "/skill-groups/{group_id}/members", "user_ids"): (
        "user_id",
        lambda own, v: ({"group_id": own["group_id"]}, {"user_ids": [v]}),
    ),
    ("PUT", "/me/favourite-groups", "skill_group_ids"): (
        "group_id",
        lambda own, v: ({}, {"skill_group_ids": [own["group_id"], v]}),
    ),
    ("POST", "/routing-rules", "tag_ids"): (
        "tag_id",
        lambda own, v: ({}, _customer_rule(own, tag_ids=[own["tag_id"], v])),
    ),
    ("POST", "/routing-rules", "association_id"): (
        "association_id",
        lambda own, v: (
            {},
            {"kind": "association", "association_id": v, "on_target": _to_group(own["group_id"])},
        ),
    ),
    ("POST", "/routing-rules", "time_plan_id"): (
        "plan_id",
        lambda own, v: ({}, _split_channel_rule(own, time_plan_id=v)),
    ),
    ("POST", "/routing-rules", "on_target.id"): [
        ("group_id", lambda own, v: ({}, _customer_rule(own, on_target=_to_group(v)))),
        ("user_id", lambda own, v: ({}, _customer_rule(own, on_target=_to_agent(v)))),
    ],
    ("POST", "/routing-rules", "off_target.id"): (
        "group_id",
        lambda own, v: ({}, _split_channel_rule(own, off_target=_to_group(v))),
    ),
    ("PATCH", "/routing-rules/{rule_id}", "tag_ids"): (
        "tag_id",
        _rule("customer_rule", lambda own, v: {"tag_ids": [v]}),
    ),
    ("PATCH", "/routing-rules/{rule_id}", "association_id"): (
        "association_id",
        _rule("association_rule", lambda own, v: {"association_id": v}),
    ),
    ("PATCH", "/routing-rules/{rule_id}", "time_plan_id"): (
        "plan_id",
        _rule("channel_rule", lambda own, v: {"time_plan_id": v}),
    ),
    ("PATCH", "/routing-rules/{rule_id}", "on_target.id"): [
        ("group_id", _rule("customer_rule", lambda own, v: {"on_target": _to_group(v)})),
        ("user_id", _rule("customer_rule", lambda own, v: {"on_target": _to_agent(v)})),
    ],
    ("PATCH", "/routing-rules/{rule_id}", "off_target.id"): (
        "group_id",
        _rule("channel_rule", lambda own, v: {"off_target": _to_group(v)}),
    ),
    # The order must list exactly the tenant's customer-info rules: anything else, foreign or
    # unknown, is the same mismatch (see BODY_ID_ANSWERS).
    ("PUT", "/routing-rules/order", "ids"): (
        "routing_rule_id",
        lambda own, v: ({}, {"ids": [own["customer_rule"], v]}),
    ),
    ("PUT", "/dispatch-settings", "group_priority"): (
        "group_id",
        lambda own, v: ({}, {**own["dispatch"], "group_priority": [v]}),
    ),
    ("PUT", "/dispatch-settings", "priority_levels"): (
        "tag_id",
        lambda own, v: ({}, {**own["dispatch"], "priority_levels": _levels(v)}),
    ),
    ("POST", "/overflow-rules", "overflow_group_id"): (
        "group_id",
        lambda own, v: ({}, _overflow_rule(overflow_group_id=v)),
    ),
    ("POST", "/overflow-rules", "scope_group_ids"): (
        "group_id",
        lambda own, v: ({}, _overflow_rule(scope_group_ids=[v])),
    ),
    ("PATCH", "/overflow-rules/{rule_id}", "overflow_group_id"): (
        "group_id",
        lambda own, v: ({"rule_id": own["overflow_rule"]}, {"overflow_group_id": v}),
    ),
    ("PATCH", "/overflow-rules/{rule_id}", "scope_group_ids"): (
        "group_id",
        lambda own, v: ({"rule_id": own["overflow_rule"]}, {"scope_group_ids": [v]}),
    ),
    ("PUT", "/welcome-menu", "items.skill_group_id"): (
        "group_id",
        lambda own, v: (
            {},
            {
                "items": [
                    {"label": "mine", "skill_group_id": own["group_id"]},
                    {"label": "theirs", "skill_group_id": v},
                ]
            },
        ),
    ),
    ("PUT", "/visitors/{visitor_id}/tags", "tag_ids"): (
        "tag_id",
        lambda own, v: ({"visitor_id": own["visitor_id"]}, {"tag_ids": [v]}),
    ),
    ("PUT", "/history/{conversation_id}/visitor-tags", "tag_ids"): (
        "tag_id",
        _on("ended", lambda own, v: {"tag_ids": [v]}),
    ),
    # Session tags: a parent, a level to reorder, tags put on A's conversation.
    ("POST", "/session-tags", "parent_id"): (
        "session_tag_id",
        lambda own, v: ({}, {"name": "probe", "parent_id": v}),
    ),
    ("PATCH", "/session-tags/{session_tag_id}", "parent_id"): (
        "session_tag_id",
        lambda own, v: ({"session_tag_id": own["session_tag_id"]}, {"parent_id": v}),
    ),
    ("PUT", "/session-tags/order", "parent_id"): (
        "session_tag_id",
        lambda own, v: ({}, {"parent_id": v, "tag_ids": []}),
    ),
    ("PUT", "/session-tags/order", "tag_ids"): (
        "session_tag_id",
        lambda own, v: ({}, {"tag_ids": [own["session_tag_id"], v]}),
    ),
    ("PUT", "/conversations/{conversation_id}/session-tags", "tag_ids"): (
        "session_tag_id",
        _on("held", lambda own, v: {"tag_ids": [v], "remark": ""}),
    ),
    # Transfers: of a conversation waiting in A's queue (admins), of one A's admin holds, and
    # reassigning one that ended.
    ("POST", "/waiting/{conversation_id}/transfer", "agent_id"): (
        "user_id",
        _on("waiting", lambda own, v: {"agent_id": v}),
    ),
    ("POST", "/waiting/{conversation_id}/transfer", "skill_group_id"): (
        "group_id",
        _on("waiting", lambda own, v: {"skill_group_id": v}),
    ),
    ("POST", "/conversations/{conversation_id}/transfer", "agent_id"): (
        "user_id",
        _on("held", lambda own, v: {"agent_id": v}),
    ),
    ("POST", "/conversations/{conversation_id}/transfer", "skill_group_id"): (
        "group_id",
        _on("held", lambda own, v: {"skill_group_id": v}),
    ),
    ("POST", "/conversations/{conversation_id}/reassign", "agent_id"): (
        "user_id",
        _on("ended", lambda own, v: {"agent_id": v}),
    ),
    ("POST", "/conversations/{conversation_id}/reassign", "skill_group_id"): (
        "group_id",
        _on("ended", lambda own, v: {"skill_group_id": v}),
    ),
    # Customer center: a customer's tags; a group's tag condition.
    ("PATCH", "/customers/{visitor_id}", "tag_ids"): (
        "tag_id",
        lambda own, v: ({"visitor_id": own["visitor_id"]}, {"tag_ids": [v]}),
    ),
    ("POST", "/customer-groups", "items.tag_id"): (
        "tag_id",
        lambda own, v: ({}, {"name": "probe", "items": [{"kind": "tag", "tag_id": v}]}),
    ),
    ("PATCH", "/customer-groups/{group_id}", "items.tag_id"): (
        "tag_id",
        lambda own, v: (
            {"group_id": own["customer_group"]},
            {"items": [{"kind": "tag", "tag_id": v}]},
        ),
    ),
    # Blacklisting by visitor id (Customer center).
    ("POST", "/blacklist", "visitor_id"): (
        "visitor_id",
        lambda own, v: ({}, {"visitor_id": v, "reason": "probe"}),
    ),
    # Canned replies: another tenant's category or reply, in A's own bodies.
    ("POST", "/canned/public/categories", "parent_id"): (
        "canned_category_id",
        lambda own, v: ({}, {"name": "probe", "parent_id": v}),
    ),
    ("POST", "/canned/public/replies", "category_id"): (
        "canned_category_id",
        lambda own, v: ({}, {"text": "probe", "category_id": v}),
    ),
    ("PATCH", "/canned/public/replies/{canned_reply_id}", "category_id"): (
        "canned_category_id",
        lambda own, v: ({"canned_reply_id": own["canned"]["canned_reply_id"]}, {"category_id": v}),
    ),
    ("POST", "/canned/personal/replies", "category_id"): (
        "canned_category_id",
        lambda own, v: ({}, {"text": "probe", "category_id": v}),
    ),
    ("PATCH", "/canned/personal/replies/{canned_reply_id}", "category_id"): (
        "canned_category_id",
        lambda own, v: (
            {"canned_reply_id": own["canned"]["canned_personal_reply_id"]},
            {"category_id": v},
        ),
    ),
    ("POST", "/canned/submissions", "reply_id"): (
        "canned_reply_id",
        lambda own, v: (
            {},
            {"reply_id": v, "category_id": own["canned"]["canned_category_id"], "reason": "p"},
        ),
    ),
    ("POST", "/canned/submissions", "category_id"): (
        "canned_category_id",
        lambda own, v: (
            {},
            {
                "reply_id": own["canned"]["canned_personal_reply_id"],
                "category_id": v,
                "reason": "p",
            },
        ),
    ),
    ("POST", "/canned/submissions/{canned_submission_id}/accept", "category_id"): (
        "canned_category_id",
        lambda own, v: (
            {"canned_submission_id": own["canned"]["canned_submission_id"]},
            {"category_id": v},
        ),
    ),
    # Knowledge base: categories and files are looked up in the caller's tenant.
    ("POST", "/knowledge/categories", "parent_id"): (
        "knowledge_category_id",
        lambda own, v: ({}, {"name": "probe", "parent_id": v}),
    ),
    ("PATCH", "/knowledge/categories/{knowledge_category_id}", "parent_id"): (
        "knowledge_category_id",
        lambda own, v: ({"knowledge_category_id": own["knowledge"]["category"]}, {"parent_id": v}),
    ),
    ("PUT", "/knowledge/categories/order", "parent_id"): (
        "knowledge_category_id",
        lambda own, v: ({}, {"parent_id": v, "ids": []}),
    ),
    ("PUT", "/knowledge/categories/order", "ids"): (
        "knowledge_category_id",
        lambda own, v: ({}, {"parent_id": None, "ids": [v]}),
    ),
    ("POST", "/knowledge/items", "category_id"): (
        "knowledge_category_id",
        lambda own, v: ({}, {"category_id": v, "title": "probe"}),
    ),
    ("POST", "/knowledge/items", "attachment_ids"): (
        "knowledge_file_id",
        lambda own, v: (
            {},
            {"category_id": own["knowledge"]["category"], "title": "probe", "attachment_ids": [v]},
        ),
    ),
    ("PATCH", "/knowledge/items/{knowledge_item_id}", "category_id"): (
        "knowledge_category_id",
        lambda own, v: ({"knowledge_item_id": own["knowledge"]["item"]}, {"category_id": v}),
    ),
    ("PATCH", "/knowledge/items/{knowledge_item_id}", "attachment_ids"): (
        "knowledge_file_id",
        lambda own, v: ({"knowledge_item_id": own["knowledge"]["item"]}, {"attachment_ids": [v]}),
    ),
    # The sender's idempotency key, as for other sends.
    (
        "POST",
        "/conversations/{conversation_id}/knowledge/{knowledge_item_id}/send",
        "client_msg_id",
    ): None,
    ("POST", "/announcements", "audience.user_ids"): (
        "user_id",
        lambda own, v: ({}, {"subject": "x", "audience": {"user_ids": [v]}}),
    ),
    ("POST", "/announcements", "audience.skill_group_ids"): (
        "group_id",
        lambda own, v: ({}, {"subject": "x", "audience": {"skill_group_ids": [v]}}),
    ),
    ("POST", "/announcements", "attachment_ids"): (
        "attachment_id",
        lambda own, v: ({}, {"subject": "x", "audience": {"all": True}, "attachment_ids": [v]}),
    ),
    # Leave messages: batches name messages; assignments name a member of the caller's tenant.
    ("POST", "/leave-messages/batch/assign", "ids"): (
        "leave_message_id",
        lambda own, v: ({}, {"ids": [own["leave_message"], v], "assignee_id": own["user_id"]}),
    ),
    ("POST", "/leave-messages/batch/assign", "assignee_id"): (
        "user_id",
        lambda own, v: ({}, {"ids": [own["leave_message"]], "assignee_id": v}),
    ),
    ("POST", "/leave-messages/batch/status", "ids"): (
        "leave_message_id",
        lambda own, v: ({}, {"ids": [own["leave_message"], v], "status": "resolved"}),
    ),
    ("POST", "/leave-messages/{message_id}/assign", "assignee_id"): (
        "user_id",
        lambda own, v: ({"message_id": own["leave_message"]}, {"assignee_id": v}),
    ),
}

# Cases whose answer to a foreign or unknown id is not 404 not_found. They must still be equal.
BODY_ID_ANSWERS: dict[tuple[str, str, str], tuple[int, str]] = {
    ("PUT", "/routing-rules/order", "ids"): (422, "routing_order_mismatch"),
    ("POST", "/session-tags", "parent_id"): (404, "session_tag_not_found"),
    ("PATCH", "/session-tags/{session_tag_id}", "parent_id"): (404, "session_tag_not_found"),
    ("PUT", "/session-tags/order", "tag_ids"): (409, "session_tag_order_mismatch"),
    ("PUT", "/conversations/{conversation_id}/session-tags", "tag_ids"): (
        404,
        "session_tag_not_found",
    ),
    ("POST", "/knowledge/items", "attachment_ids"): (422, "knowledge_file_not_found"),
    ("PATCH", "/knowledge/items/{knowledge_item_id}", "attachment_ids"): (
        422,
        "knowledge_file_not_found",
    ),
    ("POST", "/leave-messages/batch/assign", "assignee_id"): (
        422,
        "leave_message_assignee_invalid",
    ),
    ("POST", "/leave-messages/{message_id}/assign", "assignee_id"): (
        422,
        "leave_message_assignee_invalid",
    ),
}


def _own_objects(a: Tenant) -> dict[str, Any]:
    """Tenant A's objects the body cases act on (path values and the valid rest of bodies)."""
    r = routing_of(a)
    # First, while the queue is empty: a conversation A's admin holds.
    session = a.admin.cookies.get(SESSION_COOKIE)
    assert session, "the tenant admin's client has no session cookie"
    held = r.hold(session, a.admin)
    group, tag = own_group(a), r.new_tag()
    rule_body = {"enabled": False, "on_target": _to_group(group)}
    association_rule = a.admin.ok(
        "POST",
        "/routing-rules",
        json={**rule_body, "kind": "association", "association_id": FACTORIES["association_id"](a)},
    )
    channel_rule = a.admin.ok(
        "POST",
        "/routing-rules",
        json={
            "kind": "channel",
            "channel": "wechat",
            "enabled": False,
            "split": True,
            "on_target": {"type": "robot"},
            "off_target": _to_group(group),
        },
    )
    r.switches(welcome_menu=True)
    return {
        "user_id": make_user(a),
        "team_id": make_team(a),
        "role_id": make_role(a),
        "agent_role": a.roles["agent"],
        "widget_id": FACTORIES["widget_id"](a),
        "group_id": group,
        "tag_id": tag,
        "plan_id": r.new_plan(),
        "customer_rule": r.new_routing_rule(tag, group),
        "association_rule": association_rule["id"],
        "channel_rule": channel_rule["id"],
        "overflow_rule": r.new_overflow_rule(),
        "dispatch": r.dispatch_body(),
        "visitor_id": FACTORIES["visitor_id"](a),
        "session_tag_id": FACTORIES["session_tag_id"](a),
        "held": {"conversation_id": held.conversation_id},
        "waiting": {"conversation_id": r.waiting_conversation()},
        "ended": {"conversation_id": r.ended_conversation()},
        "canned": ch.own_objects(a),
        "knowledge": kh.own_objects(a),
        "leave_message": make_leave_message(a),
        "customer_group": cu.make_group(a),
    }


@pytest.mark.skipif(not PG_URL, reason="dialect-independent: PostgreSQL run only")
def test_body_ids_of_another_tenant_answer_like_unknown_ids(api: Api, raw: httpx.Client) -> None:
    doc = openapi(raw)
    ops = operations(doc)
    discovered = [
        (op, f) for op in ops for f in [*body_id_fields(doc, op), *nested_body_id_fields(doc, op)]
    ]
    missing = [
        f"{op}: body field {f!r} names an id but is not in BODY_IDS -- add a case"
        for op, f in discovered
        if (op.method, op.path, f) not in BODY_IDS
    ]
    assert not missing, "\n".join(missing)
    # Listed fields whose name does not say "id" (they must still be fields of the body).
    listed = {(op.method, op.path, f) for op, f in discovered}
    extra = [
        (op, f)
        for op in ops
        for m, p, f in BODY_IDS
        if (m, p, f) not in listed and op.key == (m, p) and f in body_properties(doc, op)
    ]
    stale = sorted(set(BODY_IDS) - listed - {(op.method, op.path, f) for op, f in extra})
    assert not stale, f"BODY_IDS lists body fields that no longer exist: {stale}"

    a, b = _provision_pair(api)
    own = _own_objects(a)
    a_chat = chat_of(a)
    a_visitor = a_chat.new_visitor()  # for the visitor routes
    problems: list[str] = []
    for op, field in [*discovered, *extra]:
        entry = BODY_IDS[(op.method, op.path, field)]
        if entry is None:
            continue
        for kind, build in entry if isinstance(entry, list) else [entry]:
            b_id = FACTORIES[kind](b)
            before_a, before_b = snapshot(a), snapshot(b)
            path_other, body_other = build(own, b_id)
            path_unknown, body_unknown = build(own, UNKNOWN_ID)
            label = f"{op} body {field} ({kind})"
            client: httpx.Client = a.admin
            headers: dict[str, str] = {}
            if op.path.startswith(VISITOR_PATHS):
                client, headers = a_chat.http, a_visitor.headers
            r_other = client.request(
                op.method, op.url(**path_other), json=body_other, headers=headers
            )
            r_unknown = client.request(
                op.method, op.url(**path_unknown), json=body_unknown, headers=headers
            )
            problems += _same_answer(
                label,
                r_other,
                r_unknown,
                *BODY_ID_ANSWERS.get((op.method, op.path, field), (404, "not_found")),
            )
            if snapshot(b) != before_b:
                problems.append(f"{label}: tenant B's data changed")
            if snapshot(a) != before_a:
                problems.append(f"{label}: tenant A's data changed though the request was refused")
    assert not problems, "\n".join(problems)


def test_tenant_id_in_a_body_is_never_trusted(api: Api, raw: httpx.Client) -> None:
    a, b = _provision_pair(api)
    a_visitor = chat_of(a).new_visitor()  # for the visitor routes, below
    before_a, before_b = snapshot(a), snapshot(b)

    # POST /users, otherwise valid, naming tenant B: refused as an unknown field; nothing created.
    email = unique_email("smuggled")
    r = a.admin.post(
        "/users",
        json={
            "email": email,
            "password": PASSWORD,
            "nickname": "smuggled",
            "role_id": b.roles["agent"],
            "tenant_id": b.id,
        },
    )
    assert r.status_code == 422, describe(r)
    assert {"field": "tenant_id", "rule": "unknown"} in [
        {k: f[k] for k in ("field", "rule")} for f in r.json()["error"]["fields"]
    ], r.text
    r = a.admin.post(
        "/users",
        json={
            "email": email,
            "password": PASSWORD,
            "nickname": "smuggled",
            "role_id": a.roles["agent"],
            "tenant_id": b.id,
        },
    )
    assert r.status_code == 422, describe(r)
    for t in (a, b):
        assert t.admin.ok("GET", "/users", params={"q": email})["total"] == 0
    assert snapshot(a) == before_a and snapshot(b) == before_b

    # Every JSON body refuses a tenant_id (bodies forbid unknown fields). Multipart uploads have
    # no JSON body; their form carries only the file and its kind. Visitor routes authenticate
    # the visitor before reading the body: they are sent with a visitor of A's token.
    problems = []
    for op in operations(openapi(raw)):
        if "application/json" not in op.body_media:
            continue
        values = {p: UNKNOWN_ID for p in op.path_params}
        client: httpx.Client = a.admin
        headers = {"X-Kefu-Platform-Key": PLATFORM_KEY} if op.is_platform else {}
        if op.path.startswith(VISITOR_PATHS):
            client, headers = chat_of(a).http, a_visitor.headers
        r = client.request(op.method, op.url(**values), json={"tenant_id": b.id}, headers=headers)
        fields = r.json().get("error", {}).get("fields", []) if r.status_code == 422 else []
        if not any(f.get("field") == "tenant_id" and f.get("rule") == "unknown" for f in fields):
            problems.append(
                f"{op}: a body with tenant_id -> {describe(r)}; expected 422 with "
                f"tenant_id rejected as an unknown field"
            )
    assert not problems, "\n".join(problems)
    assert snapshot(a) == before_a and snapshot(b) == before_b


# --- platform routes: not tenant-scoped, key-protected -------------------------------------

PLATFORM_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/platform/tenants/{tenant_id}"): {"seats": 100},
}
KEY = {"X-Kefu-Platform-Key": PLATFORM_KEY}


def test_platform_routes_with_ids(api: Api, raw: httpx.Client) -> None:
    ops: list[Operation] = [
        op for op in operations(openapi(raw)) if op.is_platform and op.path_params
    ]
    assert ops, "no platform routes with a path id"
    missing = [
        f"{op}: platform path parameter {{{p}}} is not tenant_id -- extend this test"
        for op in ops
        for p in op.path_params
        if p != "tenant_id"
    ]
    missing += [
        f"{op}: no body in PLATFORM_BODIES"
        for op in ops
        if op.body_media and op.key not in PLATFORM_BODIES
    ]
    assert not missing, "\n".join(missing)

    a, b = _provision_pair(api)
    problems: list[str] = []
    for op in ops:
        kw: dict[str, Any] = {"json": PLATFORM_BODIES[op.key]} if op.key in PLATFORM_BODIES else {}
        # With the right key: an unknown tenant is simply not found.
        r = raw.request(op.method, op.url(tenant_id=UNKNOWN_ID), headers=KEY, **kw)
        if r.status_code != 404 or error_code(r) != "not_found":
            problems.append(f"{op} with the key, unknown tenant -> {describe(r)}; expected 404")
        if op.method == "GET":
            r = raw.request(op.method, op.url(tenant_id=b.id), headers=KEY)
            if r.status_code != 200 or r.json().get("id") != b.id:
                problems.append(f"{op} with the key, existing tenant -> {describe(r)}")
        # A tenant admin's session is no platform key, and a wrong key is no key: both refused
        # the same way whether or not the tenant exists.
        for label, client, headers in (
            ("A's admin session", a.admin, {}),
            ("wrong key", raw, {"X-Kefu-Platform-Key": "wrong-" + PLATFORM_KEY}),
            ("no key", raw, {}),
        ):
            before = snapshot(b)
            r_b = client.request(op.method, op.url(tenant_id=b.id), headers=headers, **kw)
            r_u = client.request(op.method, op.url(tenant_id=UNKNOWN_ID), headers=headers, **kw)
            problems += _same_answer(f"{op} ({label})", r_b, r_u, 401, "platform_key_invalid")
            if snapshot(b) != before:
                problems.append(f"{op} ({label}): tenant B changed")
    assert not problems, "\n".join(problems)
