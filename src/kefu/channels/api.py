"""Admin routes of Channels: web widgets and associations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from sqlalchemy import select

from kefu.access.guards import require_page
from kefu.access.principal import Principal
from kefu.api.deps import Db, UnitOfWorkRoute, client_ip
from kefu.channels import actions
from kefu.channels.models import Association, Widget
from kefu.channels.presenters import widget_out
from kefu.channels.schemas import (
    AssociationIn,
    AssociationOut,
    AssociationPatch,
    WidgetIn,
    WidgetOut,
    WidgetPatch,
    WidgetSecretOut,
)

router = APIRouter(tags=["channels"], route_class=UnitOfWorkRoute)
ManageChannels = require_page("admin.channels")
ItemId = Annotated[int, Path(ge=1, le=2**53)]


def base_url(request: Request) -> str:
    settings = request.app.state.settings
    return (settings.public_base_url or str(request.base_url)).rstrip("/")


class WidgetCreatedOut(WidgetOut):
    secret: str


@router.get("/widgets", summary="Web widgets")
async def list_widgets(
    request: Request, db: Db, principal: Principal = ManageChannels
) -> list[WidgetOut]:
    rows = await db.scalars(
        select(Widget).where(Widget.tenant_id == principal.tenant_id).order_by(Widget.id)
    )
    return [widget_out(base_url(request), w) for w in rows]


@router.post("/widgets", status_code=201, summary="Create a widget (its secret is shown once)")
async def create_widget(
    body: WidgetIn, request: Request, db: Db, principal: Principal = ManageChannels
) -> WidgetCreatedOut:
    widget, secret = await actions.create_widget(db, principal, body, client_ip(request))
    return WidgetCreatedOut(**widget_out(base_url(request), widget).model_dump(), secret=secret)


@router.get("/widgets/{widget_id}", summary="One widget")
async def get_widget(
    widget_id: ItemId, request: Request, db: Db, principal: Principal = ManageChannels
) -> WidgetOut:
    return widget_out(base_url(request), await actions.get_widget(db, principal, widget_id))


@router.patch("/widgets/{widget_id}", summary="Edit a widget")
async def patch_widget(
    widget_id: ItemId,
    body: WidgetPatch,
    request: Request,
    db: Db,
    principal: Principal = ManageChannels,
) -> WidgetOut:
    widget = await actions.get_widget(db, principal, widget_id)
    await actions.update_widget(db, principal, widget, body, client_ip(request))
    return widget_out(base_url(request), widget)


@router.post("/widgets/{widget_id}/secret", summary="Rotate the identity-signing secret")
async def rotate_widget_secret(
    widget_id: ItemId, request: Request, db: Db, principal: Principal = ManageChannels
) -> WidgetSecretOut:
    widget = await actions.get_widget(db, principal, widget_id)
    return WidgetSecretOut(
        secret=await actions.rotate_secret(db, principal, widget, client_ip(request))
    )


@router.delete("/widgets/{widget_id}", status_code=204, summary="Delete a widget")
async def delete_widget(
    widget_id: ItemId, request: Request, db: Db, principal: Principal = ManageChannels
) -> None:
    widget = await actions.get_widget(db, principal, widget_id)
    await actions.delete_widget(db, principal, widget, client_ip(request))


@router.get("/associations", summary="Associations")
async def list_associations(db: Db, principal: Principal = ManageChannels) -> list[AssociationOut]:
    rows = await db.scalars(
        select(Association)
        .where(Association.tenant_id == principal.tenant_id)
        .order_by(Association.id)
    )
    return [AssociationOut.model_validate(a, from_attributes=True) for a in rows]


@router.post("/associations", status_code=201, summary="Create an association")
async def create_association(
    body: AssociationIn, request: Request, db: Db, principal: Principal = ManageChannels
) -> AssociationOut:
    assoc = await actions.create_association(db, principal, body, client_ip(request))
    return AssociationOut.model_validate(assoc, from_attributes=True)


@router.patch("/associations/{association_id}", summary="Rename an association")
async def patch_association(
    association_id: ItemId,
    body: AssociationPatch,
    request: Request,
    db: Db,
    principal: Principal = ManageChannels,
) -> AssociationOut:
    assoc = await actions.get_association(db, principal, association_id)
    await actions.update_association(db, principal, assoc, body, client_ip(request))
    return AssociationOut.model_validate(assoc, from_attributes=True)


@router.delete("/associations/{association_id}", status_code=204, summary="Delete an association")
async def delete_association(
    association_id: ItemId, request: Request, db: Db, principal: Principal = ManageChannels
) -> None:
    assoc = await actions.get_association(db, principal, association_id)
    await actions.delete_association(db, principal, assoc, client_ip(request))
