"""Assignment among Ungrouped agents (SPEC §5.5) and the waiting queue draining (§3.3)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from kefu.conversations.dispatch import Candidate, choose
from kefu.core.clock import Clock, FakeClock, set_clock
from tests.chat_helpers import Visitor, cid, event_named, new_widget, recv_until, staff_socket
from tests.conftest import LiveServer
from tests.helpers import Api


def test_choose_idle_ratio_then_workload_then_random() -> None:
    a = Candidate(1, max_concurrent=10, ongoing=5, accepted_today=9)  # ratio 0.5
    b = Candidate(2, max_concurrent=4, ongoing=1, accepted_today=9)  # ratio 0.75
    c = Candidate(3, max_concurrent=8, ongoing=2, accepted_today=3)  # ratio 0.75, less work
    assert choose([a, b]) == b
    assert choose([a, b, c]) == c
    d = Candidate(4, max_concurrent=8, ongoing=2, accepted_today=3)
    picks = {choose([c, d], random.Random(seed)).user_id for seed in range(40)}  # type: ignore[union-attr]
    assert picks == {3, 4}


def test_choose_skips_full_zero_and_capped_agents() -> None:
    full = Candidate(1, max_concurrent=3, ongoing=3, accepted_today=0)
    over = Candidate(2, max_concurrent=3, ongoing=5, accepted_today=0)
    zero = Candidate(3, max_concurrent=0, ongoing=0, accepted_today=0)
    capped = Candidate(4, max_concurrent=200, ongoing=200, accepted_today=0)
    assert choose([full, over, zero, capped]) is None
    ok = Candidate(5, max_concurrent=200, ongoing=199, accepted_today=0)
    assert choose([capped, ok]) == ok


def test_no_idle_agent_means_waiting_then_assigned_when_one_comes(
    api: Api, server: LiveServer
) -> None:
    t = api.provision()
    user, agent = api.add_user(t)
    v = Visitor(api, new_widget(t))
    conv_id = v.send("anyone there?")["conversation_id"]
    conv = v.http.ok("GET", "/visitor/conversation")
    assert conv["state"] == "waiting" and conv["queue_position"] == 1
    # A second visitor queues behind.
    v2 = Visitor(api, new_widget(t))
    v2.send("me too")
    assert v2.http.ok("GET", "/visitor/conversation")["queue_position"] == 2
    with v.socket(server.base_url) as vws, staff_socket(server.base_url, agent) as aws:
        assigned = recv_until(aws, event_named("conversation.assigned"))
        assert assigned["conversation_id"] == conv_id
        ev = recv_until(vws, event_named("conversation.assigned"))
        assert ev["data"]["agent"]["nickname"] == user["nickname"]
    assert {c["id"] for c in agent.ok("GET", "/conversations")} >= {conv_id}


def test_busy_agents_and_max_zero_get_nothing_and_ending_frees_capacity(
    api: Api, server: LiveServer
) -> None:
    t = api.provision()
    _user, agent = api.add_user(t, max_concurrent=1)
    zero_user, zero = api.add_user(t, max_concurrent=0)
    widget = new_widget(t)
    with staff_socket(server.base_url, agent) as aws, staff_socket(server.base_url, zero):
        first = Visitor(api, widget).send("first")["conversation_id"]
        recv_until(aws, event_named("conversation.assigned"))
        # Full (1 of 1): the next one waits, the max-0 agent never gets it.
        second_visitor = Visitor(api, widget)
        second = second_visitor.send("second")["conversation_id"]
        assert second_visitor.http.ok("GET", "/visitor/conversation")["state"] == "waiting"
        assert zero.ok("GET", "/conversations") == []
        # Ending the first conversation frees room: the waiting one is assigned.
        agent.ok("POST", f"/conversations/{first}/end")
        assigned = recv_until(aws, event_named("conversation.assigned"))
        assert assigned["conversation_id"] == second
        assert [c["id"] for c in agent.ok("GET", "/conversations")] == [second]
        today = agent.ok("GET", "/me/today")
        assert today["accepted"] == 2 and today["ended"] == 1 and today["ongoing"] == 1
        assert today["online_seconds"] >= 0
        _ = zero_user


def test_raising_max_concurrent_drains_the_queue(api: Api, server: LiveServer) -> None:
    t = api.provision()
    user, agent = api.add_user(t, max_concurrent=0)
    widget = new_widget(t)
    with staff_socket(server.base_url, agent) as aws:
        v = Visitor(api, widget)
        conv_id = v.send("hello")["conversation_id"]
        assert v.http.ok("GET", "/visitor/conversation")["state"] == "waiting"
        t.admin.ok("PATCH", f"/users/{user['id']}", json={"max_concurrent": 2})
        assert recv_until(aws, event_named("conversation.assigned"))["conversation_id"] == conv_id


def test_ended_conversation_moves_on_and_next_message_opens_a_new_one(
    api: Api, server: LiveServer
) -> None:
    t = api.provision()
    _, agent = api.add_user(t)
    v = Visitor(api, new_widget(t))
    with staff_socket(server.base_url, agent) as aws, v.socket(server.base_url) as vws:
        first = v.send("one")["conversation_id"]
        recv_until(aws, event_named("conversation.assigned"))
        agent.ok(
            "POST",
            f"/conversations/{first}/messages",
            json={"client_msg_id": cid(), "kind": "text", "body": {"text": "answer"}},
        )
        ended = agent.ok("POST", f"/conversations/{first}/end")
        assert ended["state"] == "ended"
        assert recv_until(vws, event_named("conversation.ended"))["data"]["by"] == "agent"
        # Ending twice is harmless; sending into an ended conversation is refused.
        agent.ok("POST", f"/conversations/{first}/end")
        r = agent.post(
            f"/conversations/{first}/messages",
            json={"client_msg_id": cid(), "kind": "text", "body": {"text": "late"}},
        )
        assert r.status_code == 409 and r.json()["error"]["code"] == "conversation_not_yours"
        second = v.send("two")["conversation_id"]
        assert second != first
        recv_until(
            aws,
            lambda f: f.get("name") == "conversation.assigned" and f["conversation_id"] == second,
        )
    # Prior history: the earlier conversation's messages, newest first, 10 per page.
    prior = agent.ok("GET", f"/conversations/{second}/prior-messages")
    assert [m["body"].get("text") for m in prior][:2] == ["answer", "one"]
    visitor_prior = v.http.ok("GET", "/visitor/prior-messages")
    assert [m["body"].get("text") for m in visitor_prior][:2] == ["answer", "one"]


@pytest.fixture
def fake_clock() -> Iterator[FakeClock]:
    clock = FakeClock()
    set_clock(clock)
    yield clock
    set_clock(Clock())


def test_recall_after_two_minutes_is_refused(
    api: Api, server: LiveServer, fake_clock: FakeClock
) -> None:
    t = api.provision()
    _, agent = api.add_user(t)
    v = Visitor(api, new_widget(t))
    with staff_socket(server.base_url, agent) as aws:
        conv_id = v.send("hi")["conversation_id"]
        recv_until(aws, event_named("conversation.assigned"))
    msg = agent.ok(
        "POST",
        f"/conversations/{conv_id}/messages",
        json={"client_msg_id": cid(), "kind": "text", "body": {"text": "fine"}},
    )
    fake_clock.advance(seconds=121)
    r = agent.post(f"/conversations/{conv_id}/messages/{msg['id']}/recall")
    assert r.status_code == 409 and r.json()["error"]["code"] == "recall_too_late"
