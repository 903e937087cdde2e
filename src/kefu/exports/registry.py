"""What an export kind supplies (§14). The exports domain runs every kind as a durable job.

A page that offers "Export" registers one `ExportKind` (from its own domain's `exports.py`,
imported at start-up) and calls `POST /exports {"kind": ..., "params": {...}}`. The job runs
later, in the background, as the user who asked (re-resolved when it runs: data scopes and pages
as they are then), and writes XLSX or CSV. Kinds only describe *what* goes in the file; the
exports domain does files, limits, progress, expiry and download records.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal

# One spreadsheet cell. Datetimes are written in the tenant's time zone by the writer; text that
# a spreadsheet would read as a formula is neutralised by the writer, not by kinds.
Cell = str | int | float | bool | datetime | None


@dataclass(frozen=True)
class Sheet:
    """One worksheet (XLSX) or one file section (CSV: sheets are written one after another)."""

    name: str
    headers: list[str]
    rows: AsyncIterator[list[Cell]]


@dataclass(frozen=True)
class ExportKind:
    # "history" | "leave_messages" | "customers" | "blacklist" | "agents" | "search" | ...
    kind: str
    # The caller needs at least one of these pages to start (and, when it runs, to still hold).
    pages: tuple[str, ...]
    # Validates the `params` of `POST /exports` (the page's current filter); stored on the job.
    params_model: type[BaseModel]
    # File name stem in the user's language ("zh-CN" | "en"), e.g. "历史会话" / "History".
    title: Callable[[str], str]
    # How many units the file will hold (conversations for history, rows otherwise). Checked
    # against `max_units` before any file is written, and used for progress.
    count: Callable[[AsyncSession, Principal, Any], Awaitable[int]]
    # The sheets, in the user's language (third argument). Rows are produced lazily in the
    # order they are written; the runner reports progress as `units` are consumed: a kind
    # calls `progress(n)` after each unit it has fully written (e.g. one conversation).
    sheets: Callable[[AsyncSession, Principal, Any, str, Callable[[int], None]], list[Sheet]]
    # History exports hold at most 30,000 conversations (§14); None = only the 50 MB cap.
    max_units: int | None = None


_KINDS: dict[str, ExportKind] = {}


def register_export(kind: ExportKind) -> ExportKind:
    if kind.kind in _KINDS:
        raise ValueError(f"export kind {kind.kind!r} registered twice")
    _KINDS[kind.kind] = kind
    return kind


def export_kind(name: str) -> ExportKind | None:
    return _KINDS.get(name)


def export_kinds() -> dict[str, ExportKind]:
    return dict(_KINDS)
