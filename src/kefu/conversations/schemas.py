"""Message bodies by kind, send requests and the conversation/message views clients get."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from kefu.core.errors import ApiError, validation_fields
from kefu.core.schemas import BigInt, FreeText, Line100, Line200, Model, Text500

ClientMsgId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
MessageText = Annotated[FreeText, StringConstraints(min_length=1, max_length=5000)]


def _http_url(value: str) -> str:
    # Only web links: javascript:, data: and friends would run in a viewer's browser.
    if not value.lower().startswith(("http://", "https://")) or any(c in value for c in " \r\n"):
        raise ValueError("url|只能是 http 或 https 链接|must be an http or https link")
    return value


HttpUrl = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_http_url)]


# C0 control characters other than tab and newline (a regex: a Python loop over every character
# of every message was about 1 % of the server's CPU at a thousand messages a second).
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b-\x1f]")


class TextBody(Model):
    text: MessageText

    @model_validator(mode="after")
    def _not_blank(self) -> TextBody:
        if not self.text.strip():
            raise ValueError("blank|不能为空|must not be empty")
        if _CONTROL_CHARS.search(self.text):
            raise ValueError("control_chars|不能包含控制字符|must not contain control characters")
        return self


class AttachmentBody(Model):
    attachment_id: BigInt


class VoiceBody(Model):
    attachment_id: BigInt
    duration: Annotated[int, Field(ge=1, le=60)]


class LocationBody(Model):
    latitude: Annotated[float, Field(ge=-90, le=90)]
    longitude: Annotated[float, Field(ge=-180, le=180)]
    address: Line200 = ""


class LinkBody(Model):
    url: HttpUrl
    title: Line200 = ""


class CardField(Model):
    label: Line100
    value: Line200


class CardBody(Model):
    title: Annotated[Line100, StringConstraints(min_length=1)]
    description: Text500 = ""
    image_url: HttpUrl | None = None
    url: HttpUrl | None = None
    fields: Annotated[list[CardField], Field(max_length=10)] = []
    data: dict[str, Any] = {}

    @model_validator(mode="after")
    def _size(self) -> CardBody:
        if len(json.dumps(self.model_dump(), ensure_ascii=False).encode()) > 8192:
            raise ValueError("too_large|卡片内容不能超过 8 KB|must be at most 8 KB")
        return self


BODIES: dict[str, type[Model]] = {
    "text": TextBody,
    "image": AttachmentBody,
    "file": AttachmentBody,
    "voice": VoiceBody,
    "location": LocationBody,
    "link": LinkBody,
    "card": CardBody,
}
SendKind = Literal["text", "image", "file", "voice", "location", "link", "card"]


class SendIn(Model):
    client_msg_id: ClientMsgId
    kind: SendKind
    body: dict[str, Any] = Field(description="See docs/protocol.md for each kind's body")

    def parsed_body(self) -> dict[str, Any]:
        """The body validated against its kind's schema (raises pydantic.ValidationError)."""
        return BODIES[self.kind].model_validate(self.body).model_dump(exclude_none=True)


def parse_send(body: SendIn) -> dict[str, Any]:
    """The send body checked against its kind, or a validation error naming body.<field>."""
    try:
        return body.parsed_body()
    except ValidationError as err:
        fields = [{**f, "field": f"body.{f['field']}"} for f in validation_fields(err.errors())]  # type: ignore[arg-type]
        raise ApiError("validation_error", fields=fields, detail=fields[0]["message"]) from None


class WhisperIn(Model):
    client_msg_id: ClientMsgId
    text: MessageText


class ReadIn(Model):
    seq: Annotated[int, Field(ge=0, le=2**53)]


class SenderOut(BaseModel):
    type: Literal["visitor", "agent", "system"]
    id: int | None
    name: str


class MessageOut(BaseModel):
    id: int
    conversation_id: int
    seq: int
    client_msg_id: str | None
    kind: str
    sender: SenderOut
    body: dict[str, Any]
    whisper: bool
    recalled: bool
    created_at: datetime
    replayed: bool = False


class PartyOut(BaseModel):
    id: int
    name: str


class AgentRefOut(BaseModel):
    id: int
    nickname: str


class LastMessageOut(BaseModel):
    kind: str
    preview: str
    at: datetime
    sender_type: str


class ConversationOut(BaseModel):
    id: int
    state: Literal["waiting", "ongoing", "ended"]
    channel: str
    seq: int
    visitor: PartyOut
    agent: AgentRefOut | None
    widget_id: int | None
    association_id: int | None
    created_at: datetime
    accepted_at: datetime | None
    ended_at: datetime | None
    last_message: LastMessageOut | None
    unread: int | None = None
    queue_position: int | None = None


class EventOut(BaseModel):
    type: Literal["event"] = "event"
    conversation_id: int
    seq: int
    name: str
    data: dict[str, Any]
    at: datetime


class AttachmentOut(BaseModel):
    id: int
    kind: Literal["image", "file", "voice"]
    name: str
    size: int
    content_type: str
    url: str | None = Field(description="Signed link, valid 24 hours; null once expired")
    expired: bool


class TodayOut(BaseModel):
    accepted: int
    ended: int
    ongoing: int
    online_seconds: int
