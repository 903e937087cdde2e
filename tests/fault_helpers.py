"""Processes and chat clients for the deployment and fault-injection tests.

- `PgCluster`: a throwaway PostgreSQL cluster of the test's own (initdb on a free port, like
  `scripts/pg-test-server.sh`), which a test may stop and start without disturbing the shared
  test server other tests and helpers use. Nodes and Redis come from tests/cluster_helpers.py.
- `Nginx`: Debian's nginx as a throwaway process running `deploy/nginx/kefu.conf`, templated.
- `Peer`: a chat client (visitor or agent) that sends over its socket, records acks and the
  events it applied, and on a dropped socket reconnects elsewhere, resumes from its last seq and
  resends what was never acknowledged, as the widget and the workbench do.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import create_async_engine
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from tests.chat_helpers import Visitor
from tests.cluster_helpers import run_sql
from tests.helpers import Client

ROOT = Path(__file__).resolve().parents[1]
NGINX_CONF = ROOT / "deploy" / "nginx" / "kefu.conf"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def sql(url: str, query: str, **params: Any) -> list[Any]:
    """Run one statement on the database at `url` (postgresql://…) and return its rows."""
    engine = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://", 1))
    return run_sql(engine, query, params)


# --- PostgreSQL ------------------------------------------------------------------------------


class PgCluster:
    """A PostgreSQL cluster of our own in /tmp, on a free port (never the shared test server)."""

    def __init__(self) -> None:
        bin_dir = pg_bin()
        assert bin_dir is not None, "PostgreSQL is not installed"
        self.bin = bin_dir
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="kefu-fault-pg-"))
        self.url = f"postgresql://kefu@127.0.0.1:{self.port}/kefu"
        self._root = os.geteuid() == 0
        if self._root:
            shutil.chown(self.dir, "postgres", "postgres")
        # Same settings as scripts/pg-test-server.sh: UTF-8 ctype (pg_trgm), trust on loopback.
        self._run(
            "initdb",
            "-D",
            str(self.dir),
            "-A",
            "trust",
            "-U",
            "kefu",
            "--encoding=UTF8",
            "--locale=C",
            "--lc-ctype=C.UTF-8",
        )
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "kefu", "kefu")

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bin / tool), *args]
        if self._root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, cwd=self.dir.parent)

    def start(self) -> None:
        opts = f"-p {self.port} -k /tmp -c fsync=off -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.dir), "-o", opts, "-l", f"{self.dir}/log", "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.dir), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


# --- nginx ------------------------------------------------------------------------------------


