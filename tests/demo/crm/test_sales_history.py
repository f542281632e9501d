"""The demo tenant's sales history: a year of leads, deals, tasks and notes that hang
together, agree with the event log, and come out the same from the same seed."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections import Counter
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bizos.core.config import Settings
from bizos.core.db import Database
from bizos.core.dispatcher import Dispatcher
from bizos.core.dispatcher_models import ProcessedEvent
from bizos.core.events import Event
from bizos.demo import DEMO_SLUG, seed_demo
from bizos.demo.crm.data import ASSIGNMENT_RULES
from bizos.demo.crm.data import REP_PROFILES as PROFILES
from bizos.demo.crm.history import History, Rep, Rule, Team
from bizos.demo.crm.seed import build_history
from bizos.modules.crm.models import (
    Company,
    Contact,
    Deal,
    DealStageChange,
    Lead,
    LeadScore,
    Note,
    SalesRep,
    ScoringModel,
)
from bizos.modules.identity.models import Tenant, User
from bizos.modules.work.models import Task
from bizos.registry import register_subscribers

SOURCES = {"web_form", "referral", "trade_show", "cold_outreach", "instagram", "api", "import"}
LOST_REASONS = {"price", "went with competitor", "no budget", "timing"}
FIXED_NOW = dt.datetime(2026, 3, 14, 15, 9, tzinfo=dt.UTC)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _demo_tenant(db: Database) -> str:
    async with db.unit_of_work(system=True, readonly=True) as session:
        tenant_id = await session.scalar(sa.select(Tenant.id).where(Tenant.slug == DEMO_SLUG))
    assert tenant_id is not None
    return tenant_id


async def _all(session: Any, model: Any) -> list[Any]:
    return list(await session.scalars(sa.select(model)))


@pytest.mark.demo
async def test_demo_history_is_a_consistent_year_of_sales(settings: Settings, db: Database) -> None:
    assert not await seed_demo(settings, db)  # seeded once per session: a no-op now
    tenant_id = await _demo_tenant(db)
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        companies, contacts = await _all(s, Company), await _all(s, Contact)
        leads, scores = await _all(s, Lead), await _all(s, LeadScore)
        deals, changes = await _all(s, Deal), await _all(s, DealStageChange)
        tasks, notes, reps = await _all(s, Task), await _all(s, Note), await _all(s, SalesRep)
        users = {u.id: u for u in await _all(s, User)}
        events = Counter((await s.scalars(sa.select(Event.type))).all())
        models = await _all(s, ScoringModel)

    # The size the issue asks for.
    assert 70 <= len(companies) <= 100
    assert 250 <= len(contacts) <= 400
    assert len(leads) == 400
    assert 120 <= len(deals) <= 190
    # (the commerce and billing history adds its purchasing and follow-up tasks)
    sales_tasks = [t for t in tasks if not (t.origin or "").startswith(("commerce.", "billing."))]
    assert 100 <= len(sales_tasks) <= 120
    assert len(notes) == 100
    assert {users[r.user_id].name for r in reps} == {"Maya Okafor", "Luis Romero", "Hana Sato"}

    # Every activity prospect is a contact at its café's company.
    by_email = {c.email_normalized: c for c in contacts}
    company_by_id = {c.id: c for c in companies}
    for i in range(60):
        contact = by_email[f"buyer{i}@cafe{i % 37}.example"]
        assert company_by_id[contact.company_id].domain == f"cafe{i % 37}.example"
    assert all(c.phone_normalized.startswith("+") for c in contacts if c.phone)

    # Leads: every source and status, owned by the people who sell, scored with factors.
    assert {lead.source for lead in leads} == SOURCES
    assert {lead.status for lead in leads} == {
        "new",
        "working",
        "qualified",
        "disqualified",
        "converted",
    }
    sellers = {u.id for u in users.values() if u.role in ("owner", "admin", "member")}
    assert {lead.owner_id for lead in leads} <= sellers
    assert all(lead.status_reason for lead in leads if lead.status == "disqualified")
    for lead in leads:
        assert lead.score is not None and 0 <= lead.score <= 100
        assert {"feature", "label", "impact", "value"} <= set(lead.score_factors[0])
    # ... by the tenant's assignment rules: referrals to the owner, Europe to Hana.
    contact_by_id = {c.id: c for c in contacts}
    name_of = {u.id: u.name for u in users.values()}
    for lead in leads:
        country = contact_by_id[lead.contact_id].country
        if lead.source == "referral":
            assert name_of[lead.owner_id] == "Olivia Brandt", lead.assignment_reason
        elif country in ("GB", "DE"):
            assert name_of[lead.owner_id] == "Hana Sato", lead.assignment_reason
    scored = Counter(s.lead_id for s in scores)
    assert set(scored) == {lead.id for lead in leads}

    # Deals: references hold, won deals made customers, stage history ends where the deal is.
    lead_by_id = {lead.id: lead for lead in leads}
    history: dict[str, list[DealStageChange]] = {}
    for change in sorted(changes, key=lambda c: c.changed_at):
        history.setdefault(change.deal_id, []).append(change)
    for deal in deals:
        contact = contact_by_id[deal.contact_id]
        assert deal.company_id is None or deal.company_id in company_by_id
        if deal.lead_id is not None:
            assert lead_by_id[deal.lead_id].deal_id == deal.id
            assert lead_by_id[deal.lead_id].status == "converted"
        steps = history[deal.id]
        assert steps[0].from_stage is None
        assert all(a.to_stage == b.from_stage for a, b in itertools.pairwise(steps))
        assert steps[-1].to_stage == deal.stage
        assert steps[-1].changed_at == deal.stage_entered_at
        if deal.stage == "won":
            assert contact.lifecycle_stage == "customer"
            assert contact.became_customer_at <= deal.closed_at
        if deal.stage == "lost":
            assert deal.close_reason in LOST_REASONS
        if deal.stage in ("won", "lost"):
            assert deal.close_date == deal.closed_at.date()
    won = [d for d in deals if d.stage == "won"]
    lost = [d for d in deals if d.stage == "lost"]
    # Customers: everyone who won a deal with us, and everyone who paid for an order.
    customers = {c.id for c in contacts if c.lifecycle_stage == "customer"}
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        paid = await s.scalars(sa.select(Event.data).where(Event.type == "billing.invoice.paid"))
        payers = {data["contact_id"] for data in paid if data.get("contact_id")}
    assert customers == {d.contact_id for d in won} | payers
    # "A little over 40 % of closed deals are won", give or take what ~130 deals drawn
    # at random allow: across seeds the share averages 0.42 with a spread of 0.05.
    assert 0.30 <= len(won) / (len(won) + len(lost)) <= 0.55
    assert min(d.created_at for d in deals) < _now() - dt.timedelta(days=300)

    # An open pipeline closing this month and the next two: the forecast has something.
    today = _now().date()
    open_deals = [d for d in deals if d.stage not in ("won", "lost")]
    assert len(open_deals) >= 15
    assert all(today - dt.timedelta(days=31) <= d.close_date for d in open_deals)
    assert any(d.close_date.month == today.month for d in open_deals)

    # Tasks: some done, some open, some overdue.
    statuses = Counter(t.status for t in tasks)
    assert statuses["done"] and statuses["open"]
    assert any(t.status in ("open", "in_progress") and t.due_at < _now() for t in tasks)

    # The event log tells the same story as the rows.
    assert events["crm.contact.created"] == len(contacts)
    assert events["crm.company.created"] == len(companies)
    assert events["crm.lead.created"] == len(leads)
    assert events["crm.lead.converted"] == sum(1 for lead in leads if lead.status == "converted")
    assert events["crm.lead.scored"] == len(scores)
    assert events["crm.deal.created"] == len(deals)
    assert events["crm.deal.stage_changed"] == sum(1 for c in changes if c.from_stage)
    assert events["crm.deal.won"] == len(won)
    assert events["crm.deal.lost"] == len(lost)
    assert events["crm.contact.became_customer"] == len(customers)
    assert events["work.task.created"] == len(tasks)
    assert events["work.task.completed"] == statuses["done"]
    assert events["crm.note.created"] == len(notes)

    # A year of outcomes trains the tenant's own scoring model during seeding.
    assert any(m.active for m in models)

    # The history already happened: no subscriber replays its lead flows, template tasks
    # or notifications (each has every matching event recorded as processed).
    registry = Dispatcher(db)
    register_subscribers(registry)
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        lead_created = await s.scalar(
            sa.select(Event.id).where(Event.type == "crm.lead.created").limit(1)
        )
        handled_by = set(
            await s.scalars(
                sa.select(ProcessedEvent.subscriber).where(ProcessedEvent.event_id == lead_created)
            )
        )
    matching = {sub.name for sub in registry.subscriptions if sub.matches("crm.lead.created")}
    assert "crm.leads.start_lead_flow" in matching
    assert handled_by == matching


@pytest.mark.demo
async def test_the_demo_owner_sees_a_forecast_and_findable_contacts(
    settings: Settings, db: Database, client: httpx.AsyncClient
) -> None:
    assert not await seed_demo(settings, db)  # seeded once per session: a no-op now
    r = await client.post(
        "/api/v1/auth/login",
        json={"email": settings.demo_email, "password": settings.demo_password, "tenant": "demo"},
    )
    assert r.status_code == 200, r.text
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    period = _now().strftime("%Y-%m")

    forecast = await client.get(f"/api/v1/crm/forecast?period={period}", headers=headers)
    assert forecast.status_code == 200, forecast.text
    body = forecast.json()
    assert float(body["weighted_amount"]) > 0
    assert float(body["best_case_amount"]) >= float(body["weighted_amount"])
    assert body["method"] == "learned"  # a year of closed deals is enough to learn from

    found = await client.get("/api/v1/crm/contacts?q=buyer7@cafe7.example", headers=headers)
    assert found.status_code == 200, found.text
    assert [c["email"] for c in found.json()["items"]] == ["buyer7@cafe7.example"]


def _history(seed: int) -> History:
    """The history built in memory for a made-up team (no database involved)."""
    ids = {"owner": "olivia", "Hana Sato": "hana", "Luis Romero": "luis", "Maya Okafor": "maya"}
    team = Team(
        owner_id="olivia",
        reps=[Rep(ids[name], name, 40, territories) for name, (_, territories) in PROFILES.items()],
        rules=[
            Rule(name, countries, sources, [ids[who] for who in people])
            for name, countries, sources, people in ASSIGNMENT_RULES
        ],
    )
    activity = {
        "buyer3@cafe3.example": [(FIXED_NOW - dt.timedelta(days=9), "activity.page.viewed")]
    }
    return build_history(random.Random(seed), FIXED_NOW, team, activity)


def _readable(h: History) -> list[tuple[Any, ...]]:
    """Every row and event as a person reads it: ids left out, times kept."""
    out: list[tuple[Any, ...]] = []
    for row in h.rows:
        columns = sorted(a.key for a in sa.inspect(type(row)).column_attrs)
        kept = [repr(getattr(row, key)) for key in columns if not key.endswith("id")]
        out.append((type(row).__name__, *kept))
    out += [(e.type, e.occurred_at, e.actor_id) for e in h.events]
    return out


def test_the_same_seed_gives_the_same_history() -> None:
    first, again, other = _history(7), _history(7), _history(8)
    assert _readable(first) == _readable(again)
    assert _readable(first) != _readable(other)
    assert len(first.rows) > 1500


def test_bigger_buyers_and_warm_sources_win_more_often() -> None:
    """The signal a trained scoring model learns from is in the history."""
    h = _history(11)
    size = {b.row.id: b.employees for b in h.buyers if b.row is not None}
    closed = [row for row in h.rows if isinstance(row, Deal) and row.stage in ("won", "lost")]

    def win_rate(deals: list[Deal]) -> float:
        assert len(deals) >= 15
        return sum(1 for d in deals if d.stage == "won") / len(deals)

    big = [d for d in closed if size.get(d.company_id or "", 0) > 200]
    small = [d for d in closed if size.get(d.company_id or "", 0) <= 50]
    warm = [d for d in closed if d.source in ("referral", "trade_show")]
    cold = [d for d in closed if d.source in ("cold_outreach", "import")]
    assert win_rate(big) > win_rate(small) + 0.15
    assert win_rate(warm) > win_rate(cold) + 0.15
