"""Attachments: type checked by content, size limits, signed inert downloads, file expiry."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from kefu.core.clock import Clock, FakeClock, set_clock
from kefu.workers.scheduler import run_due_timers
from tests.chat_helpers import Visitor, cid, event_named, new_widget, recv_until, staff_socket
from tests.conftest import LiveServer
from tests.helpers import PASSWORD, Api, Client
from tests.route_walk import png_bytes

WEBM = (
    bytes.fromhex("1a45dfa3") + b"\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42"
    b"\xf3\x81\x08\x42\x82\x84webm\x42\x87\x81\x04\x42\x85\x81\x02" + b"\x00" * 200
)


@pytest.fixture
def fake_clock() -> Iterator[FakeClock]:
    clock = FakeClock()
    set_clock(clock)
    yield clock
    set_clock(Clock())


def _held_conversation(api: Api, server: LiveServer) -> tuple[Client, Visitor, int]:
    t = api.provision()
    _, agent = api.add_user(t)
    v = Visitor(api, new_widget(t))
    with staff_socket(server.base_url, agent) as aws:
        conv_id = v.send("hi")["conversation_id"]
        recv_until(aws, event_named("conversation.assigned"))
    return agent, v, conv_id


def _upload(
    client: Client, url: str, kind: str, name: str, data: bytes, ctype: str
) -> httpx.Response:
    return client.post(url, data={"kind": kind}, files={"file": (name, data, ctype)})


def test_image_both_ways_with_signed_inert_downloads(api: Api, server: LiveServer) -> None:
    agent, v, conv_id = _held_conversation(api, server)
    # The visitor sends a picture.
    r = _upload(v.http, "/visitor/attachments", "image", "photo.png", png_bytes(), "image/png")
    assert r.status_code == 201, r.text
    att = r.json()
    assert att["content_type"] == "image/png" and att["kind"] == "image"
    msg = v.http.ok(
        "POST",
        "/visitor/messages",
        json={"client_msg_id": cid(), "kind": "image", "body": {"attachment_id": att["id"]}},
    )
    assert msg["body"]["attachment"]["id"] == att["id"]
    # The agent sees it and downloads it through the signed link.
    staff_view = agent.ok("GET", f"/conversations/{conv_id}/messages")[-1]
    url = staff_view["body"]["attachment"]["url"]
    got = httpx.get(server.base_url + url)
    assert got.status_code == 200 and got.content == png_bytes()
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"].startswith("attachment")
    assert "sandbox" in got.headers["content-security-policy"]
    # A tampered signature or another id with this signature is refused.
    bad = httpx.get(server.base_url + url.replace("sig=", "sig=0"))
    assert bad.status_code == 403 and bad.json()["error"]["code"] == "link_expired"
    # The agent answers with a picture too.
    r = _upload(
        agent, f"/conversations/{conv_id}/attachments", "image", "a.png", png_bytes(), "image/png"
    )
    assert r.status_code == 201, r.text
    sent = agent.ok(
        "POST",
        f"/conversations/{conv_id}/messages",
        json={"client_msg_id": cid(), "kind": "image", "body": {"attachment_id": r.json()["id"]}},
    )
    seen = v.http.ok("GET", "/visitor/messages", params={"conversation_id": conv_id})
    assert seen[-1]["id"] == sent["id"] and seen[-1]["body"]["attachment"]["url"]


def test_types_are_checked_by_content_and_sizes_capped(api: Api, server: LiveServer) -> None:
    agent, v, conv_id = _held_conversation(api, server)
    url = f"/conversations/{conv_id}/attachments"
    fake = _upload(agent, url, "image", "evil.png", b"<script>alert(1)</script>", "image/png")
    assert fake.status_code == 415 and fake.json()["error"]["code"] == "unsupported_media_type"
    big = _upload(agent, url, "file", "big.bin", b"\0" * (10 * 1024 * 1024 + 1), "text/plain")
    assert big.status_code == 413
    voice_too_big = _upload(
        agent, url, "voice", "v.webm", WEBM + b"\0" * (2 * 1024 * 1024), "audio/webm"
    )
    assert voice_too_big.status_code == 413
    voice = _upload(agent, url, "voice", "v.webm", WEBM, "audio/webm")
    assert voice.status_code == 201, voice.text
    r = agent.post(
        f"/conversations/{conv_id}/messages",
        json={
            "client_msg_id": cid(),
            "kind": "voice",
            "body": {"attachment_id": voice.json()["id"], "duration": 61},
        },
    )
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "body.duration"
    # An HTML file is stored but only ever served as a download.
    html = _upload(agent, url, "file", "page.html", b"<html><script>alert(1)</script>", "text/html")
    assert html.status_code == 201
    assert html.json()["content_type"] == "application/octet-stream"
    # Someone else's upload cannot be sent.
    r = v.http.post(
        "/visitor/messages",
        json={
            "client_msg_id": cid(),
            "kind": "voice",
            "body": {"attachment_id": voice.json()["id"], "duration": 3},
        },
    )
    assert r.status_code == 422  # visitors send no voice
    r = v.http.post(
        "/visitor/messages",
        json={"client_msg_id": cid(), "kind": "file", "body": {"attachment_id": html.json()["id"]}},
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "attachment_not_found"


def test_files_expire_after_seven_days(api: Api, server: LiveServer, fake_clock: FakeClock) -> None:
    agent, v, conv_id = _held_conversation(api, server)
    r = _upload(
        agent,
        f"/conversations/{conv_id}/attachments",
        "file",
        "report.pdf",
        b"%PDF-1.4 report",
        "application/pdf",
    )
    assert r.status_code == 201, r.text
    agent.ok(
        "POST",
        f"/conversations/{conv_id}/messages",
        json={"client_msg_id": cid(), "kind": "file", "body": {"attachment_id": r.json()["id"]}},
    )
    url = agent.ok("GET", f"/conversations/{conv_id}/messages")[-1]["body"]["attachment"]["url"]
    assert httpx.get(server.base_url + url).status_code == 200
    fake_clock.advance(days=7, seconds=1)
    app = server.app
    ran = asyncio.run_coroutine_threadsafe(
        run_due_timers(app.state.sessionmaker, app.state.bus), app.state.loop
    ).result(timeout=10)
    assert ran >= 1
    agent = api.login(agent.me["email"], PASSWORD)  # a week later: signed in again
    last = agent.ok("GET", f"/conversations/{conv_id}/messages")[-1]
    assert (
        last["body"]["attachment"]["expired"] is True and last["body"]["attachment"]["url"] is None
    )
    assert httpx.get(server.base_url + url).status_code == 404
    seen = v.http.ok("GET", "/visitor/messages", params={"conversation_id": conv_id})[-1]
    assert seen["body"]["attachment"]["expired"] is True
