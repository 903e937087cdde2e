"""Every benchmark in one command, one JSON document: `python -m bench [--quick]`.

Runs, one after the other (each is its own module and can be run alone, see bench/README.md):

* `connections` (bench.connections): sockets held with heartbeats, KB per connection;
* `chat_sqlite`, `chat_postgresql` (bench.chat_load): persisted visitor→agent messages/s,
  latency at fixed offered loads, the highest load held at p99 ≤ 50 ms, against the bare and
  the persisting relay measured in the same run;
* `dispatch_sqlite`, `dispatch_postgresql` (bench.dispatch): durable assignments/s, the drain of
  a burst of queued visitors, free-to-assign latency;
* `cluster` (bench.cluster): one node against two nodes on PostgreSQL + Redis.

PostgreSQL parts run on a throwaway cluster this command starts (scripts/pg-test-server.sh with
a private directory and port) unless `--database-url` names one (its `public` schema is
dropped). A part whose module or prerequisites are missing is reported as skipped, with why.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PARTS = (
    "connections",
    "chat_sqlite",
    "chat_postgresql",
    "dispatch_sqlite",
    "dispatch_postgresql",
    "cluster",
)


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def module_help(module: str) -> str | None:
    """The module's --help text, or None when it does not exist."""
    if not (ROOT / "bench" / f"{module}.py").exists():
        return None
    out = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout if out.returncode == 0 else None


class Postgres:
    """A throwaway PostgreSQL cluster for the benchmark (or the one the caller named)."""

    def __init__(self, url: str | None, workdir: Path) -> None:
        self.given = url
        # Outside the private work directory: initdb runs as the postgres user, who must reach it.
        self.root = Path(tempfile.mkdtemp(prefix="kefu-bench-pg-"))
        self.root.chmod(0o755)
        self.dir = self.root / "data"
        self.port = free_port()
        self.url: str | None = url
        self.started = False

    def _env(self) -> dict[str, str]:
        return {**os.environ, "KEFU_PG_DIR": str(self.dir), "KEFU_PG_PORT": str(self.port)}

    def start(self) -> str | None:
        if self.url:
            return self.url
        script = ROOT / "scripts" / "pg-test-server.sh"
        out = subprocess.run(
            [str(script), "start"], env=self._env(), capture_output=True, text=True, check=False
        )
        if out.returncode != 0 or not out.stdout.strip():
            log(f"PostgreSQL did not start: {out.stderr.strip()[-300:]}")
            return None
        self.started = True
        self.url = out.stdout.strip().splitlines()[-1]
        return self.url

    def stop(self) -> None:
        if self.started:
            script = ROOT / "scripts" / "pg-test-server.sh"
            subprocess.run([str(script), "stop"], env=self._env(), capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def run_part(module: str, extra: list[str], workdir: Path, timeout: float) -> dict[str, Any]:
    out_file = workdir / f"{module}-{len(list(workdir.iterdir()))}.json"
    cmd = [sys.executable, "-m", f"bench.{module}", *extra, "--json-out", str(out_file)]
    log("running " + " ".join(cmd[2:]))
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, cwd=ROOT, stdout=subprocess.DEVNULL, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return {"skipped": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0 or not out_file.exists():
        return {"failed": f"exit code {proc.returncode}"}
    doc: dict[str, Any] = json.loads(out_file.read_text())
    doc["bench_wall_seconds"] = round(time.perf_counter() - started, 1)
    return doc


def asyncpg_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


def plan(args: argparse.Namespace, pg_url: str | None) -> dict[str, tuple[str, list[str]] | str]:
    """Each part: (module, arguments) or why it is skipped."""
    quick = ["--quick"] if args.quick else []
    parts: dict[str, tuple[str, list[str]] | str] = {}
    for part in args.parts:
        module = {"connections": "connections", "cluster": "cluster"}.get(
            part, part.split("_")[0] if part.startswith("dispatch") else "chat_load"
        )
        help_text = module_help(module)
        if help_text is None:
            parts[part] = f"bench/{module}.py is missing or broken"
            continue
        extra = list(quick)
        if part.endswith("postgresql") or part == "cluster":
            if pg_url is None:
                parts[part] = "no PostgreSQL"
                continue
            if "--database-url" not in help_text:
                parts[part] = f"bench.{module} has no --database-url"
                continue
            extra += ["--database-url", asyncpg_url(pg_url)]
        parts[part] = (module, extra)
    return parts


def summary(doc: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets, as far as this run measured them."""
    out: dict[str, Any] = {}
    for part, body in doc["parts"].items():
        if isinstance(body, dict) and "targets_from_issue" in body:
            out[part] = body["targets_from_issue"]
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="every part's --quick (smoke sizes)")
    p.add_argument(
        "--parts", default=",".join(PARTS), help="comma separated, of: " + ", ".join(PARTS)
    )
    p.add_argument("--database-url", help="a throwaway PostgreSQL (its public schema is dropped)")
    p.add_argument("--part-timeout", type=float, default=3600, help="seconds per part")
    p.add_argument("--json-out", type=Path)
    args = p.parse_args(argv)
    args.parts = [x.strip() for x in args.parts.split(",") if x.strip()]
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        p.error(f"unknown parts: {', '.join(sorted(unknown))}")
    wall = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kefu-bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "out").mkdir()
        needs_pg = any(x.endswith("postgresql") or x == "cluster" for x in args.parts)
        pg = Postgres(args.database_url, workdir)
        try:
            pg_url = pg.start() if needs_pg else None
            doc: dict[str, Any] = {
                "benchmark": "all",
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {
                    "cpu_count": os.cpu_count(),
                    "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
                },
                "params": {"quick": args.quick, "parts": args.parts},
                "parts": {},
            }
            for part, step in plan(args, pg_url).items():
                if isinstance(step, str):
                    doc["parts"][part] = {"skipped": step}
                    log(f"{part}: skipped ({step})")
                    continue
                module, extra = step
                doc["parts"][part] = run_part(module, extra, workdir / "out", args.part_timeout)
        finally:
            pg.stop()
    doc["params"]["wall_seconds"] = round(time.perf_counter() - wall, 1)
    doc["targets_from_issue"] = summary(doc)
    text = json.dumps(doc, ensure_ascii=False, indent=1)
    print(text)
    if args.json_out:
        args.json_out.write_text(text)


if __name__ == "__main__":
    main()