def render_conf(
    upstreams: list[str],
    *,
    https_port: int,
    http_port: int,
    cert: Path,
    key: Path,
    source: Path = NGINX_CONF,
) -> str:
    """deploy/nginx/kefu.conf with the test's ports, nodes and certificate substituted.

    Every substitution must match exactly where the shipped file has it, so a change to the
    file that the test would silently stop exercising fails here instead.
    """
    conf = source.read_text()

    def sub(pattern: str, repl: str | Callable[[re.Match[str]], str], count: int) -> None:
        nonlocal conf
        conf, n = re.subn(pattern, repl, conf, flags=re.M)
        assert n == count, f"{pattern!r} matched {n} times in {source}, expected {count}"

    servers = iter(upstreams)
    sub(
        r"^(\s*server )127\.0\.0\.1:800[12]( .*;)$",
        lambda m: f"{m.group(1)}{next(servers)}{m.group(2)}",
        2,
    )
    sub(r"^\s*listen \[::\]:\d+.*;\n", "", 2)
    sub(r"^(\s*)listen 80;$", rf"\1listen 127.0.0.1:{http_port};", 1)
    sub(r"^(\s*)listen 443 ssl http2;$", rf"\1listen 127.0.0.1:{https_port} ssl http2;", 1)
    sub(r"^(\s*ssl_certificate\s+)\S+;$", rf"\g<1>{cert};", 1)
    sub(r"^(\s*ssl_certificate_key\s+)\S+;$", rf"\g<1>{key};", 1)
    sub(r"/var/www/html", "/nonexistent", 1)
    return conf


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class Nginx:
    """nginx as a throwaway foreground process (`-p <dir> -c <conf> -g 'daemon off; …'`)."""

    def __init__(self, directory: Path, upstreams: list[str], https_port: int = 0) -> None:
        binary = nginx_binary()
        assert binary is not None
        self.binary = binary
        self.dir = directory
        (directory / "logs").mkdir(parents=True, exist_ok=True)
        self.https_port = https_port or free_port()
        self.http_port = free_port()
        self.base_url = f"https://127.0.0.1:{self.https_port}"
        self.cert, self.key = self_signed_cert(directory)
        site = render_conf(
            upstreams,
            https_port=self.https_port,
            http_port=self.http_port,
            cert=self.cert,
            key=self.key,
        )
        temp = "\n".join(
            f"    {name}_temp_path {directory}/{name};"
            for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        # Started as root, nginx's workers would become `nobody`, who cannot write the test's
        # private temp directories (request bodies over 16 KB are buffered there).
        user = "user root;\n" if os.geteuid() == 0 else ""
        # The outer file is what /etc/nginx/nginx.conf provides on Debian; the site is ours.
        self.conf = directory / "nginx.conf"
        self.conf.write_text(
            f"""{user}worker_processes 1;
error_log {directory}/logs/error.log info;
events {{ worker_connections 1024; }}
http {{
    # Which node served each request (the test reads it; WebSockets are logged when closed);
    # after " | ", when and how long, for a report: end time, total, connecting to the node,
    # the node's answer, nginx's connection to the client and its request number there.
    log_format upstream '$request_uri $status $upstream_addr | $msec $request_time'
                        ' $upstream_connect_time $upstream_header_time'
                        ' $connection $connection_requests';
    access_log {directory}/logs/access.log upstream;
{temp}
{site}
}}
"""
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [self.binary, "-p", str(self.dir), "-c", str(self.conf)]
        check = subprocess.run([*args, "-t"], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        self.proc = subprocess.Popen(
            [*args, "-g", f"daemon off; pid {self.dir}/nginx.pid;"],
            stdout=subprocess.DEVNULL,
            stderr=(self.dir / "logs" / "stderr.log").open("ab"),
        )
        deadline = time.monotonic() + 10
        while True:
            assert self.proc.poll() is None, (self.dir / "logs" / "error.log").read_text()
            try:
                httpx.get(self.base_url + "/api/v1/health", verify=False, timeout=1)  # noqa: S501 - self-signed
                return
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.05)

    def served_by(self) -> dict[str, str]:
        """`peer=<name>` in a socket URL (see Peer) -> the node that served it."""
        out = {}
        for line in (self.dir / "logs" / "access.log").read_text().splitlines():
            uri, status, upstream = line.split(" | ", 1)[0].split(" ", 2)
            found = re.search(r"[?&]peer=([\w-]+)", uri)
            if found and status == "101":
                out[found.group(1)] = upstream
        return out

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def insecure_tls() -> ssl.SSLContext:
    """The test's client side of nginx's TLS (self-signed), capped at TLS 1.2.

    websockets' sync client reads its socket in a thread of its own from before it writes the
    handshake request (and pings from a third), and Python's SSL sockets are not safe for
    that: OpenSSL forbids concurrent calls on one session. Under TLS 1.3 the server's session
    tickets arrive after the handshake, so the reading thread processes them while the request
    is written; twice in 10 runs here the request never reached nginx ("client timed out while
    waiting for request" in its log) and the handshake timed out, while a staff socket's pings
    stalled at the same time. TLS 1.2 sends its tickets inside the handshake. nginx itself
    still offers 1.2 and 1.3 (deploy/nginx/kefu.conf), and browsers are not affected."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


# --- chat peers -------------------------------------------------------------------------------

RETRYABLE_NACKS = {"server_busy"}


def ws_url(base_url: str) -> str:
    return base_url.replace("https://", "wss://").replace("http://", "ws://")


class Peer:
    """One chat client looping `send → ack`, recording everything it applies.

    `urls` lists the servers it may use: it starts on `urls[0]` and, when the socket drops,
    reconnects to the next one that answers (a load balancer's job in production), resumes each
    conversation from the last seq it applied and resends its unacknowledged message with the
    same client_msg_id. A `hello` with `"resync": true` (a node lost Redis for a while) makes it
    resume on the same socket.
    """

    def __init__(
        self,
        name: str,
        urls: list[str],
        *,
        visitor: Visitor | None = None,
        staff: Client | None = None,
        conversations: list[int] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        origin: str = "",
        open_timeout: float = 10,
    ) -> None:
        assert (visitor is None) != (staff is None)
        self.name = name
        self.urls = list(urls)
        self.url = self.urls[0]
        self.origin = origin or urls[0]
        self.visitor = visitor
        self.staff = staff
        self.conversations = list(conversations or [])
        self.ssl = ssl_context
        self.open_timeout = open_timeout  # the handshake, and the wait for hello after it
        self.ws: ClientConnection | None = None
        self.applied: dict[int, list[int]] = {}  # conversation -> seqs of events, as received
        self.acked: dict[str, tuple[int, float]] = {}  # client_msg_id -> (message id, when)
        self.pending: dict[str, Any] | None = None
        self._answer: dict[str, Any] | None = None  # ack or nack of the pending send
        self._resuming: set[int] = set()
        # The events of a conversation being resumed (replayed and live ones, which may come
        # first) wait for its `resumed` and are then applied in seq order, as the widget does.
        self._buffered: dict[int, list[dict[str, Any]]] = {}
        self.nacks: list[str] = []
        self.drops: list[float] = []  # when the socket dropped
        self.reconnected_to: list[str] = []
        self.resumes: list[dict[str, Any]] = []  # resumed / resync frames received
        self.resync_hellos = 0
        self.early_frames: list[dict[str, Any]] = []  # frames that came before hello
        self.trace: list[str] = []  # a short timeline for failure messages
        self.ignored = 0  # events with a seq already applied
        self.pongs = 0
        self.received_texts: list[tuple[float, str]] = []  # text messages from the other side
        self.errors: list[str] = []
        self.counter = 0
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    # -- connection
    def connect(self) -> None:
        base = ws_url(self.url)
        if self.visitor is not None:
            url = base + f"/api/v1/visitor/ws?widget={self.visitor.widget['key']}&peer={self.name}"
            ws = connect(
                url, open_timeout=self.open_timeout, ssl=self.ssl, close_timeout=1
            ).__enter__()
            ws.send(json.dumps({"type": "auth", "token": self.visitor.token}))
        else:
            assert self.staff is not None
            ws = connect(
                base + f"/api/v1/ws?peer={self.name}",
                additional_headers={"Cookie": f"kefu_session={self.staff.cookies['kefu_session']}"},
                origin=Origin(self.origin),
                open_timeout=self.open_timeout,
                ssl=self.ssl,
                close_timeout=1,
            ).__enter__()
        # The protocol sends hello first. Frames before it are only recorded for the test to
        # report: what they carried comes again from the resume that follows.
        early: list[dict[str, Any]] = []
        while (hello := json.loads(ws.recv(timeout=self.open_timeout)))["type"] != "hello":
            early.append(hello)
        self.early_frames.extend(early)
        if self.visitor is not None and hello.get("conversation"):
            conv = hello["conversation"]["id"]
            if conv not in self.conversations:
                self.conversations.append(conv)
        self.ws = ws

    def last_seq(self, conv: int) -> int:
        return (self.applied.get(conv) or [0])[-1]

    def request_resume(self) -> None:
        """Ask for everything after the last applied seq of each conversation."""
        assert self.ws is not None
        known = {c: self.last_seq(c) for c in self.conversations}
        self._resuming = set(known)
        if self.visitor is not None:
            for conv, after in known.items():
                frame = {"type": "resume", "conversation_id": conv, "after_seq": after}
                self.ws.send(json.dumps(frame))
        elif known:
            frame2 = {"type": "resume", "conversations": {str(k): v for k, v in known.items()}}
            self.ws.send(json.dumps(frame2))

    def resume(self) -> None:
        """Resume and wait until every conversation answered `resumed` (or `resync`)."""
        assert self.ws is not None
        self.request_resume()
        deadline = time.monotonic() + 10
        while self._resuming:
            self.handle(json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic()))))

    def reconnect(self, deadline: float) -> None:
        """Find a server that answers (the current one first), then resume."""
        self.drops.append(time.monotonic())
        self.trace.append(f"{time.monotonic():.2f} dropped")
        self.close()
        start = self.urls.index(self.url)
        order = self.urls[start:] + self.urls[:start]
        while not self.stop.is_set():
            for url in order:
                self.url = url
                try:
                    self.connect()
                    self.resume()
                    self.reconnected_to.append(url)
                    return
                except (OSError, ConnectionClosed, InvalidHandshake, InvalidStatus, TimeoutError):
                    self.close()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: no server to reconnect to")
            time.sleep(0.2)

    # -- frames
    def handle(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "event" and frame["conversation_id"] in self._resuming:
            conv, seq = frame["conversation_id"], frame["seq"]
            self.trace.append(f"{time.monotonic():.2f} buffered {conv}:{seq}")
            self._buffered.setdefault(conv, []).append(frame)
            return
        if kind == "event":
            conv, seq = frame["conversation_id"], frame["seq"]
            self.trace.append(f"{time.monotonic():.2f} event {conv}:{seq}")
            seqs = self.applied.setdefault(conv, [])
            if seqs and seq <= seqs[-1]:
                # The protocol's client rule: a seq already applied is ignored. (A live event
                # sent before the server read our resume comes again in the replay.)
                self.ignored += 1
                return
            seqs.append(seq)  # check_stream finds gaps
            if frame.get("name") == "message.created":
                msg = frame["data"]["message"]
                mine = (msg["sender"]["type"] == "visitor") == (self.visitor is not None)
                if not mine and msg["kind"] == "text":
                    self.received_texts.append((time.monotonic(), msg["body"]["text"]))
        elif kind in ("ack", "nack"):
            if self.pending is not None and frame["client_msg_id"] == self.pending["client_msg_id"]:
                self._answer = frame
        elif kind in ("resumed", "resync"):
            self.trace.append(f"{time.monotonic():.2f} {kind} {frame}")
            self.resumes.append(frame)
            self._resuming.discard(frame["conversation_id"])
            held = self._buffered.pop(frame["conversation_id"], [])
            for event in sorted(held, key=lambda f: int(f["seq"])):
                self.handle(event)
        elif kind == "hello" and frame.get("resync"):
            self.resync_hellos += 1
            self.trace.append(f"{time.monotonic():.2f} hello resync")
            self.request_resume()
        elif kind == "pong":
            self.pongs += 1

    def next_frame(self) -> dict[str, Any]:
        self.counter += 1
        cmid = f"{self.name}-{self.counter}"
        frame: dict[str, Any] = {
            "type": "send",
            "client_msg_id": cmid,
            "kind": "text",
            "body": {"text": f"{self.name} #{self.counter}"},
        }
        if self.staff is not None:
            frame["conversation_id"] = self.conversations[self.counter % len(self.conversations)]
        return frame

    def send_one(self, frame: dict[str, Any], deadline: float) -> None:
        """Send until acknowledged: retry a retryable nack, reconnect a dropped socket."""
        self.pending = frame
        while not self.stop.is_set():
            self._answer = None
            try:
                assert self.ws is not None
                self.ws.send(json.dumps(frame))
                while self._answer is None:
                    self.handle(json.loads(self.ws.recv(timeout=10)))
            except (OSError, ConnectionClosed, TimeoutError):
                self.reconnect(deadline)
                continue
            reply = self._answer
            if reply["type"] == "ack":
                with self.lock:
                    self.acked[frame["client_msg_id"]] = (reply["message"]["id"], time.monotonic())
                self.pending = None
                return
            self.nacks.append(reply["code"])
            if reply["code"] not in RETRYABLE_NACKS:
                self.errors.append(f"non-retryable nack {reply}")
                self.pending = None
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: still nacked ({reply['code']})")
            time.sleep(0.2)

    def run(self, pause: float = 0.0, outage_deadline: float = 60) -> None:
        try:
            while not self.stop.is_set():
                self.send_one(self.next_frame(), time.monotonic() + outage_deadline)
                if pause:
                    time.sleep(pause)
        except Exception as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def start(self, pause: float = 0.0) -> None:
        self.stop.clear()
        self.thread = threading.Thread(target=self.run, args=(pause,), daemon=True)
        self.thread.start()

    def join(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=30)

    def drain(self, seconds: float = 0.5) -> None:
        """Apply what is still in flight (after the loop stopped)."""
        if self.ws is None:
            return
        end = time.monotonic() + seconds
        try:
            while time.monotonic() < end:
                self.handle(json.loads(self.ws.recv(timeout=max(0.01, end - time.monotonic()))))
        except (TimeoutError, ConnectionClosed, OSError):
            pass

    def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):  # already gone
                self.ws.close()
            self.ws = None


def check_stream(seqs: list[int], complete: bool) -> str | None:
    """A conversation's applied seqs: strictly increasing (no event applied twice) and, when
    every event is visible to the client (`complete`: staff; visitors without whispers), without
    gaps. Returns a description of the first fault."""
    for a, b in itertools.pairwise(seqs):
        if b <= a:
            return f"seq {b} after {a} (duplicate or out of order)"
        if complete and b != a + 1:
            return f"gap: {a} then {b}"
    return None
