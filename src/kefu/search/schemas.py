"""Search (§13.1): the query, its answer, and the export's parameters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from kefu.core.schemas import BigInt, Line50, Model, Name100
from kefu.history.schemas import HistoryItemOut

SearchMode = Literal["agent", "admin"]


class SearchParams(Model):
    """The search and its filters; also the `params` of the "search" export."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    q: Name100 = Field(description="1–100 characters after trimming; matched as a substring")
    mode: SearchMode | None = Field(
        default=None,
        description="agent: conversations I took part in; admin: all in my History scope "
        "(page admin.search). Default: admin when I have that page.",
    )
    from_: datetime | None = Field(
        default=None,
        alias="from",
        description="Messages sent at or after (default: 30 days before `to`)",
    )
    to: datetime | None = Field(default=None, description="Messages sent before (default: now)")
    channel: Line50 | None = None
    association_id: BigInt | None = None
    session_tag_id: BigInt | None = Field(
        default=None, description="A tag, or a parent tag (then any of its children too)"
    )
    agent_name: Line50 | None = Field(
        default=None, description="Part of the nickname or real name of an agent who took part"
    )
    visitor_name: Line50 | None = Field(default=None, description="Part of the visitor's name")
    rating: Annotated[int, Field(ge=1, le=5)] | None = Field(
        default=None, description="The conversation's satisfaction score"
    )


class SnippetOut(BaseModel):
    message_id: int
    seq: int
    created_at: datetime
    # visitor | agent
    sender_type: str
    sender_name: str
    # text | file | image | link | card | location
    kind: str
    # Up to about 120 characters of the message around the first match.
    text: str
    # True when `text` starts / ends inside the message (show an ellipsis).
    cut_start: bool
    cut_end: bool
    # Matches in `text`: [start, end) pairs of offsets in Unicode code points (not UTF-16 units).
    highlights: list[list[int]]


class SearchItemOut(BaseModel):
    conversation: HistoryItemOut
    # Matching messages in the conversation (within the time window).
    match_count: int
    last_match_at: datetime
    # The first (up to) three matching messages, oldest first.
    snippets: list[SnippetOut]


class SearchOut(BaseModel):
    items: list[SearchItemOut]
    # Matching conversations, and matching messages in all of them.
    total: int
    total_messages: int
    page: int
    page_size: int
    # The window actually searched (defaults filled in).
    window_from: datetime
    window_to: datetime
