"""Writing an export file: XLSX (openpyxl write-only, streaming) or CSV (UTF-8 with BOM).

Every text cell that a spreadsheet would read as a formula is neutralised (OWASP CSV
injection: a leading `'` before = + - @ tab CR), in both formats. Datetimes are written in the
tenant's time zone as `YYYY-MM-DD HH:MM:SS`. The byte cap is checked while writing: CSV knows
its size exactly; XLSX is compressed only when saved, so it is checked against the uncompressed
text on the way (a generous bound that stops runaway files early) and exactly after saving.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import Workbook

from kefu.exports.registry import Cell, Sheet

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# XML 1.0 cannot hold most control characters; openpyxl refuses them.
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# An XLSX compresses its XML several times over; beyond this multiple of the cap in raw text
# the file cannot end up under the cap, so writing stops early.
XLSX_RAW_FACTOR = 20
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


class TooLarge(Exception):
    """The file went over the byte cap while being written."""


def neutralise(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def cell_value(value: Cell, tz: ZoneInfo) -> str | int | float | bool | None:
    if isinstance(value, datetime):
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, str):
        return neutralise(_ILLEGAL.sub("", value))
    return value


def _sheet_title(name: str, used: set[str]) -> str:
    base = _SHEET_BAD.sub(" ", name).strip()[:31] or "Sheet"
    title, n = base, 2
    while title.lower() in used:
        suffix = f" ({n})"
        title, n = base[: 31 - len(suffix)] + suffix, n + 1
    used.add(title.lower())
    return title


def _size(path: Path) -> int:
    return os.path.getsize(path)


Tick = Callable[[], Awaitable[None]]


async def write_file(
    path: Path,
    fmt: str,
    sheets: list[Sheet],
    *,
    tz: ZoneInfo,
    max_bytes: int,
    tick: Tick,
    tick_every: float = 1.0,
) -> int:
    """Write `sheets` to `path`; return its size. Raises TooLarge (the caller deletes the file).

    `tick` is awaited about every `tick_every` seconds while rows are written (progress, lease).
    """
    last = time.monotonic()

    async def maybe_tick() -> None:
        nonlocal last
        if time.monotonic() - last >= tick_every:
            last = time.monotonic()
            await tick()

    if fmt == "csv":
        with path.open("w", encoding="utf-8-sig", newline="") as fh:
            out = csv.writer(fh)
            for index, sheet in enumerate(sheets):
                if index:
                    out.writerow([])
                if len(sheets) > 1:
                    out.writerow([neutralise(sheet.name)])
                out.writerow([cell_value(h, tz) for h in sheet.headers])
                async for row in sheet.rows:
                    out.writerow([cell_value(v, tz) for v in row])
                    if fh.tell() > max_bytes:
                        raise TooLarge
                    await maybe_tick()
        size = _size(path)
        if size > max_bytes:
            raise TooLarge
        return size

    wb = Workbook(write_only=True)
    used: set[str] = set()
    raw = 0
    raw_cap = max_bytes * XLSX_RAW_FACTOR
    for sheet in sheets:
        ws = wb.create_sheet(title=_sheet_title(sheet.name, used))
        ws.append([cell_value(h, tz) for h in sheet.headers])
        async for row in sheet.rows:
            values = [cell_value(v, tz) for v in row]
            raw += sum(len(str(v).encode()) + 24 for v in values if v is not None)
            if raw > raw_cap:
                raise TooLarge
            ws.append(values)
            await maybe_tick()
    if not used:
        wb.create_sheet(title="Sheet")
    # Zipping a large workbook takes a while: off the event loop.
    await asyncio.to_thread(wb.save, str(path))
    size = _size(path)
    if size > max_bytes:
        raise TooLarge
    return size


def csv_rows(data: bytes) -> list[list[str]]:
    """Read a CSV export back (tests, tools)."""
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
