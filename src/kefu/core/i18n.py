"""The caller's language for messages: the signed-in user's, else Accept-Language, else zh-CN."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Literal

Language = Literal["zh-CN", "en"]
LANGUAGES: tuple[Language, ...] = ("zh-CN", "en")

_current: ContextVar[Language] = ContextVar("kefu_language", default="zh-CN")


def from_accept_language(header: str | None) -> Language:
    """Pick zh-CN or en from an Accept-Language header, honouring the listed order."""
    if not header:
        return "zh-CN"
    for part in header.split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return "zh-CN"


def set_language(lang: str | None) -> None:
    _current.set("en" if lang == "en" else "zh-CN")


def current_language() -> Language:
    return _current.get()


def pick(zh: str, en: str) -> str:
    return en if current_language() == "en" else zh
