"""Lead scoring: the only writer of lead scores, score history and scoring models.

A lead is scored by the tenant's active trained model, or by the transparent rules
(``rules.py``) until the tenant has enough won/lost history for one. Each score keeps
its top factors, a ``LeadScore`` history row and a ``crm.lead.scored`` event; a score
that crosses the hot threshold upward notifies the lead's owner, once per crossing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import structlog
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import NotFound
from bizos.core.ids import new_id
from bizos.core.pagination import ListOrder, PageParams
from bizos.core.reads import read_of
from bizos.modules.crm.models import Contact, CrmSettings, Deal, Lead, LeadScore, ScoringModel
from bizos.modules.crm.records import record_new_event
from bizos.modules.crm.scoring.features import LeadFeatures, describe, gather_features
from bizos.modules.crm.scoring.model import KIND, StoredModel, train
from bizos.modules.crm.scoring.rules import RULES_DESCRIPTION, Targets, rule_points, rule_score
from bizos.modules.crm.scoring.schemas import (
    LeadScoreRead,
    OutcomeCounts,
    ScoreFactor,
    ScoringModelRead,
    ScoringSettings,
    ScoringStatus,
    TrainingAttempt,
)
from bizos.modules.crm.settings import load_settings
from bizos.modules.notifications import service as notifications

log = structlog.get_logger("bizos.crm.scoring")

RULES = "rules"
OPEN_STATUSES = ("new", "working", "qualified")
MIN_FACTORS, MAX_FACTORS = 3, 6
_SETTINGS_KEYS = frozenset(ScoringSettings.model_fields)
_RESCORE_BATCH = 500


# --- settings ----------------------------------------------------------------------------


async def _settings_row(session: AsyncSession) -> CrmSettings | None:
    """The settings row without creating it (safe in read-only sessions)."""
    return await session.scalar(sa.select(CrmSettings))


def _settings_from(section: dict[str, Any] | None) -> ScoringSettings:
    stored = {k: v for k, v in (section or {}).items() if k in _SETTINGS_KEYS}
    try:
        return ScoringSettings.model_validate(stored)
    except ValidationError:  # written by an older release: defaults are safer than a 500
        log.warning("crm.scoring.settings_invalid")
        return ScoringSettings()


async def get_scoring_settings(session: AsyncSession, ctx: Context) -> ScoringSettings:
    ctx.require_tenant()
    row = await _settings_row(session)
    return _settings_from(row.scoring if row else None)


async def update_scoring_settings(
    session: AsyncSession, ctx: Context, *, body: ScoringSettings
) -> ScoringSettings:
    row = await load_settings(session, ctx, for_update=True)
    row.scoring = {**(row.scoring or {}), **body.model_dump(mode="json")}
    row.version += 1
    await session.flush()
    await record_new_event(
        session,
        ctx,
        "crm.scoring.settings_updated",
        "crm_settings",
        row.id,
        body.model_dump(mode="json"),
    )
    return body


# --- scoring -----------------------------------------------------------------------------


async def _lead_row(session: AsyncSession, lead_id: str) -> Lead:
    lead = await session.scalar(sa.select(Lead).where(Lead.id == lead_id))
    if lead is None:
        raise NotFound("lead not found")
    return lead


async def _active_model(session: AsyncSession) -> ScoringModel | None:
    return await session.scalar(
        sa.select(ScoringModel)
        .where(ScoringModel.active.is_(True))
        .order_by(ScoringModel.trained_at.desc(), ScoringModel.id.desc())
        .limit(1)
    )


@dataclass(frozen=True, slots=True)
class Explanation:
    score: int
    impacts: dict[str, float]  # every feature group's impact, zeros included
    factors: list[dict[str, Any]]  # the top ones, as stored on the lead


class Scorer:
    """Scores features with the tenant's active model, or the rules without one."""

    def __init__(self, model: ScoringModel | None, settings: ScoringSettings) -> None:
        self.row = model
        self.stored = StoredModel.load(model.features, model.parameters) if model else None
        self.targets = Targets(settings.target_industries, settings.target_countries)

    @property
    def name(self) -> str:
        return self.row.id if self.row else RULES

    def explain(self, f: LeadFeatures) -> Explanation:
        if self.stored is None:
            impacts = rule_points(f, self.targets)
            return Explanation(rule_score(impacts), impacts, top_factors(impacts, f, digits=1))
        impacts = self.stored.contributions(f)
        score = round(100 * self.stored.probability(impacts))
        return Explanation(score, impacts, top_factors(impacts, f, digits=3))


