"""Data scopes over the team tree, and password-reset mail through a real SMTP server."""

from __future__ import annotations

import asyncio
import re
import time

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message
from sqlalchemy import select

from kefu.access.principal import principal_for_session
from kefu.access.scopes import visible_agent_ids
from kefu.accounts.models import AuthSession
from kefu.core.config import Settings
from kefu.core.db import make_engine, make_sessionmaker
from tests.chat_helpers import Visitor
from tests.conftest import LiveServer, free_port
from tests.helpers import PASSWORD, Api, unique_email
from tests.world_history import Desk


def _visible(settings: Settings, user_id: int, data: str) -> set[int] | None:
    async def run() -> set[int] | None:
        engine = make_engine(settings)
        try:
            async with make_sessionmaker(engine)() as db:
                sess = await db.scalar(
                    select(AuthSession)
                    .where(AuthSession.user_id == user_id)
                    .order_by(AuthSession.id.desc())
                )
                assert sess is not None
                return await visible_agent_ids(db, await principal_for_session(db, sess), data)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_team_scope_sees_own_team_and_below(api: Api, settings: Settings) -> None:
    t = api.provision()
    root = t.admin.ok("GET", "/teams")[0]
    east = t.admin.ok("POST", "/teams", json={"name": "华东", "parent_id": root["id"]})[0][
        "children"
    ][0]
    west = t.admin.ok("POST", "/teams", json={"name": "华西", "parent_id": root["id"]})[0][
        "children"
    ][1]
    sh = t.admin.ok("POST", "/teams", json={"name": "上海", "parent_id": east["id"]})
    sh_id = sh[0]["children"][0]["children"][0]["id"]
    role = t.admin.ok(
        "POST",
        "/roles",
        json={
            "name": "组长",
            "pages": ["admin.history"],
            "data_scopes": {"history": "team", "customers": "tenant"},
        },
    )
    lead, _ = api.add_user(t, role_id=role["id"])
    a, _ = api.add_user(t)
    b, _ = api.add_user(t)
    c, _ = api.add_user(t)
    t.admin.ok("PUT", f"/teams/{east['id']}/members", json={"user_ids": [lead["id"], a["id"]]})
    t.admin.ok("PUT", f"/teams/{sh_id}/members", json={"user_ids": [b["id"]]})
    t.admin.ok("PUT", f"/teams/{west['id']}/members", json={"user_ids": [c["id"]]})
    assert _visible(settings, lead["id"], "history") == {lead["id"], a["id"], b["id"]}
    assert _visible(settings, lead["id"], "customers") is None
    assert _visible(settings, lead["id"], "current_sessions") == {lead["id"]}
    assert _visible(settings, a["id"], "history") == {a["id"]}  # built-in agents: their own


def test_skill_group_scope_sees_the_members_of_my_groups(
    api: Api, settings: Settings, server: LiveServer
) -> None:
    """A skill-group scope (the default of a custom role) sees its groups' members, and what
    they served shows on History admin mode; another group's conversations stay out."""
    t = api.provision()
    role = t.admin.ok("POST", "/roles", json={"name": "组长", "pages": ["admin.history"]})
    lead, lead_client = api.add_user(t, role_id=role["id"])
    a, _ = api.add_user(t)
    b, b_client = api.add_user(t)
    other, other_client = api.add_user(t)
    presale = t.admin.ok("POST", "/skill-groups", json={"name": "售前"})
    aftersale = t.admin.ok("POST", "/skill-groups", json={"name": "售后"})
    billing = t.admin.ok("POST", "/skill-groups", json={"name": "账务"})
    for group, members in ((presale, [lead, a]), (aftersale, [lead, b]), (billing, [other])):
        t.admin.ok(
            "PUT",
            f"/skill-groups/{group['id']}/members",
            json={"user_ids": [m["id"] for m in members]},
        )
    assert _visible(settings, lead["id"], "history") == {lead["id"], a["id"], b["id"]}
    assert _visible(settings, other["id"], "history") == {other["id"]}  # built-in agent
    # An ungrouped holder of the scope sees only their own records.
    loner, _ = api.add_user(t, role_id=role["id"])
    assert _visible(settings, loner["id"], "history") == {loner["id"]}
    # Through the History list: b's ended conversation shows, other's does not.
    desk = Desk(api, server.base_url, t)
    _, mine = desk.ended(b_client, Visitor(api, desk.widget, entry={"skill_group": "售后"}))
    _, theirs = desk.ended(other_client, Visitor(api, desk.widget, entry={"skill_group": "账务"}))
    ids = {c["id"] for c in lead_client.ok("GET", "/history", params={"mode": "admin"})["items"]}
    assert mine in ids and theirs not in ids, (ids, mine, theirs)


def test_forgot_password_mails_a_working_link(settings: Settings) -> None:
    received: list[str] = []

    class Collect(Message):
        def handle_message(self, message) -> None:  # type: ignore[no-untyped-def]
            received.append(message.get_payload(decode=True).decode())

    port = free_port()
    smtp = Controller(Collect(), hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        settings.smtp_host = "127.0.0.1"
        settings.smtp_port = port
        settings.smtp_starttls = False
        live = LiveServer(settings)
        live.start()
        try:
            api = Api(live.base_url)
            t = api.provision()
            email = unique_email("forgot")
            t.admin.ok(
                "POST",
                "/users",
                json={
                    "email": email,
                    "password": PASSWORD,
                    "nickname": "f",
                    "role_id": t.roles["agent"],
                },
            )
            api.anon.ok("POST", "/auth/password/forgot", json={"email": email})
            deadline = time.monotonic() + 10
            while not received and time.monotonic() < deadline:
                time.sleep(0.05)
            assert received, "no mail arrived"
            token = re.search(r"reset-password\?token=([A-Za-z0-9_\-]+)", received[0])
            assert token and live.base_url in received[0]
            api.anon.ok(
                "POST",
                "/auth/password/reset",
                json={"token": token.group(1), "new_password": "Mailed123"},
            )
            api.login(email, "Mailed123")
            api.close_all()
        finally:
            live.stop()
    finally:
        smtp.stop()
