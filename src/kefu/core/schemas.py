"""Shared request/response building blocks: safe strings, pagination, sorting."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from fastapi import Query
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

T = TypeVar("T")

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _no_control(value: str) -> str:
    # NUL and other control characters break PostgreSQL text and spoof logs; reject them.
    if _CONTROL.search(value):
        raise ValueError("control_chars|不能包含控制字符|must not contain control characters")
    return unicodedata.normalize("NFC", value)


def _single_line(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError("single_line|不能换行|must be a single line")
    return value


# One-line texts are trimmed; free texts keep their line breaks.
Line20 = Annotated[
    str,
    StringConstraints(max_length=20, strip_whitespace=True),
    AfterValidator(_no_control),
    AfterValidator(_single_line),
]
Line30 = Annotated[
    str,
    StringConstraints(max_length=30, strip_whitespace=True),
    AfterValidator(_no_control),
    AfterValidator(_single_line),
]
Line40 = Annotated[
    str,
    StringConstraints(max_length=40, strip_whitespace=True),
    AfterValidator(_no_control),
    AfterValidator(_single_line),
]
Line50 = Annotated[
    str,
    StringConstraints(max_length=50, strip_whitespace=True),
    AfterValidator(_no_control),
    AfterValidator(_single_line),
]
Line64 = Annotated[
    str,
    StringConstraints(max_length=64, strip_whitespace=True),
    AfterValidator(_no_control),
    AfterValidator(_single_line),
]
Line100 = Annotated[
    str,
    StringConstraints(max_length=100, strip_whitespace=True),
    AfterValidator(_no_control),
    AfterValidator(_single_line),
]
Line200 = Annotated[
    str,
    StringConstraints(max_length=200, strip_whitespace=True),
    AfterValidator(_no_control),
    AfterValidator(_single_line),
]
Line300 = Annotated[
    str,
    StringConstraints(max_length=300, strip_whitespace=True),
    AfterValidator(_no_control),
    AfterValidator(_single_line),
]
Text500 = Annotated[str, StringConstraints(max_length=500), AfterValidator(_no_control)]
Text1000 = Annotated[str, StringConstraints(max_length=1000), AfterValidator(_no_control)]
Text2000 = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_no_control)]
# Names: one trimmed line that is not empty after trimming.
Name30 = Annotated[
    str,
    StringConstraints(min_length=1, max_length=30, strip_whitespace=True),
    AfterValidator(_no_control),
    AfterValidator(_single_line),
]
Name50 = Annotated[
    str,
    StringConstraints(min_length=1, max_length=50, strip_whitespace=True),
    AfterValidator(_no_control),
    AfterValidator(_single_line),
]
Name100 = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, strip_whitespace=True),
    AfterValidator(_no_control),
    AfterValidator(_single_line),
]
# Free-text search terms in query strings.
SearchText = Annotated[str, StringConstraints(max_length=254), AfterValidator(_no_control)]


def _email(value: str) -> str:
    value = value.strip().lower()
    if not re.fullmatch(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}", value) or ".." in value:
        raise ValueError("format|邮箱格式不正确|is not a valid email address")
    return value


Email = Annotated[
    str, StringConstraints(max_length=254), AfterValidator(_no_control), AfterValidator(_email)
]
# An email that may be left empty (visitor profiles).
OptionalEmail = Annotated[
    str,
    StringConstraints(max_length=254, strip_whitespace=True),
    AfterValidator(_no_control),
    AfterValidator(lambda v: _email(v) if v else v),
]
# Free text that keeps line breaks and tabs but no other control characters.
FreeText = Annotated[str, AfterValidator(_no_control)]

_MOBILE = re.compile(r"^\+?[0-9][0-9 \-]{4,19}$")


def _mobile(value: str) -> str:
    value = value.strip()
    if value and not _MOBILE.match(value):
        raise ValueError("format|手机号格式不正确|is not a valid phone number")
    return value


Mobile = Annotated[
    str, StringConstraints(max_length=20), AfterValidator(_no_control), AfterValidator(_mobile)
]
Phone = Mobile

BigInt = Annotated[int, Field(ge=1, le=2**53)]


class Model(BaseModel):
    """Request bodies refuse unknown fields, so a typo is an error rather than a silent no-op."""

    model_config = ConfigDict(extra="forbid")


class PatchModel(Model):
    """Partial updates: omitted fields stay; null is refused unless the field allows it."""

    nullable_fields: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _no_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.nullable_fields:
            raise ValueError(
                "not_null|不能为 null（不修改请省略）|must not be null; omit it to keep it"
            )
        return value


class ErrorDetail(BaseModel):
    code: str
    message: str
    fields: list[dict[str, str]] | None = None


class ErrorOut(BaseModel):
    """Every error answer: a stable code and a message in the caller's language."""

    error: ErrorDetail


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int


class PageParams:
    """`page`, `page_size` and `sort` taken the same way by every list route."""

    def __init__(
        self,
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
        page_size: Annotated[int, Query(ge=1, le=100)] = 20,
        sort: Annotated[str | None, Query(max_length=40, pattern=r"^-?[a-z_]{1,38}$")] = None,
    ) -> None:
        self.page = page
        self.page_size = page_size
        self.sort = sort

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size
