"""Presence requests and answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from kefu.core.schemas import Line200, Model

Status = Literal["idle", "busy", "away", "invisible", "offline"]
OnlineStatus = Literal["idle", "busy", "away", "invisible"]


class StatusIn(Model):
    status: OnlineStatus


class MyStatusIn(StatusIn):
    reason: Line200 | None = Field(
        default=None,
        description="Why: required when the change needs an admin's approval (§2.1)",
    )


class PresenceOut(BaseModel):
    user_id: int
    nickname: str
    status: Status
