"""Leads as the lead flow would have handled them: created, enriched, scored by the
rules, assigned by territory and source, then worked to a deal, disqualified or left open.
Tracked activity while a lead was open re-scores it, as the scoring handler does."""

from __future__ import annotations

import datetime as dt
import math
import random
from typing import Any

from bizos.core.events import payload
from bizos.demo.crm import data
from bizos.demo.crm.deals import convert
from bizos.demo.crm.history import History, Person, sigmoid
from bizos.demo.crm.work import lead_tasks
from bizos.demo.story import historical_id
from bizos.modules.crm.models import Lead, LeadScore
from bizos.modules.crm.scoring import service as scoring
from bizos.modules.crm.scoring.features import LeadFeatures, states_budget, title_seniority
from bizos.modules.crm.scoring.rules import Targets, rule_points, rule_score

# What Northwind sells best to; the tenant's scoring settings say the same.
SCORING_TARGETS = Targets(industries=("Hotel", "University", "Corporate office"))
HOT_SCORE = 70
# Log-odds of a lead turning into a deal before source, size and engagement: about a
# third of the leads do.
CONVERT_BASE_LOGIT = -0.5
QUALIFIED = "volume and budget confirmed"
DUPLICATE = "duplicate of an existing lead"
NO_RESPONSE = "no response after three attempts"


def build_leads(h: History) -> None:
    arrivals = sorted(
        ((at, n, person) for person in h.people for n, at in enumerate(person.lead_times)),
        key=lambda item: item[0],
    )
    for at, n, person in arrivals:
        _lead(h, person, at, first=n == 0)


def _source(h: History, person: Person, *, first: bool) -> str:
    if not first and h.rng.random() < 0.5:
        return person.leads[0].source  # came back the same way
    weights = dict(data.LEAD_SOURCES)
    if person.buyer.segment is data.CAFE:
        weights["instagram"] *= 2.0
    elif person.buyer.segment.industry in ("Hotel", "University", "Grocery"):
        weights["trade_show"] *= 1.8
        weights["cold_outreach"] *= 1.5
    return h.rng.choices(list(weights), weights=list(weights.values()))[0]


def _assign(h: History, person: Person, source: str) -> tuple[str, str, str | None]:
    """Owner, reason and rule as the tenant's assignment rules would have decided."""
    found = h.team.matching_rule(person.buyer.country, source)
    if found is not None:
        number, rule = found
        label = f"rule {number} '{rule.name}' matched"
        if len(rule.user_ids) == 1:
            return rule.user_ids[0], label, rule.name
        h.round_robin += 1
        owner = rule.user_ids[h.round_robin % len(rule.user_ids)]
        pool = f"{label}; round robin within its pool of {len(rule.user_ids)}"
        return owner, pool, rule.name
    team = [h.team.owner_id, *(rep.user_id for rep in h.team.reps)]
    h.round_robin += 1
    prefix = "no rule matched; fallback " if h.team.rules else ""
    return team[h.round_robin % len(team)], f"{prefix}round robin", None


def _lead(h: History, person: Person, at: dt.datetime, *, first: bool) -> None:
    rng, buyer = h.rng, person.buyer
    source = _source(h, person, first=first)
    kg = rng.choice([3, 5, 8, 12, 15, 20, 30, 45])
    properties: dict[str, Any] = {"kg_per_week": kg}
    if source == "trade_show":
        properties["event"] = rng.choice(data.TRADE_SHOWS)
    if source == "instagram":
        properties["utm_source"] = "instagram"
    # A monthly coffee budget named on the form (what roughly that volume costs), drawn
    # apart from the history's own draws so the rest of the year stays as it was.
    budget = random.Random(f"budget|{person.row.email}|{at.isoformat()}")
    if budget.random() < _budget_chance(person, source):
        properties["budget"] = round(kg * 4.3 * budget.uniform(24, 34), -1)
    owner_id, reason, rule = _assign(h, person, source)
    lead = Lead(
        id=historical_id(at),
        contact_id=person.row.id,
        company_id=buyer.row.id if buyer.row else None,
        email=person.row.email or "",
        name=person.row.name,
        phone=person.row.phone if rng.random() < 0.7 else None,
        company=buyer.name,
        source=source,
        message=rng.choice(data.LEAD_MESSAGES).format(kg=kg) if rng.random() < 0.75 else None,
        properties=properties,
        status="new",
        status_changed_at=at,
        owner_id=owner_id,
        assigned_at=at + dt.timedelta(seconds=4),
        assignment_reason=reason,
        ip=f"203.0.113.{rng.randint(1, 254)}" if source == "web_form" else None,
        created_at=at,
    )
    person.leads.append(lead)
    person.touches.append(at)
    h.add(
        lead,
        "crm.lead.created",
        "lead",
        at,
        contact_id=person.row.id,
        contact_created=first,
        **payload(lead, "email", "name", "company", "source"),
    )
    _enrich(h, lead, person, at + dt.timedelta(seconds=2))
    score = _score(h, person, lead, at + dt.timedelta(seconds=3), "created")
    h.event(
        "crm.lead.assigned",
        "lead",
        lead.id,
        at + dt.timedelta(seconds=4),
        owner_id=owner_id,
        previous_owner_id=None,
        reason=reason,
        strategy="rules" if h.team.rules else "round_robin",
        rule=rule,
        fell_back_to_owner=False,
    )
    working = _outcome(h, person, lead)
    lead_tasks(h, person, lead, hot=score >= HOT_SCORE, worked_at=working)


def _budget_chance(person: Person, source: str) -> float:
    """Buyers who name a budget up front are the ones further along: bigger companies
    and those who came by referral or a trade show do so more often."""
    buyer = person.buyer
    if buyer.row is None:
        return 0.08
    size = math.log10(max(buyer.employees, 1)) - 1.3
    return sigmoid(-1.0 + 0.8 * data.SOURCE_WIN_LIFT.get(source, 0.0) + 0.6 * size)


