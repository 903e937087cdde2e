"""Presence requests and answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from kefu.core.schemas import Model

Status = Literal["idle", "busy", "away", "invisible", "offline"]
OnlineStatus = Literal["idle", "busy", "away", "invisible"]


class StatusIn(Model):
    status: OnlineStatus


class PresenceOut(BaseModel):
    user_id: int
    nickname: str
    status: Status
