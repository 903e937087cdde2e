"""Colleague chat bodies and views."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from kefu.conversations.schemas import ClientMsgId, MessageText
from kefu.core.schemas import Model


class ColleagueSendIn(Model):
    client_msg_id: ClientMsgId
    text: MessageText


class ColleagueMessageOut(BaseModel):
    id: int
    sender_id: int
    recipient_id: int
    client_msg_id: str
    text: str
    created_at: datetime
    read: bool
    replayed: bool = False


class ColleagueUnreadOut(BaseModel):
    user_id: int
    unread: int
