"""The copilot's billing tools as the copilot calls them and as they say their answer:
money owed (aged), overdue invoices and refunds, each figure checked against a sum the
test asks the database for itself, every number in the words one of the figures."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.errors import Forbidden, Unprocessable
from bizos.core.money import cents
from bizos.core.tools import Figure, Said, ToolRegistry, ToolResult, unfigured_numbers
from bizos.modules.billing.models import Invoice, Refund
from bizos.modules.billing.tools import TOOLS
from tests.conftest import TenantLogin
from tests.modules.billing.test_metrics import _invoice, _refund, seed_books
from tests.modules.identity.helpers import assert_problem, create_key

D = Decimal
AS_OF = dt.date(2026, 3, 31)
OWING = ("open", "partially_paid", "discrepancy")
BILLING = ToolRegistry(TOOLS)
BALANCE = Invoice.total - Invoice.amount_paid + Invoice.amount_refunded - Invoice.amount_credited


def reader(tenant: TenantLogin, *scopes: str) -> Context:
    return Context(
        tenant_id=tenant.tenant_id, actor_type="user", scopes=frozenset(scopes or {"billing:read"})
    )


async def ask(
    db: Database, tenant: TenantLogin, name: str, params: dict[str, Any]
) -> tuple[ToolResult, Said]:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        result = await BILLING.call(s, reader(tenant), name, params)
    speak = BILLING.get(name).speak
    assert speak is not None
    said = speak(BILLING.validated(name, params), result)
    assert unfigured_numbers(said) == [], said.text
    return result, said


async def sql(db: Database, tenant: TenantLogin, query: sa.Select[Any]) -> list[Any]:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        return list((await s.execute(query)).all())


def figure(said: Said, label: str) -> Figure:
    [found] = [f for f in said.figures if f.label == label]
    return found


@pytest.fixture
async def books(db: Database, tenant: TenantLogin, other_tenant: TenantLogin) -> dict[str, str]:
    ids = await seed_books(db, tenant.tenant_id)
    async with db.unit_of_work(tenant_id=other_tenant.tenant_id) as s:
        theirs = _invoice("INV-1", "open", "EUR", "9999.00", "2026-03-01")
        theirs.customer_name = "Theirs"
        s.add(theirs)
        s.add(_refund("999.00", "EUR", "2026-03-05"))
    return ids


async def test_receivables_say_each_currency_and_the_buckets_that_hold_money(
    db: Database, tenant: TenantLogin, books: dict[str, str]
) -> None:
    owed = await sql(
        db,
        tenant,
        sa.select(Invoice.currency, sa.func.sum(BALANCE), sa.func.count())
        .where(Invoice.tenant_id == tenant.tenant_id, Invoice.status.in_(OWING), BALANCE > 0)
        .group_by(Invoice.currency),
    )
    _result, said = await ask(db, tenant, "billing.receivables", {"as_of": "2026-03-31"})
    for currency, total, n in owed:
        assert figure(said, f"Outstanding ({currency})").value == cents(total)
        assert figure(said, f"Invoices with a balance due ({currency})").value == n
    assert figure(said, "Outstanding 1-30 days overdue (EUR)").value == D("150.00")  # INV-2
    assert said.text == (
        "As of 31 Mar 2026, €335.00 is outstanding on 5 invoices: €150.00 not yet due; "
        "€150.00 1-30 days overdue; €10.00 31-60 days overdue; €25.00 61-90 days overdue. "
        "$400.00 is outstanding on 1 invoice: $400.00 over 90 days overdue."
    )


async def test_overdue_invoices_name_the_longest_overdue_first(
    db: Database, tenant: TenantLogin, books: dict[str, str]
) -> None:
    late = await sql(
        db,
        tenant,
        sa.select(Invoice.currency, sa.func.sum(BALANCE), sa.func.count())
        .where(
            Invoice.tenant_id == tenant.tenant_id,
            Invoice.status.in_(OWING),
            BALANCE > 0,
            Invoice.due_date < AS_OF,
        )
        .group_by(Invoice.currency)
        .order_by(Invoice.currency),
    )
    # EUR: INV-2 150 + INV-3 10 + INV-5 25; USD: INV-6 400. INV-1 is not due, INV-4 has
    # no due date, INV-7..9 owe nothing.
    assert [(c, cents(t), n) for c, t, n in late] == [
        ("EUR", D("185.00"), 3),
        ("USD", D("400.00"), 1),
    ]
    result, said = await ask(
        db, tenant, "billing.overdue_invoices", {"as_of": "2026-03-31", "limit": 2}
    )
    for currency, total, n in late:
        assert figure(said, f"Overdue ({currency})").value == cents(total)
        assert figure(said, f"Overdue invoices ({currency})").value == n
    assert said.text == (
        "As of 31 Mar 2026, 4 invoices are overdue: €185.00 on 3 invoices and $400.00 on "
        "1 invoice. The longest overdue: INV-6 $400.00, 120 days late; INV-5 €25.00, 89 "
        "days late."
    )
    assert [i.number for i in result.value.invoices] == ["INV-6", "INV-5"]
    # The records are every invoice behind the figure, not just those named.
    assert result.records == [books[k] for k in ("I6", "I5", "I3", "I2")]
    assert [s.id for s in said.sources] == [books["I6"], books["I5"]]
    assert figure(said, "Days overdue of INV-6").value == (AS_OF - dt.date(2025, 12, 1)).days


async def test_one_currency_of_overdue_invoices_is_said_in_all(
    db: Database, tenant: TenantLogin, books: dict[str, str]
) -> None:
    _result, said = await ask(
        db, tenant, "billing.overdue_invoices", {"as_of": "2026-03-31", "currency": "usd"}
    )
    assert said.text == "As of 31 Mar 2026, 1 invoice is overdue: INV-6 $400.00, 120 days late."


async def test_refunds_say_each_currency(
    db: Database, tenant: TenantLogin, books: dict[str, str]
) -> None:
    start = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    made = await sql(
        db,
        tenant,
        sa.select(Refund.currency, sa.func.sum(Refund.amount), sa.func.count())
        .where(
            Refund.tenant_id == tenant.tenant_id,
            Refund.created_at >= start,
            Refund.created_at < dt.datetime(2026, 4, 1, tzinfo=dt.UTC),
        )
        .group_by(Refund.currency),
    )
    _result, said = await ask(
        db, tenant, "billing.refunds", {"from": "2026-03-01", "to": "2026-03-31"}
    )
    for currency, total, n in made:
        assert figure(said, f"Refunded ({currency})").value == cents(total)
        assert figure(said, f"Refunds ({currency})").value == n
    assert said.text == (
        "Refunds between 1 Mar and 31 Mar 2026: €15.50 in 2 refunds and $20.00 in 1 refund."
    )


async def test_nothing_owed_or_refunded_is_said_plainly_with_a_zero_figure(
    db: Database, tenant: TenantLogin, books: dict[str, str]
) -> None:
    # Before any due date, nothing is late.
    _r, said = await ask(db, tenant, "billing.overdue_invoices", {"as_of": "2025-11-01"})
    assert said.text == "As of 1 Nov 2025, no invoice is overdue."
    assert [f.value for f in said.figures] == [0]
    _r, said = await ask(db, tenant, "billing.refunds", {"from": "2025-03-01", "to": "2025-03-31"})
    assert said.text == "No refunds were made between 1 Mar and 31 Mar 2025."
    assert [f.value for f in said.figures] == [0]
    _r, said = await ask(db, tenant, "billing.receivables", {"currency": "GBP"})
    assert said.text.endswith("£0.00 is outstanding: no invoice has a balance due.")
    assert [(f.value, f.currency) for f in said.figures] == [(D("0.00"), "GBP")]


async def test_another_tenants_invoices_never_count(
    db: Database, other_tenant: TenantLogin, books: dict[str, str]
) -> None:
    result, said = await ask(db, other_tenant, "billing.overdue_invoices", {"as_of": "2026-03-31"})
    assert said.text == (
        "As of 31 Mar 2026, 1 invoice is overdue: INV-1 (Theirs) €9,999.00, 30 days late."
    )
    assert not set(result.records) & set(books.values())


async def test_bad_parameters_are_422_and_a_missing_scope_403(
    db: Database, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        for params in ({"limit": 0}, {"as_of": "31/03/2026"}, {"currency": "E"}, {"days": 3}):
            with pytest.raises(Unprocessable):
                await BILLING.call(s, reader(tenant), "billing.overdue_invoices", params)
        with pytest.raises(Forbidden):
            await BILLING.call(s, reader(tenant, "commerce:read"), "billing.overdue_invoices", {})
    path = "/api/v1/billing/metrics/overdue-invoices"
    assert_problem(await client.get(path, params={"limit": 0}, headers=tenant.headers), 422)
    key = await create_key(client, tenant, ["commerce:read"])
    assert_problem(await client.get(path, headers={"Authorization": f"Bearer {key['key']}"}), 403)


async def test_the_api_answers_overdue_invoices(
    client: httpx.AsyncClient, tenant: TenantLogin, books: dict[str, str]
) -> None:
    r = await client.get(
        "/api/v1/billing/metrics/overdue-invoices",
        params={"as_of": "2026-03-31", "currency": "EUR"},
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["value"]["by_currency"] == [
        {"currency": "EUR", "balance_due": "185.00", "invoices": 3}
    ]
    assert body["records_total"] == 3
