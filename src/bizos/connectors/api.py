"""Connector configuration API (scope ``admin``). Secret values go in, only names come out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from bizos.api.deps import Ctx, DbSession
from bizos.connectors import service
from bizos.connectors.schemas import ConnectorList, ConnectorPut, ConnectorRead
from bizos.core.auth import Admin
from bizos.core.versions import version_etag

router = APIRouter(prefix="/api/v1/connectors", tags=["connectors"])

IfMatch = Annotated[str | None, Header(alias="If-Match")]


@router.get("", response_model=ConnectorList)
async def list_connectors(_: Admin, session: DbSession, ctx: Ctx) -> ConnectorList:
    return ConnectorList(items=await service.list_connectors(session, ctx))


@router.get("/{provider}", response_model=ConnectorRead)
async def get_connector(
    provider: str, _: Admin, session: DbSession, ctx: Ctx, response: Response
) -> ConnectorRead:
    connector = await service.get_connector(session, ctx, provider=provider)
    response.headers["ETag"] = version_etag(connector.version)
    return connector


@router.put("/{provider}", response_model=ConnectorRead)
async def configure_connector(
    provider: str,
    body: ConnectorPut,
    _: Admin,
    session: DbSession,
    ctx: Ctx,
    request: Request,
    response: Response,
    if_match: IfMatch = None,
) -> ConnectorRead:
    allow_private_targets = request.app.state.settings.connector_allow_private_targets
    connector = await service.configure_connector(
        session,
        ctx,
        provider=provider,
        **body.model_dump(),
        if_match=if_match,
        allow_private_targets=allow_private_targets,
    )
    response.headers["ETag"] = version_etag(connector.version)
    return connector


@router.delete("/{provider}", status_code=204)
async def remove_connector(
    provider: str, _: Admin, session: DbSession, ctx: Ctx, if_match: IfMatch = None
) -> Response:
    await service.remove_connector(session, ctx, provider=provider, if_match=if_match)
    return Response(status_code=204)
