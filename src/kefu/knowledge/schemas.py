"""Knowledge base bodies and views."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from kefu.conversations.schemas import ClientMsgId
from kefu.core.schemas import BigInt, FreeText, Line20, Model, Name30, PatchModel

# Content is "unlimited" (§8.2); this guard only keeps one request from exhausting the server.
MAX_CONTENT_CHARS = 1_000_000
MAX_ATTACHMENTS = 10
CHANNELS = ("web", "app", "wechat", "weibo")
SendMode = Literal["card", "text"]

Title = Annotated[Line20, StringConstraints(min_length=1)]
Content = Annotated[FreeText, StringConstraints(max_length=MAX_CONTENT_CHARS)]


class KnowledgeCategoryIn(Model):
    name: Name30
    parent_id: BigInt | None = None


class KnowledgeCategoryPatch(PatchModel):
    nullable_fields = frozenset({"parent_id"})
    name: Name30 | None = None
    parent_id: BigInt | None = None


class KnowledgeCategoryOrderIn(Model):
    parent_id: BigInt | None = None
    ids: Annotated[list[BigInt], Field(max_length=500)]


class KnowledgeCategoryOut(BaseModel):
    id: int
    parent_id: int | None
    name: str
    position: int
    depth: int = Field(description="1 for a root category")
    item_count: int = Field(description="Items directly in this category")


class KnowledgeItemIn(Model):
    category_id: BigInt
    title: Title
    content_html: Content = ""
    attachment_ids: Annotated[list[BigInt], Field(max_length=MAX_ATTACHMENTS)] = []


class KnowledgeItemPatch(PatchModel):
    category_id: BigInt | None = None
    title: Title | None = None
    content_html: Content | None = None
    attachment_ids: Annotated[list[BigInt], Field(max_length=MAX_ATTACHMENTS)] | None = None


class KnowledgeFileOut(BaseModel):
    id: int
    kind: Literal["image", "file"]
    name: str
    size: int
    content_type: str
    url: str = Field(description="Images: stable asset link for content; files: signed link")


class KnowledgeItemSummaryOut(BaseModel):
    id: int
    category_id: int
    category_path: list[str]
    title: str
    summary: str
    author_name: str
    attachment_count: int
    updated_at: datetime


class KnowledgeItemOut(KnowledgeItemSummaryOut):
    content_html: str
    content_text: str
    attachments: list[KnowledgeFileOut]
    share_url: str = Field(description="The visitor-readable page, relative to the server")
    created_at: datetime


class KnowledgeItemPageOut(BaseModel):
    items: list[KnowledgeItemSummaryOut]
    total: int
    page: int
    page_size: int
    capacity: int = Field(description="Items the tenant may hold (1000)")
    used: int


class KnowledgeSettingsOut(BaseModel):
    send_modes: dict[str, SendMode] = Field(description="Per channel: web, app, wechat, weibo")


class KnowledgeSettingsIn(Model):
    send_modes: dict[Literal["web", "app", "wechat", "weibo"], SendMode]


class KnowledgeImportOut(BaseModel):
    created: int
    skipped: int = Field(description="Rows whose category and title already exist")
    categories_created: int


class KnowledgeSendIn(Model):
    # Parts and attachments sent after the first message use "<client_msg_id>:<n>".
    client_msg_id: Annotated[ClientMsgId, StringConstraints(max_length=56)]
