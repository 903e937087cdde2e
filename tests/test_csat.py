"""Satisfaction (SPEC §10.1): settings, the agent's invitation, the automatic one at the end,
the visitor's rating (first vs last), attribution (shared vs last agent), visibility."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
from sqlalchemy import select

from kefu.conversations import actions as conv_actions
from kefu.conversations.models import Conversation
from kefu.core.clock import Clock, FakeClock, set_clock
from tests.chat_helpers import Visitor, cid, event_named, new_widget, recv_until, staff_socket
from tests.conftest import LiveServer
from tests.helpers import Api, Client, Tenant
from tests.routing_helpers import on_server, ongoing_ids, switches, system_texts

STARS = [
    {"score": 1, "text": "很差", "tags": ["态度差", "太慢"]},
    {"score": 2, "text": "较差", "tags": ["没解决"]},
    {"score": 3, "text": "一般", "tags": []},
    {"score": 4, "text": "满意", "tags": ["及时"]},
    {"score": 5, "text": "很好", "tags": ["专业", "耐心"]},
]


def _err(r: Any) -> str:
    return str(r.json()["error"]["code"])


def _settings(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "auto_invite": {"web": {"enabled": True, "robot_only": False}},
        "invite_text": "请为本次服务打分",
        "stars": STARS,
    }
    body.update(over)
    return body


def auto_on(t: Tenant, enabled: bool = True) -> None:
    t.admin.ok("PUT", "/csat/settings", json=_settings(auto_invite={"web": {"enabled": enabled}}))


@contextmanager
def served(api: Api, server: LiveServer, t: Tenant) -> Iterator[tuple[Client, Visitor, int]]:
    """An online agent holding a new visitor's conversation: (agent, visitor, conversation id)."""
    _, agent = api.add_user(t)
    with staff_socket(server.base_url, agent) as ws:
        v = Visitor(api, new_widget(t))
        v.send("你好")
        conv_id = recv_until(ws, event_named("conversation.assigned"))["conversation_id"]
        yield agent, v, conv_id


def rate(v: Visitor, conv_id: int, score: int, **kw: Any) -> Any:
    return v.http.post("/visitor/csat", json={"conversation_id": conv_id, "score": score, **kw})


def invites(client: Client, conv_id: int) -> list[str]:
    return system_texts(client, conv_id, "csat_invite")


def visitor_invites(v: Visitor, conv_id: int) -> list[dict[str, Any]]:
    msgs = v.http.ok("GET", "/visitor/messages", params={"conversation_id": conv_id})
    return [m for m in msgs if m["kind"] == "system" and m["body"].get("code") == "csat_invite"]


def end_by_system(server: LiveServer, conv_id: int, reason: str | None) -> None:
    async def run() -> None:
        async with server.app.state.sessionmaker() as db:
            conv = await db.scalar(select(Conversation).where(Conversation.id == conv_id))
            await conv_actions.end(db, conv, by="system", actor_id=None, reason=reason)
            await db.commit()

    on_server(server, run())


@pytest.fixture
def fake_clock() -> Iterator[FakeClock]:
    clock = FakeClock()
    set_clock(clock)
    yield clock
    set_clock(Clock())


# --- settings ---------------------------------------------------------------------------------


