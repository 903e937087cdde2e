"""Automation settings bodies (§6, §7). Durations are seconds: the console edits minutes, the
API accepts down to 10 s so timers can be exercised in real time."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from kefu.core.schemas import BigInt, Line20, Line50, Model, Text500

Seconds = Annotated[int, Field(ge=10, le=7 * 24 * 3600)]
Count = Annotated[int, Field(ge=1, le=10)]
Remark = Annotated[str, Field(max_length=200)]
TagIds = Annotated[list[BigInt], Field(max_length=10)]
AlertLevel = Literal["low", "medium", "high"]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("required|不能为空|must not be empty")
    return value


Nickname = Annotated[Line20, AfterValidator(_not_blank)]
Salutation = Annotated[Line20, AfterValidator(_not_blank)]


class VisitorTimeout(Model):
    """Visitor no-reply auto-end: prompts after an agent message, then the end."""

    enabled: bool = False
    first_timeout: Seconds = 300
    count: Count = 1
    interval: Seconds = 120
    text: Text500 = "您好，请问还有其他问题吗？如无回复，会话将自动结束。"
    end_delay: Seconds = 120
    tag_ids: TagIds = []
    remark: Remark = ""


class Inactive(Model):
    """Neither side wrote for the timeout: prompt and end."""

    enabled: bool = False
    timeout: Seconds = 1800
    text: Text500 = "由于长时间没有新的消息，本次会话已结束。"


class WaitingReminder(Model):
    """Reminders to a visitor still in the queue (default OFF)."""

    enabled: bool = False
    text: Text500 = "客服正忙，请您耐心等待，您也可以留言，我们会尽快联系您。"
    period: Literal["all", "on_duty", "off_duty"] = "all"
    first_after: Seconds = 60
    count: Count = 1
    interval: Seconds = 60
    leave_message: bool = False


class WaitingEnd(Model):
    """End a conversation that waited too long, at once or after asking the visitor."""

    enabled: bool = False
    mode: Literal["remind_end", "keep_waiting"] = "remind_end"
    timeout: Seconds = 1800
    end_text: Text500 = "当前排队人数较多，本次会话已结束，请稍后再来咨询。"
    remind_after: Seconds = 600
    ask_text: Text500 = "当前排队人数较多，如需继续等待请回复任意内容。"
    end_after: Seconds = 300
    tag_ids: TagIds = []
    remark: Remark = ""


class AgentNoReply(Model):
    """The holding agent has not answered the visitor's message within the timeout."""

    enabled: bool = False
    timeout: Seconds = 120
    remind_agent: bool = True
    remind_visitor: bool = False
    visitor_text: Text500 = "客服正在处理您的问题，请稍候。"
    alert: bool = False
    alert_level: AlertLevel = "medium"


class Timers(Model):
    visitor_timeout: VisitorTimeout = VisitorTimeout()
    inactive: Inactive = Inactive()
    waiting_reminder: WaitingReminder = WaitingReminder()
    waiting_end: WaitingEnd = WaitingEnd()
    agent_no_reply: AgentNoReply = AgentNoReply()


class AutomationSettingsIn(Model):
    welcome_text: Text500 = ""
    greeting_text: Text500 = ""
    end_message: Text500 = ""
    dispatcher_nickname: Nickname = "调度员"
    salutation: Salutation = "亲"
    timers: Timers = Timers()


class AutomationSettingsOut(AutomationSettingsIn):
    updated_at: datetime | None


class OverdueOut(Model):
    conversation_id: int
    agent_overdue_at: datetime


class LeaveMessageIn(Model):
    name: Line50 = ""
    phone: Annotated[str, Field(max_length=30, pattern=r"^[0-9+\-() ]*$")] = ""
    content: Annotated[Text500, AfterValidator(_not_blank)]


class LeaveMessageOut(Model):
    id: int
    conversation_id: int | None
    created_at: datetime
