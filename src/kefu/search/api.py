"""Search route (§13.1): keyword search over the messages of ended conversations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import ValidationError

from kefu.access.guards import require_any_page
from kefu.access.principal import Principal
from kefu.api.deps import Db, UnitOfWorkRoute
from kefu.core.errors import ApiError, validation_fields
from kefu.core.schemas import Line50, PageParams
from kefu.search import actions
from kefu.search import exports as _exports  # noqa: F401  # registers the "search" export kind
from kefu.search.reader import search_session
from kefu.search.schemas import SearchMode, SearchOut, SearchParams

router = APIRouter(tags=["search"], route_class=UnitOfWorkRoute)
SearchPage = require_any_page(actions.AGENT_PAGE, actions.ADMIN_PAGE)
OptId = Annotated[int | None, Query(ge=1, le=2**53)]


@router.get(
    "/search",
    summary="Conversations whose messages contain a keyword, latest match first (§13.1)",
)
async def search(
    db: Db,
    q: Annotated[
        str,
        Query(
            max_length=300,
            description="1–100 characters after trimming; a substring of the message, "
            "case-insensitive for A–Z only",
        ),
    ],
    params: Annotated[PageParams, Depends()],
    mode: Annotated[
        SearchMode | None,
        Query(
            description="agent: conversations I took part in; admin: all in my History scope "
            "(page admin.search). Default: admin when I have that page."
        ),
    ] = None,
    from_: Annotated[
        datetime | None,
        Query(alias="from", description="Messages sent at or after (default: 30 days before `to`)"),
    ] = None,
    to: Annotated[datetime | None, Query(description="Messages sent before (default: now)")] = None,
    channel: Annotated[Line50 | None, Query()] = None,
    association_id: OptId = None,
    session_tag_id: Annotated[
        int | None,
        Query(ge=1, le=2**53, description="A tag, or a parent tag (then any of its children)"),
    ] = None,
    agent_name: Annotated[
        Line50 | None, Query(description="Part of a participating agent's nickname or real name")
    ] = None,
    visitor_name: Annotated[Line50 | None, Query(description="Part of the visitor's name")] = None,
    rating: Annotated[int | None, Query(ge=1, le=5, description="Satisfaction score")] = None,
    principal: Principal = SearchPage,
) -> SearchOut:
    try:
        p = SearchParams.model_validate(
            {
                "q": q,
                "mode": mode,
                "from": from_,
                "to": to,
                "channel": channel or None,
                "association_id": association_id,
                "session_tag_id": session_tag_id,
                "agent_name": agent_name or None,
                "visitor_name": visitor_name or None,
                "rating": rating,
            }
        )
    except ValidationError as err:
        fields = validation_fields(err.errors())  # type: ignore[arg-type]
        raise ApiError("validation_error", fields=fields, detail=fields[0]["message"]) from None
    async with search_session(db) as reader:
        return await actions.search(
            reader, principal, p, page=params.page, page_size=params.page_size
        )