def test_settings_defaults_validation_audit_and_permission(api: Api) -> None:
    t = api.provision()
    default = t.admin.ok("GET", "/csat/settings")
    assert default["auto_invite"] == {"web": {"enabled": False, "robot_only": False}}
    assert [s["score"] for s in default["stars"]] == [1, 2, 3, 4, 5]
    assert default["invite_text"] and default["updated_at"] is None

    # Stars come back ordered by score, texts trimmed.
    body = _settings(stars=list(reversed(STARS)), invite_text="  请评价  ")
    body["auto_invite"]["web"]["robot_only"] = True
    out = t.admin.ok("PUT", "/csat/settings", json=body)
    assert [s["score"] for s in out["stars"]] == [1, 2, 3, 4, 5]
    assert out["invite_text"] == "请评价"
    assert out["auto_invite"]["web"] == {"enabled": True, "robot_only": True}
    assert t.admin.ok("GET", "/csat/settings") == out

    bad_stars = [dict(s) for s in STARS]
    bad: list[dict[str, Any]] = [
        _settings(invite_text=""),
        _settings(invite_text="x" * 201),
        _settings(invite_text="a\x00b"),
        _settings(stars=STARS[:4]),
        _settings(stars=[*STARS[:4], {**STARS[0]}]),  # score 1 twice, no 5
        _settings(stars=[*STARS[:4], {**STARS[4], "text": ""}]),
        _settings(stars=[*STARS[:4], {**STARS[4], "text": "x" * 21}]),
        _settings(stars=[*STARS[:4], {**STARS[4], "tags": [f"t{i}" for i in range(11)]}]),
        _settings(stars=[*STARS[:4], {**STARS[4], "tags": ["a", "a"]}]),
        _settings(stars=[*STARS[:4], {**STARS[4], "tags": ["x" * 21]}]),
        _settings(stars=[*STARS[:4], {**STARS[4], "tags": [""]}]),
        _settings(stars=[*STARS[:4], {**STARS[4], "score": 6}]),
        _settings(auto_invite={"weibo": {"enabled": True}}),
        {**_settings(), "extra": 1},
    ]
    for b in bad:
        r = t.admin.put("/csat/settings", json=b)
        assert r.status_code == 422, (b, r.text)
        assert _err(r) == "validation_error"
    assert t.admin.ok("GET", "/csat/settings") == out  # nothing half-written
    assert bad_stars == STARS

    actions = [row["action"] for row in t.admin.ok("GET", "/audit-logs")["items"]]
    assert actions.count("csat_settings.updated") == 1
    t.admin.ok("PUT", "/csat/settings", json=body)  # no change, no audit row
    actions = [row["action"] for row in t.admin.ok("GET", "/audit-logs")["items"]]
    assert actions.count("csat_settings.updated") == 1

    _, agent = api.add_user(t)
    assert agent.get("/csat/settings").status_code == 403
    assert agent.put("/csat/settings", json=body).status_code == 403
    assert api.anon.get("/csat/settings").status_code == 401
    # Another tenant keeps its own defaults.
    assert api.provision().admin.ok("GET", "/csat/settings")["updated_at"] is None


# --- the agent's invitation -------------------------------------------------------------------


def test_agent_invites_once_while_ongoing_and_the_visitor_sees_it_live(
    api: Api, server: LiveServer
) -> None:
    t = api.provision()
    t.admin.ok("PUT", "/csat/settings", json=_settings())
    _, other = api.add_user(t)
    with served(api, server, t) as (agent, v, conv):
        state = agent.ok("GET", f"/conversations/{conv}/csat")
        assert state["can_invite"] and not state["invited"] and state["score"] is None
        # Another agent does not see the conversation at all.
        assert other.post(f"/conversations/{conv}/csat-invite").status_code == 404
        with v.socket(server.base_url) as vws:
            out = agent.ok("POST", f"/conversations/{conv}/csat-invite", status=201)
            assert out["invited"] and out["invited_by"] == "agent" and not out["can_invite"]
            frame = recv_until(vws, event_named("message.created"))
            msg = frame["data"]["message"]
            assert msg["kind"] == "system" and msg["body"] == {
                "code": "csat_invite",
                "text": "请为本次服务打分",
            }
        r = agent.post(f"/conversations/{conv}/csat-invite")
        assert r.status_code == 409 and _err(r) == "csat_already_invited"
        assert invites(agent, conv) == ["请为本次服务打分"]
        # After a reload the visitor still finds the invitation and the rating card options.
        assert len(visitor_invites(v, conv)) == 1
        card = v.http.ok("GET", "/visitor/csat", params={"conversation_id": conv})
        assert card["invited"] and card["can_rate"] and card["rating"] is None
        assert card["stars"] == STARS and card["invite_text"] == "请为本次服务打分"
        agent.ok("POST", f"/conversations/{conv}/end")
        # Invited by the agent: no second, automatic invitation at the end.
        assert invites(agent, conv) == ["请为本次服务打分"]
        assert agent.ok("GET", f"/conversations/{conv}/csat")["can_invite"] is False


def test_invitation_only_while_ongoing(api: Api, server: LiveServer) -> None:
    t = api.provision()
    with served(api, server, t) as (agent, _v, conv):
        agent.ok("POST", f"/conversations/{conv}/end")
        r = agent.post(f"/conversations/{conv}/csat-invite")
        assert r.status_code == 409 and _err(r) == "conversation_not_ongoing"
        assert invites(agent, conv) == []
    # A waiting conversation (nobody online) cannot be invited either: the admin monitors it.
    v2 = Visitor(api, new_widget(t))
    waiting = v2.send("anyone?")["conversation_id"]
    r = t.admin.post(f"/conversations/{waiting}/csat-invite")
    assert r.status_code in (404, 409)
    assert api.anon.post(f"/conversations/{waiting}/csat-invite").status_code == 401


