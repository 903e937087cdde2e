"""(being built)"""

from __future__ import annotations

from fastapi import APIRouter

from kefu.api.deps import UnitOfWorkRoute

router = APIRouter(tags=["routing"], route_class=UnitOfWorkRoute)
