"""The tenant's pipeline rules: stored in ``CrmSettings.pipeline``, checked on stage entry."""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.errors import Unprocessable, field_error
from bizos.modules.crm.deals.schemas import (
    OPEN_STAGES,
    DealRead,
    OpenStage,
    PipelineRead,
    PipelineSettings,
    RequiredField,
    Stage,
)
from bizos.modules.crm.models import CrmSettings, Deal
from bizos.modules.crm.records import record_event
from bizos.modules.crm.settings import load_settings

_RULE_TEXT: dict[RequiredField, str] = {
    "amount": "an amount above 0",
    "close_date": "an expected close date",
    "contact_id": "a contact",
    "company_id": "a company",
    "owner_id": "an owner",
}


async def pipeline_settings(session: AsyncSession, ctx: Context) -> PipelineSettings:
    """The tenant's rules; defaults fill whatever was never set. Reads only (safe in a
    read-only request): the settings row is created by the first write."""
    stored = await session.scalar(
        sa.select(CrmSettings.pipeline).where(CrmSettings.tenant_id == ctx.require_tenant())
    )
    try:
        return PipelineSettings.model_validate(stored or {})
    except ValidationError:
        # Stored by an older version with a since-removed key: keep what still parses.
        known = {k: v for k, v in (stored or {}).items() if k in PipelineSettings.model_fields}
        return PipelineSettings.model_validate(known)


async def get_pipeline(session: AsyncSession, ctx: Context) -> PipelineRead:
    return PipelineRead(**(await pipeline_settings(session, ctx)).model_dump())


async def put_pipeline(
    session: AsyncSession, ctx: Context, settings: PipelineSettings
) -> PipelineRead:
    """Replace the rules (admin); ``crm.pipeline.updated`` records who changed what."""
    row = await load_settings(session, ctx, for_update=True)
    row.pipeline = settings.model_dump(mode="json")
    row.version += 1
    await session.flush()
    await record_event(
        session, ctx, "crm.pipeline.updated", row, "crm_settings", {"pipeline": row.pipeline}
    )
    return PipelineRead(**settings.model_dump())


def requirements_for(settings: PipelineSettings, stage: str) -> list[tuple[Stage, RequiredField]]:
    """What entering ``stage`` demands, as (rule's stage, field) pairs; cumulative along
    the open stages (see :class:`PipelineSettings`)."""
    if stage == "lost":
        stages: list[Stage] = ["lost"]
    elif stage == "won":
        stages = [*OPEN_STAGES, "won"]
    else:
        stages = list(OPEN_STAGES[: OPEN_STAGES.index(cast(OpenStage, stage)) + 1])
    out: list[tuple[Stage, RequiredField]] = []
    for s in stages:
        for field in settings.stage_requirements.get(s, []):
            if all(f != field for _, f in out):
                out.append((s, field))
    return out


def _missing(deal: Deal | DealRead, field: RequiredField) -> bool:
    if field == "amount":
        return deal.amount is None or deal.amount <= 0
    value: Any = getattr(deal, field)
    return value is None


def check_stage_rules(settings: PipelineSettings, deal: Deal | DealRead, stage: str) -> None:
    """Raise 422 naming every rule ``deal`` breaks for being in ``stage`` (a row, or a
    Read of the deal as a move would leave it)."""
    errors: list[dict[str, Any]] = []
    for rule_stage, field in requirements_for(settings, stage):
        if _missing(deal, field):
            error = field_error(
                ["body", field],
                f"a deal needs {_RULE_TEXT[field]} before it enters {rule_stage}",
            )
            error["rule"] = f"{rule_stage}.requires.{field}"
            errors.append(error)
    if stage == "lost" and settings.lost_reason_required and not deal.close_reason:
        error = field_error(["body", "close_reason"], "a lost deal needs a reason")
        error["rule"] = "lost.requires.close_reason"
        errors.append(error)
    if stage == "won" and settings.won_reason_required and not deal.close_reason:
        error = field_error(["body", "close_reason"], "a won deal needs a reason")
        error["rule"] = "won.requires.close_reason"
        errors.append(error)
    if errors:
        rules = ", ".join(str(e["rule"]) for e in errors)
        raise Unprocessable(
            f"the deal does not meet the rules of stage {stage}: {rules}", errors=errors
        )