# --- the visitor's rating -----------------------------------------------------------------------


def test_rating_last_counts_staff_note_and_visibility(api: Api, server: LiveServer) -> None:
    t = api.provision()
    t.admin.ok("PUT", "/csat/settings", json=_settings())
    with served(api, server, t) as (agent, v, conv):
        # Spontaneous rating (no invitation) while ongoing.
        out = v.http.ok(
            "POST",
            "/visitor/csat",
            json={"conversation_id": conv, "score": 1, "tags": ["太慢"], "comment": " slow "},
        )
        assert out["rating"]["score"] == 1 and out["rating"]["comment"] == "slow"
        assert out["can_rate"] and out["invited"] is False
        # Re-rating: the last one counts.
        out = v.http.ok(
            "POST",
            "/visitor/csat",
            json={"conversation_id": conv, "score": 5, "tags": ["专业", "耐心"], "comment": ""},
        )
        assert out["rating"]["score"] == 5 and out["rating"]["tags"] == ["专业", "耐心"]
        # The agent sees that the visitor rated, never the score (decisions.md).
        state = agent.ok("GET", f"/conversations/{conv}/csat")
        assert state["rated"] and state["rating_count"] == 2
        assert state["score"] is None and state["tags"] is None and state["comment"] is None
        notes = system_texts(agent, conv, "csat_rated")
        assert len(notes) == 2
        assert all("5" not in n for n in notes)
        # ... the visitor never sees the staff note.
        msgs = v.http.ok("GET", "/visitor/messages", params={"conversation_id": conv})
        assert not [m for m in msgs if m["body"].get("code") == "csat_rated"]
        # Admins (satisfaction records page) see the score and who it counts for.
        admin_view = t.admin.ok("GET", f"/conversations/{conv}/csat")
        assert admin_view["score"] == 5 and admin_view["tags"] == ["专业", "耐心"]
        assert admin_view["agent_ids"] == [agent.me["id"]]
        # Rating an ended conversation is fine (within 7 days).
        agent.ok("POST", f"/conversations/{conv}/end")
        assert rate(v, conv, 3).status_code == 200
        assert t.admin.ok("GET", f"/conversations/{conv}/csat")["score"] == 3


def test_rating_validation(api: Api, server: LiveServer) -> None:
    t = api.provision()
    t.admin.ok("PUT", "/csat/settings", json=_settings())
    with served(api, server, t) as (agent, v, conv):
        for body in (
            {"conversation_id": conv, "score": 0},
            {"conversation_id": conv, "score": 6},
            {"conversation_id": conv, "score": 5, "comment": "x" * 201},
            {"conversation_id": conv, "score": 5, "comment": "a\x00"},
            {"conversation_id": conv, "score": 5, "tags": ["x" * 21]},
            {"conversation_id": conv, "score": 5, "extra": True},
            {"conversation_id": 0, "score": 5},
            {"score": 5},
        ):
            r = v.http.post("/visitor/csat", json=body)
            assert r.status_code == 422, (body, r.text)
        # Tags must belong to the chosen star, once each.
        for tags in (["及时"], ["专业", "专业"], ["nope"]):
            r = rate(v, conv, 5, tags=tags)
            assert r.status_code == 422 and _err(r) == "csat_tag_invalid", tags
        assert rate(v, conv, 5, comment="x" * 200).status_code == 200
        assert rate(v, conv, 3).status_code == 200  # a star without tags
        assert (
            api.anon.post("/visitor/csat", json={"conversation_id": conv, "score": 5}).status_code
            == 401
        )
        # Another visitor of the same tenant: as if the conversation did not exist.
        stranger = Visitor(api, v.widget)
        r = rate(stranger, conv, 5)
        assert r.status_code == 404 and _err(r) == "not_found"
        assert (
            stranger.http.get("/visitor/csat", params={"conversation_id": conv}).status_code == 404
        )
        assert agent.ok("GET", f"/conversations/{conv}/csat")["rating_count"] == 2


