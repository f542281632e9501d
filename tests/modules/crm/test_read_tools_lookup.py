"""Finding a deal, a contact or a company the way a person names it (case, accents and
small typos forgiven), with the key facts around it, and the next best actions; then
the bad paths of every CRM read tool: another tenant's records, bad parameters (422) and
a caller without ``crm:read`` (403)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from bizos.core.db import Database
from bizos.core.errors import Forbidden, NotFound, Unprocessable
from bizos.core.money import cents
from tests.conftest import TenantLogin
from tests.modules.crm.read_tools_helpers import (
    REGISTRY,
    add_company,
    add_contact,
    add_deal,
    ago,
    call,
    ctx_for,
    sql,
)
from tests.modules.crm.scoring.factories import add_user
from tests.modules.said import assert_backed, figure

CLOSE = dt.date(2026, 12, 20)


async def _acme(db: Database, tenant: TenantLogin) -> dict[str, str]:
    """Acme Ltd with Ada (a customer) and Bob, two open deals and a won one."""
    rep = await add_user(db, tenant.tenant_id, name="Maya Okafor")
    acme = await add_company(db, tenant, "Acme Ltd", "acme.com")
    ada = await add_contact(
        db,
        tenant,
        "Ada Lovelace",
        email="ada@acme.com",
        phone="+14155550101",
        company_id=acme,
        company_name="Acme Ltd",
        lifecycle_stage="customer",
        last_activity_at=dt.datetime(2026, 12, 1, 15, tzinfo=dt.UTC),
    )
    bob = await add_contact(db, tenant, "Bob Stone", company_id=acme, company_name="Acme Ltd")
    beans = await add_deal(
        db,
        tenant,
        "Acme - Espresso beans",
        "1200.00",
        stage="proposal",
        contact_id=ada,
        company_id=acme,
        owner_id=rep,
        close_date=CLOSE,
    )
    bar = await add_deal(db, tenant, "Acme - Bar refit", "800.50", stage="lead", contact_id=ada)
    won = await add_deal(db, tenant, "Acme - Grinders", "300.00", stage="won", company_id=acme)
    return {"acme": acme, "ada": ada, "bob": bob, "beans": beans, "bar": bar, "won": won}


@pytest.mark.parametrize("query", ["Acme espresso beans", "acme expresso", "ESPRESSO BEENS"])
async def test_a_deal_is_found_by_its_name_with_typos_and_its_key_facts(
    db: Database, tenant: TenantLogin, query: str
) -> None:
    ids = await _acme(db, tenant)

    result, said = await call(db, tenant, "crm.deal_lookup", {"query": query})

    best = result.value.matches[0]
    assert best.id == ids["beans"] == result.records[0]
    assert (best.stage, best.amount, best.currency) == ("proposal", Decimal("1200.00"), "USD")
    assert (best.owner_name, best.close_date) == ("Maya Okafor", CLOSE)
    assert (best.contact_name, best.company_name) == ("Ada Lovelace", "Acme Ltd")
    assert_backed(said)
    assert said.text.startswith(
        "Acme - Espresso beans is in Proposal, $1,200.00, expected to close on 2026-12-20, "
        "owned by Maya Okafor, with Ada Lovelace at Acme Ltd."
    )
    assert said.sources[0].type == "deal" and said.sources[0].id == ids["beans"]


async def test_several_deals_matching_alike_are_listed(db: Database, tenant: TenantLogin) -> None:
    ids = await _acme(db, tenant)
    result, said = await call(db, tenant, "crm.deal_lookup", {"query": "acme"})
    assert set(result.records) == {ids["beans"], ids["bar"], ids["won"]}
    assert result.records[-1] == ids["won"]  # open deals first among equals
    assert_backed(said)
    assert said.text.startswith("3 deals match: ") and figure(said, "matching deals") == 3
    by_id, said = await call(db, tenant, "crm.deal_lookup", {"query": ids["won"]})
    assert by_id.records == [ids["won"]] and said.text.startswith("Acme - Grinders was won")
    cut, said = await call(db, tenant, "crm.deal_lookup", {"query": "acme", "limit": 2})
    assert len(cut.records) == 2 and said.text.startswith("The best matches: ")


@pytest.mark.parametrize("query", ["ada lovlace", "Ada@Acme.com", "415 555 0101", "lovelace"])
async def test_a_contact_is_found_with_company_lifecycle_open_deals_and_activity(
    db: Database, tenant: TenantLogin, query: str
) -> None:
    ids = await _acme(db, tenant)

    result, said = await call(db, tenant, "crm.contact_lookup", {"query": query})

    ada = result.value.matches[0]
    assert ada.id == ids["ada"] and ada.company == "Acme Ltd" and ada.lifecycle_stage == "customer"
    [(count, total)] = await sql(
        db,
        tenant,
        "SELECT count(*), sum(amount) FROM crm_deals WHERE tenant_id = :t AND contact_id = :c "
        "AND stage IN ('lead', 'qualified', 'proposal', 'negotiation')",
        c=ids["ada"],
    )
    assert ada.open_deal_count == count == 2
    assert [(m.currency, m.amount) for m in ada.open_deal_value] == [("USD", cents(total))]
    assert_backed(said)
    assert said.text == (
        "Ada Lovelace (ada@acme.com) at Acme Ltd is a customer, with 2 open deals worth "
        "$2,000.50 (Acme - Espresso beans in Proposal; Acme - Bar refit in Lead); last "
        "activity on 2026-12-01."
    )


async def test_a_company_is_found_with_its_contacts_and_deals(
    db: Database, tenant: TenantLogin
) -> None:
    ids = await _acme(db, tenant)
    await add_company(db, tenant, "Globex Corp", "globex.com")

    result, said = await call(db, tenant, "crm.company_lookup", {"query": "akme"})

    [acme] = [m for m in result.value.matches if m.id == ids["acme"]]
    assert result.records[0] == ids["acme"]
    [(contacts,)] = await sql(
        db,
        tenant,
        "SELECT count(*) FROM crm_contacts WHERE tenant_id = :t AND company_id = :c",
        c=ids["acme"],
    )
    assert acme.contact_count == contacts == 2
    assert {c.name for c in acme.contacts} == {"Ada Lovelace", "Bob Stone"}
    assert acme.open_deal_count == 1 and acme.won_deal_count == 1
    assert [(m.currency, m.amount) for m in acme.won_deal_value] == [("USD", Decimal("300.00"))]
    assert_backed(said)
    assert said.text.startswith("Acme Ltd (acme.com) has 2 contacts (")
    assert "1 open deal worth $1,200.00 (Acme - Espresso beans in Proposal)" in said.text
    assert "1 won deal worth $300.00" in said.text


@pytest.mark.parametrize("name", ["crm.deal_lookup", "crm.contact_lookup", "crm.company_lookup"])
async def test_no_match_and_another_tenants_records_are_said_plainly(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin, name: str
) -> None:
    await _acme(db, other_tenant)
    result, said = await call(db, tenant, name, {"query": "Acme"})
    assert result.value.matches == [] and result.records == []
    assert said.text.startswith("I found no ") and said.text.endswith('matching "Acme".')
    _, said = await call(db, tenant, name, {"query": "order 1042"})
    assert said.text.endswith("matching that.")  # a number no figure backs is not repeated
    assert_backed(said)


async def test_next_best_actions_for_a_contact_a_deal_and_the_callers_pipeline(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    ada = await add_contact(db, tenant, "Ada Lovelace", last_contacted_at=ago(10))
    stalled = await add_deal(
        db,
        tenant,
        "Espresso bar",
        "5000.00",
        stage="negotiation",
        contact_id=ada,
        owner_id=tenant.user_id,
        stage_entered_at=ago(30),
    )

    result, said = await call(db, tenant, "crm.next_best_actions", {"contact_id": ada})
    actions = [(i.action, i.related_id) for i in result.value.items]
    assert ("call", stalled) in actions and ("follow_up", ada) in actions
    assert result.records == list(dict.fromkeys(i.related_id for i in result.value.items))
    assert_backed(said)
    assert said.text.startswith("Next for Ada Lovelace: ")
    assert any(s.type == "deal" and s.id == stalled for s in said.sources)

    by_deal, said = await call(db, tenant, "crm.next_best_actions", {"deal_id": stalled})
    assert by_deal.value.items[0].related_id == stalled  # the deal's own action first
    assert said.text.startswith("Next for the deal Espresso bar: Call about Espresso bar")
    mine, said = await call(db, tenant, "crm.next_best_actions", {"limit": 1})
    assert mine.value.subject == "mine" and len(mine.value.items) == 1
    assert said.text.startswith("Next for your open deals and leads: ")

    with pytest.raises(NotFound):
        await call(db, other_tenant, "crm.next_best_actions", {"contact_id": ada})
    with pytest.raises(NotFound):
        await call(db, other_tenant, "crm.next_best_actions", {"deal_id": stalled})


@pytest.mark.parametrize(
    ("name", "params", "loc"),
    [
        ("crm.pipeline", {"currency": "dollars"}, ["params", "currency"]),
        ("crm.pipeline", {"stage": "won"}, ["params", "stage"]),
        ("crm.forecast", {"from": "2026-01-01", "to": "2027-06-30"}, ["params"]),
        ("crm.forecast", {"from": "2026-05-01", "to": "2026-01-01"}, ["params"]),
        ("crm.leads", {"group_by": "owner"}, ["params", "group_by"]),
        ("crm.leads", {"source": "web form!"}, ["params", "source"]),
        ("crm.hot_leads", {"limit": 0}, ["params", "limit"]),
        ("crm.hot_leads", {"min_score": 101}, ["params", "min_score"]),
        ("crm.deal_lookup", {"query": "   "}, ["params", "query"]),
        ("crm.contact_lookup", {}, ["params", "query"]),
        ("crm.company_lookup", {"query": "x" * 201}, ["params", "query"]),
        ("crm.next_best_actions", {"contact_id": "a", "deal_id": "b"}, ["params"]),
        ("crm.next_best_actions", {"limit": 21}, ["params", "limit"]),
    ],
)
async def test_bad_parameters_are_422_with_their_paths(
    db: Database, tenant: TenantLogin, name: str, params: dict[str, Any], loc: list[str]
) -> None:
    with pytest.raises(Unprocessable) as bad:
        await call(db, tenant, name, params)
    assert bad.value.errors and bad.value.errors[0]["loc"] == loc


async def test_every_crm_read_tool_speaks_and_needs_crm_read(
    db: Database, tenant: TenantLogin
) -> None:
    names = [
        "crm.company_lookup",
        "crm.contact_lookup",
        "crm.deal_lookup",
        "crm.forecast",
        "crm.hot_leads",
        "crm.leads",
        "crm.next_best_actions",
        "crm.pipeline",
    ]
    readable = [t for t in REGISTRY.available({"crm:read"}) if t.kind == "read"]
    assert [t.name for t in readable] == names
    assert all(t.speak is not None and t.scope == "crm:read" for t in readable)
    assert REGISTRY.available({"support:read", "kb:read"}) == []
    outsider = ctx_for(tenant, frozenset({"support:read"}))
    for name in names:
        with pytest.raises(Forbidden):
            await call(db, tenant, name, {"query": "acme"}, ctx=outsider)
