"""(being built)"""

from __future__ import annotations

from fastapi import APIRouter

from kefu.api.deps import UnitOfWorkRoute

router = APIRouter(tags=["tags"], route_class=UnitOfWorkRoute)