def test_first_rating_only_switch(api: Api, server: LiveServer) -> None:
    t = api.provision()
    switches(t, csat_first_rating_only=True)
    with served(api, server, t) as (_agent, v, conv):
        assert rate(v, conv, 2).status_code == 200
        r = rate(v, conv, 5)
        assert r.status_code == 409 and _err(r) == "csat_already_rated"
        card = v.http.ok("GET", "/visitor/csat", params={"conversation_id": conv})
        assert card["rating"]["score"] == 2
        assert card["can_rate"] is False and card["reason"] == "already_rated"
        assert t.admin.ok("GET", f"/conversations/{conv}/csat")["score"] == 2


def test_unserved_and_expired_conversations_cannot_be_rated(
    api: Api, server: LiveServer, fake_clock: FakeClock
) -> None:
    t = api.provision()
    v = Visitor(api, new_widget(t))
    waiting = v.send("nobody is online")["conversation_id"]
    r = rate(v, waiting, 5)
    assert r.status_code == 409 and _err(r) == "csat_not_rateable"
    card = v.http.ok("GET", "/visitor/csat", params={"conversation_id": waiting})
    assert card["can_rate"] is False and card["reason"] == "not_served"
    t.admin.ok("POST", f"/current-sessions/{waiting}/end", status=(200, 404, 409))

    with served(api, server, t) as (agent, v2, conv):
        agent.ok("POST", f"/conversations/{conv}/end")
        fake_clock.advance(days=6, hours=23)
        assert rate(v2, conv, 4).status_code == 200
        fake_clock.advance(hours=2)
        r = rate(v2, conv, 5)
        assert r.status_code == 409 and _err(r) == "csat_rating_expired"
        card = v2.http.ok("GET", "/visitor/csat", params={"conversation_id": conv})
        assert card["reason"] == "expired" and card["rating"]["score"] == 4


# --- the automatic invitation at the end --------------------------------------------------------


def test_auto_invitation_follows_the_channel_setting_and_the_end_message(
    api: Api, server: LiveServer
) -> None:
    t = api.provision()
    # Off by default.
    with served(api, server, t) as (agent, v, conv):
        agent.ok(
            "POST",
            f"/conversations/{conv}/messages",
            json={"client_msg_id": cid(), "kind": "text", "body": {"text": "hi"}},
        )
        agent.ok("POST", f"/conversations/{conv}/end")
        assert invites(agent, conv) == []
    auto_on(t)
    with served(api, server, t) as (agent, v, conv):
        with v.socket(server.base_url) as vws:
            agent.ok("POST", f"/conversations/{conv}/end")
            frame = recv_until(vws, event_named("message.created"))
            assert frame["data"]["message"]["body"]["code"] == "csat_invite"
            ended = recv_until(vws, event_named("conversation.ended"))
            assert ended["seq"] > frame["seq"]  # sent before the conversation closed
        msgs = agent.ok("GET", f"/conversations/{conv}/messages")
        assert msgs[-1]["body"].get("code") == "csat_invite"
        state = agent.ok("GET", f"/conversations/{conv}/csat")
        assert state["invited_by"] == "auto"
        assert len(visitor_invites(v, conv)) == 1
        # The visitor rates after the end.
        assert rate(v, conv, 4, tags=["及时"]).status_code == 200
    # A visitor who already rated spontaneously gets no invitation.
    with served(api, server, t) as (agent, v, conv):
        assert rate(v, conv, 5).status_code == 200
        agent.ok("POST", f"/conversations/{conv}/end")
        assert invites(agent, conv) == []
    # A conversation nobody accepted (ended in the queue) gets none either.
    v = Visitor(api, new_widget(t))
    waiting = v.send("anyone?")["conversation_id"]
    end_by_system(server, waiting, "waiting_timeout")
    assert visitor_invites(v, waiting) == []


@pytest.mark.parametrize(
    ("switch_on", "reason", "invited"),
    [
        (False, "visitor_timeout", True),
        (False, "inactive", True),
        (True, "visitor_timeout", False),
        (True, "inactive", False),
        (True, None, True),  # a manual end by the system path (no automatic reason)
    ],
)
def test_no_invitation_on_system_auto_end(
    api: Api, server: LiveServer, switch_on: bool, reason: str | None, invited: bool
) -> None:
    t = api.provision()
    auto_on(t)
    switches(t, csat_no_invite_on_auto_end=switch_on)
    with served(api, server, t) as (agent, v, conv):
        agent.ok(
            "POST",
            f"/conversations/{conv}/messages",
            json={"client_msg_id": cid(), "kind": "text", "body": {"text": "hi"}},
        )
        end_by_system(server, conv, reason)
        assert len(visitor_invites(v, conv)) == (1 if invited else 0)


