"""Observability (issue 7): /metrics moves with real traffic, JSON logs carry request and
conversation ids and no secrets, /livez and /readyz tell the truth, /metrics is guarded."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from websockets.sync.client import connect

from kefu.core.clock import Clock, FakeClock, set_clock
from kefu.core.config import Settings
from kefu.core.db import make_engine
from kefu.observability import metrics
from kefu.observability.logs import redact
from kefu.presence.timers import OFFLINE_TIMER
from tests.chat_helpers import Visitor, cid, event_named, new_widget, recv_until, staff_socket
from tests.conftest import LiveServer, free_port
from tests.helpers import PASSWORD, PLATFORM_KEY, Api
from tests.route_walk import _route_contexts as route_contexts
from tests.routing_helpers import eventually, on_server, run_timers

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def fake_clock() -> Iterator[FakeClock]:
    clock = FakeClock()
    set_clock(clock)
    yield clock
    set_clock(Clock())


def scrape(base_url: str, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics as {(name, sorted labels): value}."""
    r = httpx.get(base_url + "/metrics", headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def delta(before: dict[Any, float], after: dict[Any, float], name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_metrics_follow_a_visitor_and_an_agent_chatting(api: Api, server: LiveServer) -> None:
    t = api.provision()
    _, agent = api.add_user(t)
    widget = new_widget(t, welcome_text="欢迎")

    async def broken_listener(event: Any) -> None:
        if getattr(event, "type", None) == "chat.event":
            raise RuntimeError("listener bug")

    server.app.state.bus.subscribe(broken_listener)  # the bus survives it, and counts it
    before = scrape(server.base_url)
    with staff_socket(server.base_url, agent) as aws:
        v = Visitor(api, widget)
        vws = v.socket(server.base_url)
        during = scrape(server.base_url)
        assert delta(before, during, "kefu_websocket_connections", kind="staff") == 1
        assert delta(before, during, "kefu_websocket_connections", kind="visitor") == 1
        first = v.send("你好")
        conv_id = first["conversation_id"]
        recv_until(aws, event_named("conversation.assigned"))
        aws.send(
            json.dumps(
                {
                    "type": "send",
                    "conversation_id": conv_id,
                    "client_msg_id": cid(),
                    "kind": "text",
                    "body": {"text": "您好"},
                }
            )
        )
        recv_until(aws, lambda f: f["type"] == "ack")
        vws.close()
    after = eventually(
        lambda: (
            (s := scrape(server.base_url))
            and value(s, "kefu_websocket_connections", kind="staff")
            == value(before, "kefu_websocket_connections", kind="staff")
            and value(s, "kefu_websocket_connections", kind="visitor")
            == value(before, "kefu_websocket_connections", kind="visitor")
            and s
        )
    )
    assert delta(before, after, "kefu_messages_persisted_total", sender="visitor") == 1
    assert delta(before, after, "kefu_messages_persisted_total", sender="agent") == 1
    assert delta(before, after, "kefu_messages_persisted_total", sender="system") >= 1  # welcome
    # The agent's socket send was written by one group commit of one send.
    assert delta(before, after, "kefu_send_batch_size_count") == 1
    assert delta(before, after, "kefu_send_batch_size_sum") == 1
    # The visitor's conversation waited (for no time at all) and was dispatched once.
    assert delta(before, after, "kefu_dispatch_latency_seconds_count", reason="assigned") == 1
    assert delta(before, after, "kefu_event_listener_failures_total", event="chat.event") >= 3
    # HTTP requests are timed by route template, never by raw path.
    route = "/api/v1/visitor/messages"
    assert (
        delta(
            before,
            after,
            "kefu_http_request_duration_seconds_count",
            route=route,
            method="POST",
            status="2xx",
        )
        == 1
    )
    agent.ok("GET", f"/conversations/{conv_id}/messages")
    templated = {
        dict(labels)["route"]
        for (name, labels) in scrape(server.base_url)
        if name == "kefu_http_request_duration_seconds_count"
    }
    assert "/api/v1/conversations/{conversation_id}/messages" in templated
    assert not [r for r in templated if str(conv_id) in r.split("/")]
    # No label anywhere carries a tenant, user or conversation id.
    for _, labels in after:
        for key, _val in labels:
            assert key not in ("tenant_id", "tenant", "user_id", "conversation_id")
    # Every checked-out database connection goes back (background work may hold one briefly).
    baseline = value(before, "kefu_db_connections_in_use")
    eventually(lambda: value(scrape(server.base_url), "kefu_db_connections_in_use") <= baseline)


def test_queue_gauge_and_dispatch_latency_follow_a_waiting_conversation(
    api: Api, server: LiveServer, fake_clock: FakeClock
) -> None:
    t = api.provision()
    _, agent = api.add_user(t)  # signed in, but offline until a socket opens
    widget = new_widget(t)
    before = scrape(server.base_url)
    assert value(before, "kefu_queue_waiting") == 0
    v = Visitor(api, widget)
    v.send("anyone there?")
    assert value(scrape(server.base_url), "kefu_queue_waiting") == 1
    fake_clock.advance(seconds=42)
    with staff_socket(server.base_url, agent) as aws:  # the agent comes online: dispatched
        recv_until(aws, event_named("conversation.assigned"))
        after = eventually(
            lambda: (s := scrape(server.base_url)) and value(s, "kefu_queue_waiting") == 0 and s
        )
    assert delta(before, after, "kefu_dispatch_latency_seconds_count", reason="assigned") == 1
    waited = delta(before, after, "kefu_dispatch_latency_seconds_sum", reason="assigned")
    # (a difference of two float sums: 42 can come back as 41.999999999999986)
    assert 42 - 1e-6 <= waited < 43
    assert delta(before, after, "kefu_queue_drain_duration_seconds_count") >= 1


def test_timer_lag_and_due_timers(api: Api, server: LiveServer, fake_clock: FakeClock) -> None:
    # The test runs timers itself: the server's own scheduler would race it.
    on_server(server, server.app.state.scheduler.stop())
    t = api.provision()
    _, agent = api.add_user(t)
    with staff_socket(server.base_url, agent):
        pass  # the last tab closed: the offline timer is due in 30 s
    eventually(lambda: value(scrape(server.base_url), "kefu_timers_due") == 0)
    before = scrape(server.base_url)
    fake_clock.advance(seconds=45)
    due = eventually(
        lambda: (s := scrape(server.base_url)) and value(s, "kefu_timers_due") >= 1 and s
    )
    assert value(due, "kefu_timers_due") == 1
    assert run_timers(server) == 1
    after = scrape(server.base_url)
    assert value(after, "kefu_timers_due") == 0
    assert delta(before, after, "kefu_timer_lag_seconds_count", kind=OFFLINE_TIMER) == 1
    lag = delta(before, after, "kefu_timer_lag_seconds_sum", kind=OFFLINE_TIMER)
    assert 15 <= lag < 16  # ran 45 s after the close, due 30 s after it


def test_event_loop_lag_and_collector_pauses(server: LiveServer) -> None:
    """A stretch that holds the server's event loop shows in kefu_event_loop_lag_seconds; each
    run of the garbage collector in kefu_gc_pause_seconds."""
    before = scrape(server.base_url)

    async def hold_the_loop() -> None:
        # Longer than the probe's interval: its wake-up falls inside, 0.35 s late at least.
        time.sleep(0.6)  # noqa: ASYNC251  (the very thing the probe must see)

    on_server(server, hold_the_loop())
    lag = "kefu_event_loop_lag_seconds"
    after = eventually(
        lambda: (s := scrape(server.base_url)) and delta(before, s, lag + "_sum") >= 0.3 and s
    )
    late = delta(before, after, lag + "_count") - delta(before, after, lag + "_bucket", le="0.25")
    assert late >= 1

    gc.collect()  # a full collection, in this thread: the callback sees every thread's runs
    collected = scrape(server.base_url)
    assert delta(after, collected, "kefu_gc_pause_seconds_count", generation="2") >= 1


def test_metrics_access_rule(settings: Settings, server: LiveServer) -> None:
    # A direct loopback connection may scrape; through a proxy, or from elsewhere, it may not.
    assert httpx.get(server.base_url + "/metrics").status_code == 200
    proxied = httpx.get(server.base_url + "/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status_code == 404
    # Not part of the API or its schema.
    ours = [r for r in route_contexts(server.app) if r.path in ("/metrics", "/livez", "/readyz")]
    assert len(ours) == 3 and not [r for r in ours if r.include_in_schema]
    # With a token configured, others present it as a bearer token (the endpoint reads the
    # settings on each request: this server gets a token now, rather than a second server).
    token = "metrics-token-0123456789"
    server.app.state.settings = settings.model_copy(update={"metrics_token": SecretStr(token)})
    url = server.base_url + "/metrics"
    fwd = {"X-Forwarded-For": "203.0.113.9"}
    r = httpx.get(url, headers=fwd)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert httpx.get(url, headers={**fwd, "Authorization": "Bearer wrong"}).status_code == 401
    ok = httpx.get(url, headers={**fwd, "Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and "kefu_websocket_connections" in ok.text
    assert httpx.get(url).status_code == 200  # loopback still needs no token


def test_livez_and_readyz(server: LiveServer, tmp_path: Path) -> None:
    assert httpx.get(server.base_url + "/livez").json() == {"status": "ok"}
    r = httpx.get(server.base_url + "/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["checks"] == {
        "database": "ok",
        "migrations": "ok",
        "redis": "not_configured",
    }
    assert httpx.get(server.base_url + "/api/v1/health").json()["status"] == "ok"

    # The app, pointed in turn at databases and a Redis that fail (it reads them per request;
    # a second app would cost seconds to build).
    app = server.app
    saved = app.state.settings, app.state.engine

    async def ready(settings: Settings) -> httpx.Response:
        app.state.settings, app.state.engine = settings, make_engine(settings)
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                livez = await client.get("/livez")
                assert livez.status_code == 200  # no I/O: alive whatever the database does
                return await client.get("/readyz")
        finally:
            await app.state.engine.dispose()
            app.state.settings, app.state.engine = saved

    # PostgreSQL on a port nobody listens on: the database check fails, quickly.
    closed = Settings(
        data_dir=tmp_path / "pg", database_url=f"postgresql://kefu@127.0.0.1:{free_port()}/kefu"
    )
    started = time.monotonic()
    r = asyncio.run(ready(closed))
    assert time.monotonic() - started < 10
    assert r.status_code == 503
    assert r.json()["failed"] == ["database", "migrations"]
    assert r.json()["checks"]["database"] in ("unreachable", "timeout")
    # A database that answers but was never migrated: not ready either.
    r = asyncio.run(ready(Settings(data_dir=tmp_path / "empty")))
    assert r.status_code == 503
    assert r.json()["checks"] == {
        "database": "ok",
        "migrations": "not_migrated",
        "redis": "not_configured",
    }
    # Redis configured but not answering.
    no_redis = server.settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"}
    )
    r = asyncio.run(ready(no_redis))
    assert r.status_code == 503 and r.json()["failed"] == ["redis"]
    assert r.json()["checks"]["database"] == "ok"


def test_redaction_masks_credentials() -> None:
    line = '127.0.0.1:5 - "WebSocket /api/v1/ws?token=abcDEF123456&x=1" [accepted]'
    assert "abcDEF123456" not in redact(line) and "x=1" in redact(line)
    assert "s3cr3t-value" not in redact("Authorization: Bearer s3cr3t-value")
    assert "zzzz" not in redact("cookie kefu_session=zzzz; other=1")
    assert "hunter2" not in redact('{"email": "a@b.c", "password": "hunter2"}')
    assert "sigvalue" not in redact("/api/v1/files/3?exp=1&sig=sigvalue")


def test_json_logs_of_a_real_server(settings: Settings) -> None:
    """`kefu serve` with KEFU_LOG_FORMAT=json: every stderr line is a JSON object with the
    node; request lines carry the request id (the caller's, echoed) and, once the route has
    resolved a conversation, its tenant and conversation ids; no credential is ever written."""
    log_path = settings.data_dir / "server.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    base = f"http://127.0.0.1:{settings.port}"
    env.update(
        KEFU_DATA_DIR=str(settings.data_dir),
        KEFU_DATABASE_URL=settings.database_url,
        KEFU_PLATFORM_KEY=PLATFORM_KEY,
        KEFU_PUBLIC_BASE_URL=base,
        KEFU_LOG_FORMAT="json",
        KEFU_LOG_LEVEL="info",
        KEFU_INSECURE_FAST_HASH="1",
    )
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kefu", "serve", "--port", str(settings.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
            cwd=ROOT,
        )
    api = Api(base)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log_path.read_text(errors="replace")
            try:
                if httpx.get(base + "/livez", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        t = api.provision()
        staff = api.token_client(t.admin_email, t.admin_password)
        bearer = staff.headers["authorization"].split(" ", 1)[1]
        ws_url = base.replace("http://", "ws://") + f"/api/v1/ws?token={bearer}"
        with connect(ws_url, open_timeout=20) as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "hello"
            v = Visitor(api, new_widget(t))
            conv_id = v.send("hello")["conversation_id"]
            rid = "req-observability-0001"
            r = t.admin.get(f"/conversations/{conv_id}/messages", headers={"X-Request-ID": rid})
            assert r.status_code == 200 and r.headers["x-request-id"] == rid
            # An unusable incoming id is replaced by one of ours.
            r = t.admin.get("/me", headers={"X-Request-ID": "bad id\twith spaces"})
            generated = r.headers["x-request-id"]
            assert len(generated) == 32 and generated != "bad id\twith spaces"
        cookie = t.admin.cookies["kefu_session"]
    finally:
        api.close_all()
        proc.terminate()
        proc.wait(timeout=15)
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message", "node"} <= set(x) for x in lines)
    access = [x for x in lines if x["logger"] == "uvicorn.access"]
    [mine] = [x for x in access if x.get("request_id") == rid]
    assert mine["conversation_id"] == conv_id and mine["tenant_id"] == t.id
    assert mine["method"] == "GET" and mine["status"] == 200
    assert mine["path"] == f"/api/v1/conversations/{conv_id}/messages"
    assert [x for x in access if x.get("request_id") == generated]
    assert all(x.get("request_id") for x in access)
    # The token in the socket's URL is masked; no credential appears anywhere.
    text = log_path.read_text()
    assert "ws?token=***" in text
    for secret in (bearer, cookie, t.admin_password, PASSWORD, PLATFORM_KEY, v.token):
        assert secret not in text, secret


WORKER = """
import sys, types
from kefu.observability import metrics
conn = types.SimpleNamespace(visitor_id=None)
metrics.socket_opened(conn)
metrics.MESSAGES.labels("visitor").inc()
print("ready", flush=True)
sys.stdin.readline()
"""


def test_worker_processes_share_one_metrics_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`kefu serve --workers N`: each worker writes its metrics to PROMETHEUS_MULTIPROC_DIR and
    /metrics on any of them sums the machine; a dead worker's sockets stop counting, its
    counters do not."""
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    assert metrics.prepare_multiprocess(1) is None  # one process: plain in-memory metrics
    stale = tmp_path / "counter_999999.db"
    stale.write_bytes(b"")
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(tmp_path))
    assert metrics.prepare_multiprocess(2) == str(tmp_path)
    assert not stale.exists()  # a previous run's files are gone
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for _ in range(2)
    ]
    try:
        for w in workers:
            assert w.stdout is not None and w.stdout.readline().strip() == "ready"
        text = metrics.render().decode()
        assert 'kefu_websocket_connections{kind="staff"} 2.0' in text
        assert 'kefu_messages_persisted_total{sender="visitor"} 2.0' in text
        workers[1].send_signal(signal.SIGKILL)
        workers[1].wait(timeout=10)
        text = metrics.render().decode()
        assert 'kefu_websocket_connections{kind="staff"} 1.0' in text
        assert 'kefu_messages_persisted_total{sender="visitor"} 2.0' in text
    finally:
        for w in workers:
            w.kill()
            w.wait(timeout=10)
