"""Page permissions and data scopes: the one place routes ask "may this caller do this?"."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends

from kefu.access.principal import Principal, current_principal
from kefu.core.errors import ApiError
from kefu.roles.catalogue import PAGE_KEYS, SCOPED_DATA


def require_page(page: str) -> Any:
    """A dependency that lets the caller through only when their role grants `page`."""
    if page not in PAGE_KEYS:
        raise ValueError(f"unknown page permission {page!r}")

    async def check(principal: Principal = Depends(current_principal)) -> Principal:
        if page not in principal.pages:
            raise ApiError("forbidden")
        return principal

    check.kefu_page = page  # type: ignore[attr-defined]  # read by the permission-matrix test
    return Depends(check)


def require_any_page(*pages: str) -> Any:
    """A dependency that lets the caller through when their role grants any of `pages`."""
    unknown = [p for p in pages if p not in PAGE_KEYS]
    if unknown:
        raise ValueError(f"unknown page permissions {unknown!r}")

    async def check(principal: Principal = Depends(current_principal)) -> Principal:
        if not principal.pages & set(pages):
            raise ApiError("forbidden")
        return principal

    check.kefu_pages = pages  # type: ignore[attr-defined]  # read by the permission-matrix test
    return Depends(check)


def data_scope(principal: Principal, data: str) -> str:
    """The caller's scope over `data` (customers, history, current_sessions)."""
    if data not in SCOPED_DATA:
        raise ValueError(data)
    if principal.role.builtin == "admin":
        return "tenant"
    if principal.role.builtin == "agent":
        return "self"
    return principal.data_scopes.get(data, "skill_group")


PageCheck = Callable[[Principal], Awaitable[Principal]]
