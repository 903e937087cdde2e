"""The kinds of notice and the parameters each carries (the UI words them per language).

A kind is never renamed or removed once shipped: stored notices keep it forever (§15.1).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class MaxConcurrentChanged(BaseModel):
    """An admin changed the recipient's max concurrent (§2.2)."""

    old: int
    new: int
    actor_id: int
    actor_name: str


NotificationKind = Literal["max_concurrent_changed"]

DATA_SCHEMAS: dict[str, type[BaseModel]] = {
    "max_concurrent_changed": MaxConcurrentChanged,
}