def _agent_says(agent: Client, conv: int, text: str = "hi") -> None:
    agent.ok(
        "POST",
        f"/conversations/{conv}/messages",
        json={"client_msg_id": cid(), "kind": "text", "body": {"text": text}},
    )


@pytest.mark.parametrize(
    ("switch_on", "who", "invited"),
    [
        (True, "both", True),
        (True, "visitor", False),
        (True, "agent", False),  # the visitor's opening message came before acceptance
        (True, "none", False),
        (False, "visitor", True),
        (False, "agent", True),
    ],
)
def test_one_side_rule(
    api: Api, server: LiveServer, switch_on: bool, who: str, invited: bool
) -> None:
    t = api.provision()
    auto_on(t)
    switches(t, csat_one_side_no_invite=switch_on)
    with served(api, server, t) as (agent, v, conv):
        if who in ("both", "visitor"):
            v.send("more details")
        if who in ("both", "agent"):
            _agent_says(agent, conv)
        agent.ok("POST", f"/conversations/{conv}/end")
        assert len(invites(agent, conv)) == (1 if invited else 0)


def test_one_side_rule_looks_at_the_last_50_messages(api: Api, server: LiveServer) -> None:
    t = api.provision()
    auto_on(t)
    switches(t, csat_one_side_no_invite=True)
    with served(api, server, t) as (agent, v, conv):
        _agent_says(agent, conv)
        v.send("reply")
        for i in range(50):
            v.send(f"v{i}")
        agent.ok("POST", f"/conversations/{conv}/end")
        assert invites(agent, conv) == []
    with served(api, server, t) as (agent, v, conv):
        _agent_says(agent, conv)
        v.send("reply")
        for i in range(48):
            v.send(f"v{i}")
        agent.ok("POST", f"/conversations/{conv}/end")
        assert len(invites(agent, conv)) == 1


# --- attribution ------------------------------------------------------------------------------


@pytest.mark.parametrize("shared", [True, False])
def test_attribution_shared_or_last_agent(api: Api, server: LiveServer, shared: bool) -> None:
    t = api.provision()
    switches(t, csat_shared=shared)
    a_user, a = api.add_user(t)
    b_user, b = api.add_user(t)
    with ExitStack() as stack:
        ws = stack.enter_context(staff_socket(server.base_url, a))
        v = Visitor(api, new_widget(t))
        v.send("help")
        conv = recv_until(ws, event_named("conversation.assigned"))["conversation_id"]
        stack.enter_context(staff_socket(server.base_url, b))
        # Rated before the transfer: A only, whatever the switch.
        assert rate(v, conv, 4, tags=[]).status_code == 200
        assert t.admin.ok("GET", f"/conversations/{conv}/csat")["agent_ids"] == [a_user["id"]]
        out = a.ok("POST", f"/conversations/{conv}/transfer", json={"agent_id": b_user["id"]})
        assert out["outcome"] == "transferred" and ongoing_ids(b) == [conv]
        # The transfer moves the score along: both (shared) or the last agent only.
        expected = sorted([a_user["id"], b_user["id"]]) if shared else [b_user["id"]]
        assert t.admin.ok("GET", f"/conversations/{conv}/csat")["agent_ids"] == expected
        assert rate(v, conv, 2).status_code == 200
        b.ok("POST", f"/conversations/{conv}/end")
        view = t.admin.ok("GET", f"/conversations/{conv}/csat")
        assert view["score"] == 2 and view["agent_ids"] == expected


# --- tenants ----------------------------------------------------------------------------------


def test_cross_tenant_conversations_are_not_found(api: Api, server: LiveServer) -> None:
    t1 = api.provision()
    t2 = api.provision()
    t2.admin.ok("PUT", "/csat/settings", json=_settings(invite_text="T2"))
    with served(api, server, t1) as (_agent, v1, conv):
        assert t2.admin.get(f"/conversations/{conv}/csat").status_code == 404
        assert t2.admin.post(f"/conversations/{conv}/csat-invite").status_code == 404
        v2 = Visitor(api, new_widget(t2))
        assert rate(v2, conv, 5).status_code == 404
        assert v2.http.get("/visitor/csat", params={"conversation_id": conv}).status_code == 404
        # The tenant's own settings apply, not the other tenant's.
        card = v1.http.ok("GET", "/visitor/csat", params={"conversation_id": conv})
        assert card["invite_text"] != "T2"
        assert json.dumps(card).count("T2") == 0
