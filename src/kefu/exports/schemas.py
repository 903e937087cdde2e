"""Export job bodies (§14)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from kefu.core.schemas import Model

ExportFormat = Literal["xlsx", "csv"]
ExportState = Literal["queued", "running", "done", "failed", "expired"]


class ExportCreate(Model):
    kind: str = Field(min_length=1, max_length=40, description="A registered export kind")
    params: dict[str, Any] = Field(
        default_factory=dict, description="The page's current filter (checked by the kind)"
    )
    format: ExportFormat = "xlsx"


class ExportUserRef(Model):
    id: int | None
    nickname: str


class ExportJobOut(Model):
    id: int
    kind: str
    format: ExportFormat
    file_name: str
    state: ExportState
    progress_done: int
    progress_total: int
    error_code: str | None
    error_message: str | None = Field(description="The failure in the caller's language")
    size_bytes: int
    requested_by: ExportUserRef
    params: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime | None
    downloads: int


class ExportDownloadOut(Model):
    id: int
    user: ExportUserRef
    at: datetime
    ip: str
