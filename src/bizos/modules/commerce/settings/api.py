"""The tenant's commerce settings: /api/v1/commerce/settings (admins change them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response

from bizos.api.deps import Ctx, DbSession
from bizos.core.auth import Admin, CommerceRead
from bizos.core.versions import version_etag
from bizos.modules.commerce.settings import service as commerce_settings
from bizos.modules.commerce.settings.schemas import CommerceSettingsRead, CommerceSettingsUpdate

router = APIRouter(tags=["commerce"])


@router.get("/api/v1/commerce/settings", response_model=CommerceSettingsRead)
async def get_settings(
    _: CommerceRead, session: DbSession, ctx: Ctx, response: Response
) -> CommerceSettingsRead:
    row = await commerce_settings.load_settings(session, ctx)
    response.headers["ETag"] = version_etag(row.version)
    return commerce_settings.settings_read(row)


@router.put("/api/v1/commerce/settings", response_model=CommerceSettingsRead)
async def put_settings(
    body: CommerceSettingsUpdate,
    _: Admin,
    session: DbSession,
    ctx: Ctx,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> CommerceSettingsRead:
    """Change the settings sent (omitted ones keep their value); admins only.
    ``If-Match: <version>`` → 409 when someone changed them since."""
    row = await commerce_settings.update_settings(
        session, ctx, changes=body.model_dump(exclude_unset=True), if_match=if_match
    )
    response.headers["ETag"] = version_etag(row.version)
    return commerce_settings.settings_read(row)
