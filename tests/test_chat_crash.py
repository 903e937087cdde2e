"""Crash safety: SIGKILL the server during sustained chat; every acknowledged message survives.

The server runs as a real `kefu serve` process (on the test's SQLite copy, or on PostgreSQL when
KEFU_TEST_DATABASE_URL is set). Visitors send over their sockets and agents over REST, each
recording what the server acknowledged. The process is killed mid-stream, restarted, and every
acknowledged message must be stored exactly once; retrying the unacknowledged ones with the same
client message ids must not create duplicates.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from kefu.core.config import Settings
from tests.chat_helpers import Visitor, new_widget, staff_socket
from tests.cluster_helpers import NodeProcess
from tests.helpers import Api, Client


def all_messages(client: Client, conv_id: int) -> list[dict[str, Any]]:
    """Every message of the conversation, paging back 100 at a time."""
    page: list[dict[str, Any]] = client.ok(
        "GET", f"/conversations/{conv_id}/messages", params={"limit": 100}
    )
    msgs = page
    while len(page) == 100:
        page = client.ok(
            "GET",
            f"/conversations/{conv_id}/messages",
            params={"limit": 100, "before_seq": page[0]["seq"]},
        )
        msgs = page + msgs
    return msgs


@pytest.fixture
def process(settings: Settings) -> Iterator[NodeProcess]:
    p = NodeProcess(settings)
    p.start()
    yield p
    p.stop()


def test_sigkill_loses_no_acknowledged_message(process: NodeProcess) -> None:
    api = Api(process.base_url)
    t = api.provision(seats=20)
    agents = [api.add_user(t)[1] for _ in range(2)]
    widget = new_widget(t)
    visitors = [Visitor(api, widget) for _ in range(4)]
    # Each visitor opens its conversation while both agents are online, so all are assigned.
    sockets = [staff_socket(process.base_url, a) for a in agents]
    convs = {v.id: v.send("hello")["conversation_id"] for v in visitors}
    for s in sockets:
        s.close()
    acked: dict[str, int] = {}  # client_msg_id -> message id the server acknowledged
    unacked: dict[str, dict[str, object]] = {}  # sent, no answer before the crash
    lock = threading.Lock()
    stop = threading.Event()

    def visitor_loop(v: Visitor) -> None:
        ws = v.socket(process.base_url)
        i = 0
        try:
            while not stop.is_set():
                cmid = f"v{v.id}-{i}"
                frame = {
                    "type": "send",
                    "client_msg_id": cmid,
                    "kind": "text",
                    "body": {"text": f"visitor {v.id} message {i}"},
                }
                with lock:
                    unacked[cmid] = {"visitor": v, "frame": frame}
                ws.send(json.dumps(frame))
                while True:
                    reply = json.loads(ws.recv(timeout=5))
                    if reply.get("type") == "ack" and reply["client_msg_id"] == cmid:
                        with lock:
                            acked[cmid] = reply["message"]["id"]
                            unacked.pop(cmid)
                        break
                i += 1
        except (ConnectionClosed, OSError, TimeoutError):
            return

    def agent_loop(agent_index: int) -> None:
        client = agents[agent_index]
        mine = [c["id"] for c in client.ok("GET", "/conversations")]
        i = 0
        while not stop.is_set() and mine:
            cmid = f"a{agent_index}-{i}"
            conv_id = mine[i % len(mine)]
            body = {"client_msg_id": cmid, "kind": "text", "body": {"text": f"agent reply {i}"}}
            with lock:
                unacked[cmid] = {"agent": client, "conv": conv_id, "body": body}
            try:
                r = client.post(f"/conversations/{conv_id}/messages", json=body, timeout=5)
            except httpx.HTTPError:
                return
            if r.status_code == 201:
                with lock:
                    acked[cmid] = r.json()["id"]
                    unacked.pop(cmid)
            i += 1

    threads = [threading.Thread(target=visitor_loop, args=(v,)) for v in visitors]
    threads += [threading.Thread(target=agent_loop, args=(i,)) for i in range(len(agents))]
    for th in threads:
        th.start()
    deadline = time.monotonic() + 30
    while len(acked) < 150 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.kill()  # no shutdown, no flush: the process is gone mid-stream
    stop.set()
    for th in threads:
        th.join(timeout=10)
    assert len(acked) >= 150, f"only {len(acked)} acknowledged before the deadline"

    process.start()
    stored: dict[str, list[int]] = {}
    for conv_id in convs.values():
        for m in all_messages(t.admin, conv_id):
            if m["client_msg_id"]:
                stored.setdefault(m["client_msg_id"], []).append(m["id"])
    lost = [c for c in acked if c not in stored]
    assert not lost, f"{len(lost)} acknowledged messages lost: {lost[:5]}"
    assert all(stored[c] == [acked[c]] for c in acked)
    # Retrying what got no answer never duplicates (it may or may not have been stored).
    for pending in unacked.values():
        if "visitor" in pending:
            v = pending["visitor"]
            frame = pending["frame"]
            assert isinstance(v, Visitor) and isinstance(frame, dict)
            v.http.ok(
                "POST",
                "/visitor/messages",
                json={k: frame[k] for k in ("client_msg_id", "kind", "body")},
            )
        else:
            client = pending["agent"]
            client.ok(
                "POST",
                f"/conversations/{pending['conv']}/messages",  # type: ignore[attr-defined]
                json=pending["body"],
            )
    for conv_id in convs.values():
        ids = [m["client_msg_id"] for m in all_messages(t.admin, conv_id)]
        assert len(ids) == len(set(ids))
