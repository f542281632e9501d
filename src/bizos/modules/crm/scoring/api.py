"""Lead scoring API: a lead's score history, re-scoring, the model and its settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from bizos.api.deps import Ctx, DbSession
from bizos.core.auth import Admin, CrmRead, CrmWrite
from bizos.core.pagination import Page, PageParams
from bizos.modules.crm.scoring import service
from bizos.modules.crm.scoring.schemas import (
    LeadScoreRead,
    ScoringSettings,
    ScoringStatus,
    TrainingAttempt,
)

router = APIRouter(tags=["crm"])


@router.get("/api/v1/crm/leads/{lead_id}/scores", response_model=Page[LeadScoreRead])
async def list_lead_scores(
    lead_id: str,
    _: CrmRead,
    session: DbSession,
    ctx: Ctx,
    page: Annotated[PageParams, Depends(service.SCORE_ORDER.dependency)],
) -> Page[LeadScoreRead]:
    """Every score the lead was given, newest first, with its factors and why it was
    scored (`created`, `event:<type>`, `retrained`, `manual`)."""
    return Page[LeadScoreRead].of(
        await service.list_scores(session, ctx, lead_id=lead_id, page=page)
    )


@router.post("/api/v1/crm/leads/{lead_id}/score", response_model=LeadScoreRead)
async def rescore_lead(lead_id: str, _: CrmWrite, session: DbSession, ctx: Ctx) -> LeadScoreRead:
    """Score the lead again now; returns the new history entry."""
    await service.score_lead(session, ctx, lead_id, reason="manual")
    return await service.latest_score(session, ctx, lead_id=lead_id)


@router.get("/api/v1/crm/scoring/model", response_model=ScoringStatus)
async def get_scoring_model(_: CrmRead, session: DbSession, ctx: Ctx) -> ScoringStatus:
    """The model scoring the tenant's leads (a trained one, or the rules and why), its
    held-out metrics, and the won/lost history it has to learn from."""
    return await service.scoring_status(session, ctx)


@router.post("/api/v1/crm/scoring/retrain", response_model=TrainingAttempt)
async def retrain_scoring_model(_: Admin, session: DbSession, ctx: Ctx) -> TrainingAttempt:
    """Train the tenant's model now (the daily job does the same)."""
    return await service.retrain(session, ctx)


@router.get("/api/v1/crm/scoring/settings", response_model=ScoringSettings)
async def get_scoring_settings(_: Admin, session: DbSession, ctx: Ctx) -> ScoringSettings:
    return await service.get_scoring_settings(session, ctx)


@router.put("/api/v1/crm/scoring/settings", response_model=ScoringSettings)
async def put_scoring_settings(
    body: ScoringSettings, _: Admin, session: DbSession, ctx: Ctx
) -> ScoringSettings:
    """Replace the scoring settings (omitted fields take their defaults)."""
    return await service.update_scoring_settings(session, ctx, body=body)
