"""SQLite's short-query tokens of a search document, as a function the triggers call.

`message_grams` (kefu.search.fts) indexes, for every position of a document, the character and
the pair starting there, each as the uppercase hex of its UTF-8 bytes. Migration 0016 cut the
document in SQL, joining it with a table of positions and calling `substr(doc, n, …)` per
position; SQLite walks a UTF-8 string from its start for every `substr`, so a 5,000-character
Chinese message cost about 40 ms, on the event loop's thread inside the send's batch (60
characters: 0.06–0.1 ms). Since migration 0025 the triggers call `kefu_grams(doc)` instead,
registered on every connection Kefu opens (`kefu.core.db`). It returns exactly what the SQL
returned, so the rows indexed before still delete cleanly (a contentless FTS5 table is told
which tokens to remove).
"""

from __future__ import annotations

NAME = "kefu_grams"
POSITIONS = 8192  # the SQL version's `search_positions` table: positions 1..8192
# Each character's hex, kept: chat text repeats a few thousand characters, and the look-up
# halves the function's time (10 µs instead of 20 for a 60-character message).
_HEX: dict[str, str] = {}
_HEX_KEPT = 20_000


def sqlite_grams(doc: str | None) -> str | None:
    """`(SELECT coalesce(group_concat(hex(substr(v, n, 1)) || ' ' || hex(substr(v, n, 2)),
    ' '), '') FROM search_positions WHERE n <= length(v))`, in Python."""
    if doc is None:
        return None
    # SQLite's length() of a text stops at its first NUL; every position lies before it.
    text = doc.split("\x00", 1)[0]
    hexes = []
    for ch in text[: POSITIONS + 1]:  # a pair may reach one character past the last position
        h = _HEX.get(ch)
        if h is None:
            h = ch.encode("utf-8").hex().upper()
            if len(_HEX) < _HEX_KEPT:
                _HEX[ch] = h
        hexes.append(h)
    last = min(len(text), POSITIONS)
    following = [*hexes[1:], ""]  # the last character's pair is itself
    return " ".join([f"{a} {a}{b}" for a, b in zip(hexes[:last], following[:last], strict=True)])
