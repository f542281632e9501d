"""AI endpoints: usage, settings, and the provenance of a call.

``GET /api/v1/ai/usage?period=YYYY-MM`` (scope ``ai:use``) — tokens and cost by feature
and provider, with the budget's state; ``GET/PUT /api/v1/ai/settings`` (PUT: ``admin``,
``If-Match``); ``GET /api/v1/ai/calls/{id}`` (scope ``ai:use``) — provenance;
``GET /api/v1/ai/prompts`` — the versioned prompt templates.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from bizos.ai import metering, prompts
from bizos.ai import settings as ai_settings
from bizos.ai.schemas import (
    AiCallRead,
    AiSettingsRead,
    AiSettingsUpdate,
    PromptTemplateList,
    PromptTemplateRead,
    UsageReport,
)
from bizos.api.deps import Ctx, DbSession
from bizos.core.auth import Admin, AiUse
from bizos.core.versions import version_etag

router = APIRouter(tags=["ai"])
# The months metering.parse_period accepts, stated in the OpenAPI document.
USAGE_PERIOD_PATTERN = r"^2[0-9]{3}-(0[1-9]|1[0-2])$"


@router.get("/api/v1/ai/usage", response_model=UsageReport)
async def get_usage(
    _: AiUse,
    session: DbSession,
    ctx: Ctx,
    period: Annotated[
        str | None,
        Query(
            max_length=20,
            # Stated for clients; parse_period enforces it with a clearer message.
            json_schema_extra={"pattern": USAGE_PERIOD_PATTERN},
            description="A month, YYYY-MM (UTC, 2000-01 to 2999-12); the current one if omitted.",
        ),
    ] = None,
) -> UsageReport:
    month = metering.parse_period(period)
    settings = await ai_settings.load_settings(session, ctx)
    return await metering.usage_report(session, ctx, period=month, settings=settings)


@router.get("/api/v1/ai/calls/{call_id}", response_model=AiCallRead)
async def get_call(call_id: str, _: AiUse, session: DbSession, ctx: Ctx) -> AiCallRead:
    """Provenance of one AI output: provider, model, template and version, sources,
    token counts, cost and every provider attempt."""
    return metering.call_read(await metering.get_call(session, ctx, call_id))


@router.get("/api/v1/ai/prompts", response_model=PromptTemplateList)
async def list_prompts(_: AiUse) -> PromptTemplateList:
    """The prompt templates this server ships, with the version each output records."""
    items = []
    for name in prompts.available():
        template = prompts.load(name)
        items.append(
            PromptTemplateRead(
                name=name, version=template.version, description=template.description
            )
        )
    return PromptTemplateList(items=items)


@router.get("/api/v1/ai/settings", response_model=AiSettingsRead)
async def get_settings(
    _: AiUse, session: DbSession, ctx: Ctx, response: Response
) -> AiSettingsRead:
    row = await ai_settings.load_settings(session, ctx)
    response.headers["ETag"] = version_etag(row.version)
    return await ai_settings.settings_read(session, ctx, row)


@router.put("/api/v1/ai/settings", response_model=AiSettingsRead)
async def put_settings(
    body: AiSettingsUpdate,
    _: Admin,
    session: DbSession,
    ctx: Ctx,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> AiSettingsRead:
    """Change the settings sent (omitted ones keep their value); admins only.
    ``If-Match: <version>`` → 409 when someone changed them since."""
    row = await ai_settings.update_settings(
        session, ctx, changes=body.model_dump(exclude_unset=True), if_match=if_match
    )
    response.headers["ETag"] = version_etag(row.version)
    return await ai_settings.settings_read(session, ctx, row)
