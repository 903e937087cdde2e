"""Routing and dispatch objects for the route-walking tests (permission matrix, cross-tenant,
fuzzing), made through the real API as the console and the widget would.

Configuration (time plans, skill groups, visitor tags, routing and overflow rules, the welcome
menu) is made so that it steers no visitor: routing rules are switched off and match a tag no
visitor carries, overflow rules are off. A conversation opened by a new visitor so goes to the
Ungrouped pool, as in tests/world_chat.py.

The waiting queue is shared by the whole tenant, and a conversation left waiting would be handed
to the next agent who turns Idle -- `hold_conversation` among them. So `waiting_conversation`
forces every Idle user Busy first (the new conversation must wait), and `hold` closes every
waiting conversation first (the held one must be the one handed over).
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from tests.helpers import Client
from tests.route_walk import describe
from tests.world_chat import SESSION_COOKIE, Held, TenantChat, hold_conversation, staff_socket


def _name(prefix: str, limit: int = 20) -> str:
    """A fresh name of letters and digits (skill group names allow no others)."""
    return f"{prefix}{secrets.token_hex(4)}"[:limit]


def busy_everyone(admin: Client, except_user: int | None = None) -> None:
    """Force every Idle user but `except_user` Busy: nobody takes a new conversation."""
    for p in admin.ok("GET", "/presence"):
        if p["status"] == "idle" and p["user_id"] != except_user:
            admin.ok("PUT", f"/users/{p['user_id']}/status", json={"status": "busy"})


class TenantRouting:
    """One tenant's routing objects; `admin` is the tenant's built-in admin."""

    def __init__(self, chat: TenantChat) -> None:
        self.chat = chat
        self.admin: Client = chat.t.admin
        self._me: dict[str, int] = {}

    # configuration -------------------------------------------------------------------------------
    def new_plan(self) -> int:
        return int(self.admin.ok("POST", "/time-plans", json={"name": _name("plan")})["id"])

    def new_group(self, member_ids: list[int] | None = None) -> int:
        group = self.admin.ok("POST", "/skill-groups", json={"name": _name("group")})
        if member_ids:
            self.admin.ok(
                "PUT", f"/skill-groups/{group['id']}/members", json={"user_ids": member_ids}
            )
        return int(group["id"])

    def ungrouped(self) -> int:
        return int(
            next(
                g["id"]
                for g in self.admin.ok("GET", "/skill-groups")
                if g["builtin"] == "ungrouped"
            )
        )

    def new_tag(self) -> int:
        return int(self.admin.ok("POST", "/visitor-tags", json={"name": _name("tag")})["id"])

    def routing_rule_body(self, tag_id: int, group_id: int) -> dict[str, Any]:
        """A customer-info rule, off: it steers nobody."""
        return {
            "kind": "customer",
            "name": _name("rule", 50),
            "enabled": False,
            "tag_ids": [tag_id],
            "on_target": {"type": "group", "id": group_id},
        }

    def new_routing_rule(self, tag_id: int, group_id: int) -> int:
        body = self.routing_rule_body(tag_id, group_id)
        return int(self.admin.ok("POST", "/routing-rules", json=body)["id"])

    @staticmethod
    def overflow_rule_body() -> dict[str, Any]:
        """An overflow rule, off: it moves nobody."""
        return {
            "name": _name("overflow", 50),
            "condition": "queue_length",
            "threshold": 1000,
            "notify": True,
            "enabled": False,
        }

    def new_overflow_rule(self) -> int:
        return int(self.admin.ok("POST", "/overflow-rules", json=self.overflow_rule_body())["id"])

    def menu_item(self, group_id: int) -> int:
        """An item of the welcome menu (the menu is set to one item for `group_id` if empty)."""
        items = self.admin.ok("GET", "/welcome-menu")["items"]
        if not items:
            items = self.admin.ok(
                "PUT",
                "/welcome-menu",
                json={"items": [{"label": "Sales", "skill_group_id": group_id}]},
            )["items"]
        return int(items[0]["id"])

    def dispatch_body(self, **changes: Any) -> dict[str, Any]:
        """The current dispatch settings as a PUT body, with `changes`."""
        current = self.admin.ok("GET", "/dispatch-settings")
        current.pop("updated_at", None)
        return {**current, **changes}

    def switches(self, **values: bool) -> None:
        self.admin.ok("PATCH", "/tenant/switches", json=values)

    # the waiting queue ---------------------------------------------------------------------------
    def waiting(self) -> list[int]:
        return [
            int(i["id"]) for i in self.admin.ok("GET", "/waiting", params={"limit": 200})["items"]
        ]

    def end_waiting(self) -> None:
        """Close every waiting conversation of the tenant (the built-in admin may)."""
        for conv in self.waiting():
            self.admin.ok("POST", f"/waiting/{conv}/end")

    def waiting_conversation(self) -> int:
        """A new visitor's conversation, waiting in the Ungrouped queue."""
        busy_everyone(self.admin)
        conv = self.chat.conversation()
        state = self.admin.ok("GET", f"/conversations/{conv}")["state"]
        assert state == "waiting", f"conversation {conv} is {state}, not waiting"
        return conv

    def ended_conversation(self) -> int:
        """A conversation closed while waiting; its visitor has no other."""
        conv = self.waiting_conversation()
        self.admin.ok("POST", f"/waiting/{conv}/end")
        return conv

    def hold(self, session: str, staff: httpx.Client | None = None) -> Held:
        """`hold_conversation`, with an empty queue so that the new conversation is the one
        handed to the user."""
        self.end_waiting()
        return hold_conversation(self.chat, session, staff)

    # transfers -----------------------------------------------------------------------------------
    def user_id(self, session: str) -> int:
        if session not in self._me:
            with self._client(session) as c:
                r = c.get("/me")
            assert r.status_code == 200, describe(r)
            self._me[session] = int(r.json()["id"])
        return self._me[session]

    def _client(self, session: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.chat.api_url, cookies={SESSION_COOKIE: session}, timeout=30
        )

    def transfer_request(self, holder_session: str, target_session: str) -> dict[str, Any]:
        """A pending transfer request: the holder's new conversation offered to the target.

        The target must be online while it is asked (a staff socket, opened meanwhile); the
        switch "transfer requires confirmation" is on only meanwhile too.
        """
        held = self.hold(holder_session)
        target = self.user_id(target_session)
        with staff_socket(self.chat.base_url, target_session):
            self.switches(transfer_confirmation=True)
            try:
                with self._client(holder_session) as c:
                    r = c.post(
                        f"/conversations/{held.conversation_id}/transfer", json={"agent_id": target}
                    )
            finally:
                self.switches(transfer_confirmation=False)
        assert r.status_code == 200 and r.json()["outcome"] == "pending", describe(r)
        request: dict[str, Any] = r.json()["request"]
        return request
