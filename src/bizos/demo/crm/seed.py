"""Writing the history: rows in bulk, events in the order things happened, the history
marked as handled, then the tenant's scoring targets and its first trained model."""

from __future__ import annotations

import datetime as dt
import random

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.events import Event, NewEvent, append_events
from bizos.demo.crm import deals, leads, people, work
from bizos.demo.crm.history import History, Team, load_team
from bizos.demo.story import mark_handled
from bizos.modules.crm.assignment import service as assignment
from bizos.modules.crm.assignment.schemas import AssignmentConfig, AssignmentRule, RuleMatch
from bizos.modules.crm.scoring import service as scoring
from bizos.modules.crm.scoring.schemas import ScoringSettings

log = structlog.get_logger("bizos.demo.crm")

# Event types that belong to the history (the activity seeder's engagement included).
HISTORY_PREFIXES = ("crm.", "work.", "activity.")
_FIRST_AT_A_MOMENT = {"crm.company.created": 0, "crm.contact.created": 1}


def build_history(
    rng: random.Random,
    now: dt.datetime,
    team: Team,
    activity: dict[str, list[tuple[dt.datetime, str]]],
) -> History:
    """The whole history in memory; nothing touches the database."""
    h = History(rng, now, team, activity)
    people.build_companies(h)
    people.build_people(h)
    people.draw_lead_times(h)
    leads.build_leads(h)
    deals.build_repeat_business(h)
    work.build_notes(h)
    work.build_reps(h)
    people.finish_people(h)
    work.finish_tasks(h)
    return h


async def tracked_activity(session: AsyncSession) -> dict[str, list[tuple[dt.datetime, str]]]:
    """Tracked engagement already in the log, by contact email, oldest first."""
    rows = await session.execute(
        sa.select(Event.aggregate_id, Event.occurred_at, Event.type)
        .where(Event.type.startswith("activity."))
        .order_by(Event.occurred_at, Event.sequence)
    )
    out: dict[str, list[tuple[dt.datetime, str]]] = {}
    for key, at, kind in rows:
        out.setdefault(key.lower(), []).append((at, kind))
    return out


def assignment_rules(team: Team) -> AssignmentConfig:
    rules = [
        AssignmentRule(
            name=rule.name,
            match=RuleMatch(countries=rule.countries, sources=rule.sources),
            user_id=rule.user_ids[0] if len(rule.user_ids) == 1 else None,
            pool=rule.user_ids if len(rule.user_ids) > 1 else [],
        )
        for rule in team.rules
    ]
    return AssignmentConfig(strategy="rules", rules=rules, fallback="round_robin")


def _log_order(event: NewEvent) -> tuple[dt.datetime, int]:
    # A company exists before its contact, a contact before the lead that brought it in.
    assert event.occurred_at is not None
    return event.occurred_at, _FIRST_AT_A_MOMENT.get(event.type, 2)


async def mark_history_handled(session: AsyncSession, ctx: Context) -> int:
    """Record the history's events as processed by every subscriber they match.

    They describe what already happened, with its effects already in the tables: the
    dispatcher must not start lead flows, re-score, create template tasks or notify
    anyone about them a second time. Returns how many records were written.
    """
    events = await session.execute(
        sa.select(Event.id, Event.type).where(
            sa.or_(*(Event.type.startswith(prefix) for prefix in HISTORY_PREFIXES))
        )
    )
    return await mark_handled(session, ctx, [(event_id, type_) for event_id, type_ in events])


async def seed_crm_history(
    session: AsyncSession, ctx: Context, rng: random.Random, *, now: dt.datetime | None = None
) -> None:
    """Write twelve months of Northwind's sales history into ``ctx``'s tenant."""
    now = now or utcnow()
    team = await load_team(session, ctx)
    h = build_history(rng, now, team, await tracked_activity(session))
    session.add_all(h.rows)
    await session.flush()
    await append_events(session, ctx, sorted(h.events, key=_log_order))
    handled = await mark_history_handled(session, ctx)
    # Live leads are assigned and scored the way the history's leads were.
    if team.rules:
        await assignment.update_rules(session, ctx, body=assignment_rules(team))
    targets = list(leads.SCORING_TARGETS.industries)
    await scoring.update_scoring_settings(
        session, ctx, body=ScoringSettings(target_industries=targets)
    )
    # A year of won and lost deals: the tenant has its own scoring model from the start.
    attempt = await scoring.retrain(session, ctx, now=now)
    log.info(
        "crm.demo.seeded",
        rows=len(h.rows),
        events=len(h.events),
        handled=handled,
        scoring=attempt.status,
    )