def top_factors(impacts: dict[str, float], f: LeadFeatures, *, digits: int) -> list[dict[str, Any]]:
    """The 3-6 factors that moved the score most, largest absolute impact first."""
    ranked = sorted(impacts.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    chosen = [kv for kv in ranked if round(kv[1], digits) != 0][:MAX_FACTORS]
    if len(chosen) < MIN_FACTORS:
        chosen += [kv for kv in ranked if kv not in chosen][: MIN_FACTORS - len(chosen)]
    out = []
    for group, impact in chosen:
        label, value = describe(group, f)
        out.append(
            ScoreFactor(
                feature=group, label=label, impact=round(impact, digits), value=value
            ).model_dump(mode="json")
        )
    return out


async def scorer_for(session: AsyncSession, ctx: Context) -> Scorer:
    return Scorer(await _active_model(session), await get_scoring_settings(session, ctx))


def _crossed(previous: int | None, score: int, threshold: int) -> bool:
    return score >= threshold and (previous is None or previous < threshold)


async def _notify_hot(
    session: AsyncSession, ctx: Context, lead: Lead, previous: int | None
) -> None:
    assert lead.owner_id is not None and lead.score is not None
    reasons = "; ".join(f["label"] for f in lead.score_factors[:3])
    await notifications.notify(
        session,
        ctx,
        user_id=lead.owner_id,
        kind="lead.hot",
        title=f"Hot lead: {lead.name or lead.email} scored {lead.score}",
        body=f"Top factors: {reasons}." if reasons else None,
        related_type="lead",
        related_id=lead.id,
        data={"score": lead.score, "previous_score": previous},
    )


async def score_leads(
    session: AsyncSession,
    ctx: Context,
    leads: Sequence[Lead],
    *,
    reason: str,
    event_id: str | None = None,
    scorer: Scorer | None = None,
) -> list[Lead]:
    """Score ``leads`` now: fields on the lead, a history row and an event each."""
    if not leads:
        return []
    now = utcnow()
    scorer = scorer or await scorer_for(session, ctx)
    threshold = (await get_scoring_settings(session, ctx)).hot_threshold
    features = await gather_features(session, leads, as_of={lead.id: now for lead in leads})
    for lead in leads:
        explained = scorer.explain(features[lead.id])
        previous = lead.score
        lead.score = explained.score
        lead.score_factors = explained.factors
        lead.score_model = scorer.name
        lead.scored_at = now
        session.add(
            LeadScore(
                id=new_id(),
                tenant_id=ctx.require_tenant(),
                lead_id=lead.id,
                score=explained.score,
                factors=explained.factors,
                model=scorer.name,
                reason=reason[:60],
                event_id=event_id,
                scored_at=now,
            )
        )
        await record_new_event(
            session,
            ctx,
            "crm.lead.scored",
            "lead",
            lead.id,
            {
                "score": explained.score,
                "previous_score": previous,
                "factors": explained.factors,
                "model": scorer.name,
                "reason": reason[:60],
            },
        )
        if lead.owner_id and _crossed(previous, explained.score, threshold):
            await _notify_hot(session, ctx, lead, previous)
    await session.flush()
    return list(leads)


async def score_lead(
    session: AsyncSession, ctx: Context, lead_id: str, *, reason: str, event_id: str | None = None
) -> Lead:
    """Score one lead (NotFound for another tenant's or an unknown id)."""
    ctx.require_tenant()
    lead = await _lead_row(session, lead_id)
    await score_leads(session, ctx, [lead], reason=reason, event_id=event_id)
    return lead


async def notify_owner_if_hot(session: AsyncSession, ctx: Context, lead: Lead) -> bool:
    """Tell a lead's (new) owner that it is hot: a lead scored before it had an owner
    crossed the threshold with nobody to tell, so assignment calls this."""
    settings = await get_scoring_settings(session, ctx)
    if lead.owner_id is None or lead.score is None or lead.score < settings.hot_threshold:
        return False
    await _notify_hot(session, ctx, lead, None)
    return True


async def rescore_open_leads(session: AsyncSession, ctx: Context, *, reason: str) -> int:
    """Score every open lead again (after a new model); returns how many."""
    scorer = await scorer_for(session, ctx)
    done, after = 0, ""
    while True:
        batch = list(
            await session.scalars(
                sa.select(Lead)
                .where(Lead.status.in_(OPEN_STATUSES), Lead.id > after)
                .order_by(Lead.id)
                .limit(_RESCORE_BATCH)
            )
        )
        if not batch:
            return done
        await score_leads(session, ctx, batch, reason=reason, scorer=scorer)
        done += len(batch)
        after = batch[-1].id


async def open_leads_of_person(
    session: AsyncSession, ctx: Context, *, keys: set[str]
) -> list[Lead]:
    """Open leads of whoever ``keys`` (contact ids or normalised emails) name, following
    merged contacts to their survivor."""
    ctx.require_tenant()
    keys = {k.strip().lower() if "@" in k else k.strip() for k in keys if k and k.strip()}
    if not keys:
        return []
    contacts = (
        await session.execute(
            sa.select(Contact.id, Contact.merged_into_id).where(
                sa.or_(Contact.id.in_(keys), Contact.email_normalized.in_(keys))
            )
        )
    ).all()
    contact_ids = {merged or cid for cid, merged in contacts}
    conditions = [sa.func.lower(Lead.email).in_({k for k in keys if "@" in k})]
    if contact_ids:
        conditions.append(Lead.contact_id.in_(contact_ids))
    return list(
        await session.scalars(
            sa.select(Lead)
            .where(Lead.status.in_(OPEN_STATUSES), sa.or_(*conditions))
            .order_by(Lead.id)
        )
    )


async def open_leads_by_id(
    session: AsyncSession, ctx: Context, *, lead_ids: Sequence[str]
) -> list[Lead]:
    ctx.require_tenant()
    return list(
        await session.scalars(
            sa.select(Lead).where(Lead.id.in_(lead_ids), Lead.status.in_(OPEN_STATUSES))
        )
    )


SCORE_ORDER = ListOrder(
    "lead_scores",
    LeadScore.id,
    [LeadScore.scored_at, LeadScore.score],
    default="-scored_at",
    unsorted_descending=True,
)


async def list_scores(
    session: AsyncSession, ctx: Context, *, lead_id: str, page: PageParams
) -> tuple[list[LeadScoreRead], str | None]:
    """A lead's score history in ``page``'s order (newest first by default)."""
    ctx.require_tenant()
    await _lead_row(session, lead_id)
    query = sa.select(LeadScore).where(LeadScore.lead_id == lead_id)
    rows = (await session.scalars(SCORE_ORDER.apply(query, page))).all()
    items, cursor = SCORE_ORDER.take_page(rows, page)
    return [
        read_of(LeadScoreRead, s, factors=[ScoreFactor.model_validate(f) for f in s.factors])
        for s in items
    ], cursor


async def latest_score(session: AsyncSession, ctx: Context, *, lead_id: str) -> LeadScoreRead:
    items, _ = await list_scores(session, ctx, lead_id=lead_id, page=PageParams(limit=1))
    if not items:
        raise NotFound("the lead has not been scored")
    return items[0]


# --- training ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    lead: Lead
    won: bool
    decided_at: dt.datetime  # features are measured as of this moment


async def closed_outcomes(session: AsyncSession) -> list[Outcome]:
    """Leads whose story has ended: converted into a deal that was won (positive) or
    lost, or disqualified (negative)."""
    deals = (
        await session.execute(
            sa.select(Deal.id, Deal.lead_id, Deal.stage, Deal.created_at).where(
                Deal.stage.in_(("won", "lost"))
            )
        )
    ).all()
    by_deal = {d.id: d for d in deals}
    by_lead = {d.lead_id: d for d in deals if d.lead_id}
    leads = await session.scalars(
        sa.select(Lead).where(
            sa.or_(
                Lead.status == "disqualified",
                Lead.deal_id.in_(list(by_deal)),
                Lead.id.in_(list(by_lead)),
            )
        )
    )
    out: list[Outcome] = []
    for lead in leads:
        deal = by_deal.get(lead.deal_id or "") or by_lead.get(lead.id)
        if deal is not None:
            decided = lead.converted_at or deal.created_at
            out.append(Outcome(lead, deal.stage == "won", max(decided, lead.created_at)))
        elif lead.status == "disqualified":
            decided = lead.status_changed_at or lead.updated_at
            out.append(Outcome(lead, False, max(decided, lead.created_at)))
    return out


def _counts(outcomes: Sequence[Outcome], settings: ScoringSettings) -> OutcomeCounts:
    won = sum(1 for o in outcomes if o.won)
    return OutcomeCounts(
        outcomes=len(outcomes),
        won=won,
        lost=len(outcomes) - won,
        min_outcomes=settings.min_outcomes,
        min_per_class=settings.min_per_class,
    )


def _enough(counts: OutcomeCounts) -> bool:
    return (
        counts.outcomes >= counts.min_outcomes
        and counts.won >= counts.min_per_class
        and counts.lost >= counts.min_per_class
    )


def _history_text(c: OutcomeCounts) -> str:
    return (
        f"{c.outcomes} closed outcomes ({c.won} won, {c.lost} lost); a trained model needs at "
        f"least {c.min_outcomes} with at least {c.min_per_class} won and {c.min_per_class} lost"
    )


async def _record_attempt(session: AsyncSession, ctx: Context, attempt: TrainingAttempt) -> None:
    row = await load_settings(session, ctx, for_update=True)
    row.scoring = {**(row.scoring or {}), "last_training": attempt.model_dump(mode="json")}
    await session.flush()


async def retrain(
    session: AsyncSession, ctx: Context, *, now: dt.datetime | None = None
) -> TrainingAttempt:
    """Train the tenant's model on its won/lost history. A model whose held-out AUC
    reaches ``min_auc`` becomes the active one and open leads are re-scored with it;
    otherwise the current model (or the rules) stays in use."""
    ctx.require_tenant()
    now = now or utcnow()
    settings = await get_scoring_settings(session, ctx)
    outcomes = await closed_outcomes(session)
    counts = _counts(outcomes, settings)
    if not _enough(counts):
        attempt = TrainingAttempt(
            at=now, status="insufficient_history", detail=_history_text(counts)
        )
        await _record_attempt(session, ctx, attempt)
        return attempt
    features = await gather_features(
        session, [o.lead for o in outcomes], as_of={o.lead.id: o.decided_at for o in outcomes}
    )
    samples = [features[o.lead.id] for o in outcomes]
    labels = [1 if o.won else 0 for o in outcomes]
    trained = await asyncio.to_thread(train, samples, labels, hot_threshold=settings.hot_threshold)
    auc = float(trained.metrics["auc"])
    usable = auc >= settings.min_auc
    if usable:
        await session.execute(
            sa.update(ScoringModel).where(ScoringModel.active.is_(True)).values(active=False)
        )
    row = ScoringModel(
        id=new_id(),
        tenant_id=ctx.require_tenant(),
        kind=KIND,
        active=usable,
        trained_at=now,
        samples=counts.outcomes,
        positives=counts.won,
        features=trained.model.columns,
        parameters=trained.model.parameters(),
        metrics=trained.metrics,
    )
    session.add(row)
    await session.flush()
    await record_new_event(
        session,
        ctx,
        "crm.scoring.model_trained",
        "scoring_model",
        row.id,
        {"active": usable, "samples": row.samples, "metrics": trained.metrics},
    )
    if usable:
        rescored = await rescore_open_leads(session, ctx, reason="retrained")
        detail = (
            f"trained on {counts.outcomes} outcomes; held-out AUC {auc:.3f}; "
            f"{rescored} open leads re-scored"
        )
    else:
        detail = (
            f"held-out AUC {auc:.3f} is below the required {settings.min_auc:.2f}; "
            "the model was kept but not put in use"
        )
    attempt = TrainingAttempt(
        at=now, status="trained" if usable else "rejected", detail=detail, model_id=row.id
    )
    await _record_attempt(session, ctx, attempt)
    log.info("crm.scoring.retrained", model_id=row.id, active=usable, auc=auc)
    return attempt


def _model_read(row: ScoringModel) -> ScoringModelRead:
    stored = StoredModel.load(row.features, row.parameters)
    return read_of(
        ScoringModelRead,
        row,
        coefficients={
            c: round(v, 6) for c, v in zip(stored.columns, stored.coefficients, strict=True)
        },
        intercept=round(stored.intercept, 6),
    )


async def scoring_status(session: AsyncSession, ctx: Context) -> ScoringStatus:
    ctx.require_tenant()
    row = await _settings_row(session)
    settings = _settings_from(row.scoring if row else None)
    stored_attempt = (row.scoring or {}).get("last_training") if row else None
    attempt = TrainingAttempt.model_validate(stored_attempt) if stored_attempt else None
    counts = _counts(await closed_outcomes(session), settings)
    model = await _active_model(session)
    if model is not None:
        auc = model.metrics.get("auc")
        reason = f"trained model {model.id} from {model.samples} outcomes (held-out AUC {auc})"
    elif attempt is not None and attempt.status == "rejected":
        reason = f"rules: the last trained model was not good enough ({attempt.detail})"
    elif not _enough(counts):
        reason = f"rules: {_history_text(counts)}"
    else:
        reason = (
            f"rules: {counts.outcomes} closed outcomes are enough; a model is trained by the "
            "daily job or POST /api/v1/crm/scoring/retrain"
        )
    return ScoringStatus(
        rules_in_use=model is None,
        reason=reason,
        model=_model_read(model) if model else None,
        history=counts,
        last_training=attempt,
        rules=RULES_DESCRIPTION,
    )
