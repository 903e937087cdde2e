"""Time plan bodies and views (SPEC §5.1): weekly ranges, custom workdays and holidays."""

from __future__ import annotations

import re
from datetime import date, datetime
from itertools import pairwise
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    Field,
    ValidationInfo,
    field_validator,
)

from kefu.core.schemas import Model, Name50, PatchModel

MAX_RANGES_PER_DAY = 10
MAX_DATES = 366
WEEKDAYS = ("1", "2", "3", "4", "5", "6", "7")

_HM = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def minutes(hm: str) -> int:
    """Minutes since local midnight of an "HH:MM" (24:00 -> 1440)."""
    hours, mins = hm.split(":")
    return int(hours) * 60 + int(mins)


def _hm(value: str) -> str:
    if not _HM.match(value):
        raise ValueError(
            "time_format|时间格式应为 HH:MM（00:00–24:00）"
            "|must be a time HH:MM between 00:00 and 24:00"
        )
    return value


def _date(value: str) -> str:
    try:
        if not _DATE.match(value):
            raise ValueError
        date.fromisoformat(value)
    except ValueError:
        raise ValueError(
            "date|不是有效的日期（YYYY-MM-DD）|must be a valid date YYYY-MM-DD"
        ) from None
    return value


def _range(value: tuple[str, str]) -> tuple[str, str]:
    if minutes(value[0]) >= minutes(value[1]):
        raise ValueError(
            "range_order|开始时间必须早于结束时间|the start time must be before the end time"
        )
    return value


def _day(value: list[tuple[str, str]]) -> list[tuple[str, str]]:
    ordered = sorted(value, key=lambda r: minutes(r[0]))
    for before, after in pairwise(ordered):
        if minutes(after[0]) < minutes(before[1]):
            raise ValueError(
                f"overlap|同一天的时间段不能重叠（{before[0]}–{before[1]} 与 "
                f"{after[0]}–{after[1]}）"
                f"|ranges of one day must not overlap ({before[0]}-{before[1]} and "
                f"{after[0]}-{after[1]})"
            )
    return ordered


def _weekday(value: str) -> str:
    if value not in WEEKDAYS:
        raise ValueError(
            'weekday|星期只能是 "1"（周一）到 "7"（周日）|weekday keys must be "1" (Monday) to '
            '"7" (Sunday)'
        )
    return value


Hm = Annotated[str, AfterValidator(_hm)]
DateText = Annotated[str, AfterValidator(_date)]
TimeRange = Annotated[tuple[Hm, Hm], AfterValidator(_range)]
DayRanges = Annotated[list[TimeRange], Field(max_length=MAX_RANGES_PER_DAY), AfterValidator(_day)]
Weekday = Annotated[str, AfterValidator(_weekday)]
Weekly = dict[Weekday, DayRanges]


class Workday(Model):
    """A custom working day: on this date these ranges replace the weekly ones."""

    date: DateText
    ranges: Annotated[DayRanges, Field(min_length=1)]


Workdays = Annotated[list[Workday], Field(max_length=MAX_DATES)]
Holidays = Annotated[list[DateText], Field(max_length=MAX_DATES)]


def _unique_workdays(value: list[Workday] | None) -> list[Workday] | None:
    if value is None:
        return value
    seen: set[str] = set()
    for day in value:
        if day.date in seen:
            raise ValueError(
                f"duplicate|自定义工作日 {day.date} 重复|custom workday {day.date} is listed twice"
            )
        seen.add(day.date)
    return sorted(value, key=lambda d: d.date)


def _clash(workdays: list[Workday] | None, holidays: list[str] | None) -> None:
    both = sorted({d.date for d in workdays or []} & set(holidays or []))
    if both:
        raise ValueError(
            f"workday_holiday|{both[0]} 不能既是自定义工作日又是节假日|"
            f"{both[0]} cannot be both a custom workday and a holiday"
        )


class _PlanFields(Model):
    """Checks shared by create and edit (fields may be absent on edit)."""

    @field_validator("weekly", check_fields=False)
    @classmethod
    def _weekly(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else normal_weekly(value)

    @field_validator("workdays", check_fields=False)
    @classmethod
    def _workdays(cls, value: list[Workday] | None) -> list[Workday] | None:
        return _unique_workdays(value)

    @field_validator("holidays", check_fields=False)
    @classmethod
    def _holidays(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if value is None:
            return value
        _clash(info.data.get("workdays"), value)
        return sorted(set(value))


def normal_weekly(value: dict[str, Any]) -> dict[str, Any]:
    """All seven weekdays in order; a missing day is a rest day."""
    return {k: list(value.get(k, [])) for k in WEEKDAYS}


class TimePlanIn(_PlanFields):
    name: Name50
    weekly: Weekly = Field(
        default_factory=dict,
        description='ISO weekday "1" (Monday) .. "7" (Sunday) -> [[start, end], ...] '
        "in the tenant's time zone; a missing or empty day is a rest day",
    )
    workdays: Workdays = Field(default_factory=list)
    holidays: Holidays = Field(default_factory=list)


class TimePlanPatch(PatchModel, _PlanFields):
    name: Name50 | None = None
    weekly: Weekly | None = None
    workdays: Workdays | None = None
    holidays: Holidays | None = None


class WorkdayOut(BaseModel):
    date: str
    ranges: list[list[str]]


class TimePlanOut(BaseModel):
    id: int
    name: str
    is_default: bool
    weekly: dict[str, list[list[str]]]
    workdays: list[WorkdayOut]
    holidays: list[str]
    created_at: datetime
    updated_at: datetime


class TimePlanStatusOut(BaseModel):
    working: bool
    at: AwareDatetime = Field(description="The instant asked about (UTC)")
    time_zone: str = Field(description="The tenant's time zone the plan is read in")
    local_time: str = Field(description="The same instant on the tenant's wall clock")
