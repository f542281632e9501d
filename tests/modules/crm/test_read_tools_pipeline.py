"""The CRM's copilot tools for the pipeline, the forecast and leads, called as the copilot
calls them (through the registry, in a read-only transaction): each figure is checked
against the same figure worked out here by SQL, and every number the answer writes is one
of its figures. Another tenant's deals and leads never count."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.errors import Unprocessable
from bizos.core.money import cents, spoken
from bizos.core.phrases import between_text
from tests.conftest import TenantLogin
from tests.modules.crm.read_tools_helpers import (
    NOW,
    READER,
    add_deal,
    add_lead,
    ago,
    call,
    sql,
)
from tests.modules.crm.scoring.factories import add_user
from tests.modules.said import assert_backed, figure

OPEN = "('lead', 'qualified', 'proposal', 'negotiation')"


async def test_the_pipeline_is_open_deals_by_stage_with_count_and_value_per_currency(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    for name, amount, stage in [
        ("Beans", "1000.00", "lead"),
        ("Grinders", "2500.50", "qualified"),
        ("Cups", "400.25", "qualified"),
        ("Espresso bar", "12000.00", "negotiation"),
    ]:
        await add_deal(db, tenant, name, amount, stage=stage)
    await add_deal(db, tenant, "Won already", "9999.00", stage="won")
    await add_deal(db, tenant, "Gone", "5000.00", stage="lost")
    await add_deal(db, other_tenant, "Not ours", "777.00", stage="lead")

    result, said = await call(db, tenant, "crm.pipeline")

    rows = await sql(
        db,
        tenant,
        f"SELECT stage, count(*), sum(amount) FROM crm_deals WHERE tenant_id = :t "
        f"AND stage IN {OPEN} GROUP BY stage",
    )
    expected = {stage: (n, cents(total)) for stage, n, total in rows}
    [usd] = result.value.by_currency
    assert {s.stage: (s.count, s.amount) for s in usd.stages if s.count} == expected
    assert usd.amount == sum(v for _, v in expected.values()) == Decimal("15900.75")
    assert result.value.count == result.records_total == 4
    assert len(result.records) == 4 and result.filters["stages"] == [
        "lead",
        "qualified",
        "proposal",
        "negotiation",
    ]
    assert_backed(said)
    assert said.text.startswith(f"You have 4 open deals worth {spoken(usd.amount, 'USD')}")
    assert "Qualified 2 ($2,900.75)" in said.text and "Proposal" not in said.text
    assert figure(said, "open deals") == 4


async def test_the_pipeline_keeps_currencies_apart_and_narrows_to_an_owner(
    db: Database, tenant: TenantLogin
) -> None:
    rep = await add_user(db, tenant.tenant_id, name="Maya Okafor")
    await add_deal(db, tenant, "Mine", "100.00", stage="lead", owner_id=tenant.user_id)
    await add_deal(db, tenant, "Hers", "200.00", stage="lead", owner_id=rep, currency="EUR")
    await add_deal(db, tenant, "Hers too", "300.00", stage="proposal", owner_id=rep)

    everyone, said = await call(db, tenant, "crm.pipeline")
    assert [(c.currency, c.count, c.amount) for c in everyone.value.by_currency] == [
        ("EUR", 1, Decimal("200.00")),
        ("USD", 2, Decimal("400.00")),
    ]
    assert_backed(said)
    assert "1 in EUR worth €200.00" in said.text and "2 in USD worth $400.00" in said.text

    hers, said = await call(db, tenant, "crm.pipeline", {"owner_id": rep})
    assert hers.value.count == 2 and hers.filters["owner_id"] == rep
    assert said.text.startswith("Maya Okafor has 2 open deals")
    mine, said = await call(db, tenant, "crm.pipeline", {"owner_id": "me", "currency": "usd"})
    assert mine.value.count == 1 and mine.filters == {
        "owner_id": tenant.user_id,
        "currency": "USD",
        "stages": ["lead", "qualified", "proposal", "negotiation"],
    }
    assert said.text.startswith("You have 1 open deal worth $100.00")


async def test_an_empty_pipeline_is_said_plainly(db: Database, tenant: TenantLogin) -> None:
    await add_deal(db, tenant, "Won", "10.00", stage="won")
    result, said = await call(db, tenant, "crm.pipeline", {"currency": "EUR"})
    assert result.value.count == 0 and result.records == []
    assert said.text == "You have no open deals in EUR."
    assert_backed(said)


async def test_the_forecast_weights_the_months_deals_and_stores_nothing(
    db: Database, tenant: TenantLogin
) -> None:
    month_end = dt.date(2026, 3, 31)
    for amount, stage in [("1000.00", "lead"), ("2000.00", "proposal"), ("4000.00", "negotiation")]:
        await add_deal(db, tenant, f"{stage} deal", amount, stage=stage, close_date=month_end)
    await add_deal(db, tenant, "Closed", "1500.00", stage="won", close_date=dt.date(2026, 3, 5))
    await add_deal(db, tenant, "April", "9000.00", stage="lead", close_date=dt.date(2026, 4, 1))

    result, said = await call(db, tenant, "crm.forecast", {"from": "2026-03-10"})

    # The default probabilities (too few closed deals to learn): 0.1, 0.2, 0.4, 0.6.
    [(weighted,)] = await sql(
        db,
        tenant,
        "SELECT sum(amount * CASE stage WHEN 'lead' THEN 0.1 WHEN 'qualified' THEN 0.2 "
        "WHEN 'proposal' THEN 0.4 WHEN 'negotiation' THEN 0.6 ELSE 1 END) FROM crm_deals "
        "WHERE tenant_id = :t AND stage != 'lost' AND close_date BETWEEN :a AND :b",
        a=dt.date(2026, 3, 1),
        b=month_end,
    )
    [march] = result.value.months
    assert march.period == "2026-03" and march.currency == "USD"
    assert march.weighted_amount == cents(weighted) == Decimal("4800.00")
    assert march.won_amount == Decimal("1500.00") and march.best_case_amount == Decimal("8500.00")
    assert march.commit_amount == Decimal("5500.00")  # won + negotiation
    assert march.won_amount <= march.interval_low <= march.interval_high <= Decimal("8500.00")
    assert result.records_total == 4 and len(result.records) == 4
    assert (await sql(db, tenant, "SELECT count(*) FROM crm_forecasts"))[0][0] == 0
    assert_backed(said)
    assert said.text.startswith("The forecast for 2026-03 (USD) is $4,800.00 weighted")
    assert figure(said, "weighted forecast 2026-03") == Decimal("4800.00")


async def test_a_forecast_over_months_says_each_and_their_sum(
    db: Database, tenant: TenantLogin
) -> None:
    await add_deal(
        db, tenant, "May", "1000.00", stage="negotiation", close_date=dt.date(2026, 5, 2)
    )
    result, said = await call(
        db, tenant, "crm.forecast", {"from": "2026-04-01", "to": "2026-06-30"}
    )
    assert [m.period for m in result.value.months] == ["2026-04", "2026-05", "2026-06"]
    assert result.value.weighted_amount == Decimal("600.00")
    assert_backed(said)
    assert "adds up to $600.00 weighted" in said.text


async def test_leads_are_counted_by_source_status_and_period(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    for days, source, status in [
        (1, "web_form", "new"),
        (2, "web_form", "working"),
        (2, "referral", "qualified"),
        (9, "web_form", "new"),
        (40, "referral", "new"),  # before the default 30 days
    ]:
        await add_lead(db, tenant, source=source, status=status, created_at=ago(days))
    await add_lead(db, other_tenant, source="web_form", created_at=ago(1))
    start = (NOW - dt.timedelta(days=29)).date()

    by_source, said = await call(db, tenant, "crm.leads")
    rows = await sql(
        db,
        tenant,
        "SELECT source, count(*) FROM crm_leads WHERE tenant_id = :t AND created_at >= :a "
        "GROUP BY source",
        a=dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC),
    )
    assert {g.key: g.count for g in by_source.value.groups} == dict(rows)
    assert by_source.value.total == by_source.records_total == 4
    assert_backed(said)
    assert (
        said.text == f"4 leads came in {between_text(start, NOW.date())}: web form 3; referral 1."
    )

    by_status, said = await call(db, tenant, "crm.leads", {"group_by": "status"})
    assert {g.key: g.count for g in by_status.value.groups} == {
        "new": 2,
        "working": 1,
        "qualified": 1,
    }
    assert_backed(said)
    web, said = await call(db, tenant, "crm.leads", {"group_by": "day", "source": "Web Form"})
    assert web.filters["source"] == "web_form" and web.value.total == 3
    assert [g.key for g in web.value.groups] == sorted(
        {ago(d).date().isoformat() for d in (1, 2, 9)}
    )
    assert_backed(said)


async def test_leads_by_month_and_none_in_a_quiet_range(db: Database, tenant: TenantLogin) -> None:
    await add_lead(db, tenant, created_at=dt.datetime(2026, 1, 20, tzinfo=dt.UTC))
    await add_lead(db, tenant, created_at=dt.datetime(2026, 3, 2, tzinfo=dt.UTC))
    months, said = await call(
        db, tenant, "crm.leads", {"from": "2026-01-01", "to": "2026-03-31", "group_by": "month"}
    )
    assert [(g.key, g.count) for g in months.value.groups] == [
        ("2026-01-01", 1),
        ("2026-03-01", 1),
    ]
    assert said.text == "2 leads came in between 1 Jan and 31 Mar 2026: 2026-01: 1; 2026-03: 1."
    assert_backed(said)
    quiet, said = await call(db, tenant, "crm.leads", {"from": "2025-06-01", "to": "2025-06-30"})
    assert quiet.value.total == 0 and said.text == "No leads came in between 1 Jun and 30 Jun 2025."


async def test_hot_leads_are_the_highest_scored_open_leads(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    ada = await add_lead(db, tenant, name="Ada Lovelace", company="Acme Ltd", score=92)
    bob = await add_lead(db, tenant, name="Bob Stone", score=75, status="qualified")
    await add_lead(db, tenant, name="Cold Carl", score=40)
    await add_lead(db, tenant, name="Done Dora", score=99, status="converted")
    await add_lead(db, tenant, name="Unscored Uma")
    await add_lead(db, other_tenant, name="Not ours", score=100)

    result, said = await call(db, tenant, "crm.hot_leads")
    [(expected,)] = await sql(
        db,
        tenant,
        "SELECT count(*) FROM crm_leads WHERE tenant_id = :t AND score >= 70 "
        "AND status IN ('new', 'working', 'qualified')",
    )
    assert result.value.min_score == 70 and result.value.count == expected == 2
    assert [(x.id, x.score) for x in result.value.leads] == [(ada, 92), (bob, 75)]
    assert result.records == [ada, bob]
    assert_backed(said)
    assert said.text == "2 open leads score 70 or more: Ada Lovelace (Acme Ltd) 92; Bob Stone 75."
    assert [s.title for s in said.sources] == ["Ada Lovelace", "Bob Stone"]

    top, said = await call(db, tenant, "crm.hot_leads", {"limit": 1, "min_score": 30})
    assert top.value.count == 3 and [x.id for x in top.value.leads] == [ada]
    assert said.text == "3 open leads score 30 or more; the highest: Ada Lovelace (Acme Ltd) 92."
    assert_backed(said)
    none, said = await call(db, tenant, "crm.hot_leads", {"min_score": 95})
    assert none.value.count == 0 and said.text == "No open lead scores 95 or more."


async def test_my_pipeline_needs_a_signed_in_user(db: Database, tenant: TenantLogin) -> None:
    api_key = Context(
        tenant_id=tenant.tenant_id, actor_id="key-1", actor_type="api_key", scopes=READER
    )
    with pytest.raises(Unprocessable) as refused:
        await call(db, tenant, "crm.pipeline", {"owner_id": "me"}, ctx=api_key)
    assert refused.value.errors[0]["loc"] == ["params", "owner_id"]
    everyone, _ = await call(db, tenant, "crm.pipeline", ctx=api_key)
    assert everyone.value.count == 0