def _enrich(h: History, lead: Lead, person: Person, at: dt.datetime) -> None:
    company = person.buyer.row
    if company is None:
        lead.enrichment_status = "skipped"  # free-mail: nothing to look up
    elif h.rng.random() < 0.06:
        lead.enrichment_status = "not_found"
    else:
        lead.enrichment_status = "enriched"
        lead.enrichment = {**(company.enrichment or {}), "fetched_at": at.isoformat()}
    h.event(
        "crm.lead.enriched",
        "lead",
        lead.id,
        at,
        status=lead.enrichment_status,
        domain=person.buyer.domain,
        provider="sandbox",
        company_id=lead.company_id,
    )


def _features(h: History, person: Person, lead: Lead, at: dt.datetime) -> LeadFeatures:
    buyer = person.buyer
    seen = [t for t, _ in h.activity.get(person.row.email_normalized or "", []) if t <= at]
    return LeadFeatures(
        employees=buyer.employees if buyer.row else None,
        industry=buyer.segment.industry if buyer.row else None,
        country=buyer.country,
        source=lead.source,
        activities_30d=sum(1 for t in seen if t >= at - dt.timedelta(days=30)),
        activities_total=len(seen),
        days_since_activity=(at - seen[-1]).total_seconds() / 86400 if seen else None,
        free_mail=buyer.row is None,
        has_phone=bool(lead.phone),
        message_length=len(lead.message or ""),
        lead_age_days=max(0.0, (at - lead.created_at).total_seconds() / 86400),
        title_seniority=title_seniority(person.row.title),
        has_budget=states_budget(lead.properties),
        enriched=lead.enrichment_status == "enriched",
    )


def _score(h: History, person: Person, lead: Lead, at: dt.datetime, reason: str) -> int:
    """A rules score with its factors: a history row, the lead's current score, an event."""
    features = _features(h, person, lead, at)
    points = rule_points(features, SCORING_TARGETS)
    row = LeadScore(
        id=historical_id(at),
        lead_id=lead.id,
        score=rule_score(points),
        factors=scoring.top_factors(points, features, digits=1),
        model="rules",
        reason=reason,
        scored_at=at,
    )
    h.rows.append(row)
    h.event(
        "crm.lead.scored",
        "lead",
        lead.id,
        at,
        score=row.score,
        previous_score=lead.score,
        **payload(row, "factors", "model", "reason"),
    )
    lead.score, lead.score_factors, lead.score_model, lead.scored_at = (
        row.score,
        row.factors,
        "rules",
        at,
    )
    return row.score


def _steps(h: History, person: Person, lead: Lead) -> list[tuple[dt.datetime, str, str | None]]:
    """The statuses the lead went through, with when and why (some still ahead of now)."""
    rng, buyer, created = h.rng, person.buyer, lead.created_at
    working = h.after(created, 0.05, 3)
    steps: list[tuple[dt.datetime, str, str | None]] = [(working, "working", None)]
    earlier = [d for d in person.deals if d.created_at < created]
    if any(d.stage != "lost" or (d.closed_at or h.now) > created for d in earlier):
        customer = any(d.stage == "won" for d in earlier)
        why = "existing customer: routed to the account owner" if customer else DUPLICATE
        return [*steps, (h.after(working, 0.5, 6), "disqualified", why)]
    logit = (
        CONVERT_BASE_LOGIT
        + 0.6 * data.SOURCE_WIN_LIFT.get(lead.source, 0.0)
        + 0.5 * (math.log10(max(buyer.employees, 1)) - 1.3)
        - (1.3 if buyer.row is None else 0.0)
        + (0.3 if buyer.engaged else 0.0)
    )
    if rng.random() < sigmoid(logit):
        qualified = h.after(working, 2, 10)
        converted = (h.after(qualified, 0.2, 6), "converted", None)
        return [*steps, (qualified, "qualified", QUALIFIED), converted]
    if rng.random() < 0.6:
        reasons = data.DISQUALIFY_REASONS[:3] if buyer.row is None else data.DISQUALIFY_REASONS
        return [*steps, (h.after(working, 1, 25), "disqualified", rng.choice(reasons))]
    if rng.random() < 0.3:
        qualified = h.after(working, 3, 12)
        quiet = (h.after(qualified, 30, 60), "disqualified", "went quiet after samples")
        return [*steps, (qualified, "qualified", QUALIFIED), quiet]
    return [*steps, (h.after(working, 20, 45), "disqualified", NO_RESPONSE)]


def _outcome(h: History, person: Person, lead: Lead) -> dt.datetime:
    """Walk the lead through its statuses up to now; returns when it was first worked."""
    steps = _steps(h, person, lead)
    ended = h.now
    for at, status, reason in steps:
        if at >= h.now:
            break
        change: dict[str, Any] = {"from": lead.status, "to": status, "reason": reason}
        h.event("crm.lead.status_changed", "lead", lead.id, at, **change)
        if status == "converted":
            convert(h, person, lead, at)
        lead.status, lead.status_reason, lead.status_changed_at = status, reason, at
        person.touches.append(at)
        if status in ("converted", "disqualified"):
            ended = at
    tracked = h.activity.get(person.row.email_normalized or "", [])
    while_open = [(at, kind) for at, kind in tracked if lead.created_at < at < ended]
    for at, kind in while_open[-2:]:
        _score(h, person, lead, at + dt.timedelta(seconds=1), f"event:{kind}")
    lead.updated_at = max(lead.status_changed_at or lead.created_at, lead.scored_at or ended)
    return steps[0][0]
