"""Receivables and refunds figures against invoices and refunds written straight into
the tables, every expected number worked out by hand: only open, partially paid and
discrepancy invoices owe money, aging buckets follow the due date, currencies stay apart."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import httpx
import pytest

from bizos.core.context import system_context
from bizos.core.db import Database
from bizos.core.tools import ToolResult
from bizos.modules.billing import service as metrics
from bizos.modules.billing.models import Invoice, Refund
from bizos.modules.billing.schemas import ReceivablesParams, RefundsParams
from tests.conftest import TenantLogin
from tests.modules.identity.helpers import assert_problem, create_key

D = Decimal
AS_OF = dt.date(2026, 3, 31)


def _invoice(
    number: str, status: str, currency: str, total: str, due: str | None, **money: str
) -> Invoice:
    return Invoice(
        number=number,
        status=status,
        currency=currency,
        total=D(total),
        due_date=dt.date.fromisoformat(due) if due else None,
        **{k: D(v) for k, v in money.items()},
    )


def _refund(amount: str, currency: str, when: str) -> Refund:
    return Refund(
        payment_id="pay-1",
        amount=D(amount),
        currency=currency,
        created_at=dt.datetime.fromisoformat(f"{when}T12:00:00+00:00"),
    )


async def seed_books(db: Database, tenant_id: str) -> dict[str, str]:
    """Invoices aged against 31 March 2026 and refunds of March (see each comment)."""
    async with db.unit_of_work(tenant_id=tenant_id) as s:
        rows = {
            # not yet due: current 100
            "I1": _invoice("INV-1", "open", "EUR", "100.00", "2026-04-10"),
            # 16 days late, 200 - 50 paid: 1-30 150
            "I2": _invoice(
                "INV-2", "partially_paid", "EUR", "200.00", "2026-03-15", amount_paid="50.00"
            ),
            # exactly 60 days late, 80 - 70 paid: 31-60 10
            "I3": _invoice(
                "INV-3", "discrepancy", "EUR", "80.00", "2026-01-30", amount_paid="70.00"
            ),
            # no due date: current 40 + 10 refunded back onto it = 50
            "I4": _invoice(
                "INV-4", "open", "EUR", "40.00", None, amount_paid="40.00", amount_refunded="50.00"
            ),
            # 89 days late: 61-90 25
            "I5": _invoice("INV-5", "open", "EUR", "25.00", "2026-01-01"),
            # 120 days late, 500 - 100 credited: 90+ 400 USD
            "I6": _invoice(
                "INV-6", "open", "USD", "500.00", "2025-12-01", amount_credited="100.00"
            ),
            # owe nothing:
            "paid": _invoice("INV-7", "paid", "EUR", "300.00", "2026-01-01", amount_paid="300.00"),
            "void": _invoice("INV-8", "void", "EUR", "70.00", "2026-01-01"),
            "draft": _invoice(None, "draft", "EUR", "90.00", None),  # type: ignore[arg-type]
            "settled": _invoice("INV-9", "open", "EUR", "30.00", "2026-01-01", amount_paid="30.00"),
        }
        refunds = {
            "R1": _refund("10.00", "EUR", "2026-03-05"),
            "R2": _refund("5.50", "EUR", "2026-03-31"),
            "R3": _refund("20.00", "USD", "2026-03-10"),
            "R4": _refund("7.00", "EUR", "2026-04-01"),  # after the range
            "R5": _refund("3.00", "EUR", "2026-02-28"),  # before it
        }
        s.add_all([*rows.values(), *refunds.values()])
        await s.flush()
        return {k: v.id for k, v in {**rows, **refunds}.items()}


async def run(db: Database, tenant: TenantLogin, fn: Any, params: Any) -> ToolResult:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        result: ToolResult = await fn(s, system_context(tenant.tenant_id), params)
        return result


@pytest.fixture
async def books(db: Database, tenant: TenantLogin, other_tenant: TenantLogin) -> dict[str, str]:
    ids = await seed_books(db, tenant.tenant_id)
    async with db.unit_of_work(tenant_id=other_tenant.tenant_id) as s:
        s.add(_invoice("INV-1", "open", "EUR", "9999.00", "2026-03-01"))
        s.add(_refund("999.00", "EUR", "2026-03-05"))
    return ids


async def test_receivables_add_balances_due_per_currency_with_aging_buckets(
    db: Database, tenant: TenantLogin, books: dict[str, str]
) -> None:
    result = await run(db, tenant, metrics.receivables, ReceivablesParams(as_of=AS_OF))
    eur, usd = result.value.by_currency
    assert (eur.currency, str(eur.outstanding), eur.invoices) == ("EUR", "335.00", 5)
    assert {k: str(v) for k, v in eur.aging.items()} == {
        "current": "150.00",
        "1-30": "150.00",
        "31-60": "10.00",
        "61-90": "25.00",
        "90+": "0.00",
    }
    assert eur.aging_counts == {"current": 2, "1-30": 1, "31-60": 1, "61-90": 1, "90+": 0}
    assert (usd.currency, str(usd.outstanding), str(usd.aging["90+"])) == (
        "USD",
        "400.00",
        "400.00",
    )
    # Oldest due first, the undated one last.
    assert result.records == [books[k] for k in ("I6", "I5", "I3", "I2", "I1", "I4")]
    assert result.records_total == 6
    assert result.filters["as_of"] == "2026-03-31"
    assert "balance due" in result.query


async def test_aging_moves_with_the_as_of_day(
    db: Database, tenant: TenantLogin, books: dict[str, str]
) -> None:
    # One day later INV-3 is 61 days late and INV-5 90: both step over a boundary.
    later = ReceivablesParams(as_of=AS_OF + dt.timedelta(days=1), currency="eur")
    [eur] = (await run(db, tenant, metrics.receivables, later)).value.by_currency
    assert (str(eur.aging["31-60"]), str(eur.aging["61-90"])) == ("0.00", "35.00")
    assert str(eur.aging["90+"]) == "0.00"
    again = ReceivablesParams(as_of=AS_OF + dt.timedelta(days=2), currency="EUR")
    [eur] = (await run(db, tenant, metrics.receivables, again)).value.by_currency
    assert str(eur.aging["90+"]) == "25.00"


async def test_refunds_sum_and_count_within_the_range_per_currency(
    db: Database, tenant: TenantLogin, books: dict[str, str]
) -> None:
    params = RefundsParams.model_validate({"from": "2026-03-01", "to": "2026-03-31"})
    result = await run(db, tenant, metrics.refunds, params)
    assert result.value.count == 3
    assert [(c.currency, str(c.amount), c.count) for c in result.value.by_currency] == [
        ("EUR", "15.50", 2),
        ("USD", "20.00", 1),
    ]
    assert result.records == [books["R1"], books["R3"], books["R2"]]


async def test_another_tenants_books_never_count(
    db: Database, other_tenant: TenantLogin, books: dict[str, str]
) -> None:
    owed = await run(db, other_tenant, metrics.receivables, ReceivablesParams(as_of=AS_OF))
    assert [str(c.outstanding) for c in owed.value.by_currency] == ["9999.00"]
    assert not set(owed.records) & set(books.values())
    params = RefundsParams.model_validate({"from": "2026-03-01", "to": "2026-03-31"})
    assert (await run(db, other_tenant, metrics.refunds, params)).value.count == 1


async def test_the_api_answers_receivables_and_refunds(
    client: httpx.AsyncClient, tenant: TenantLogin, books: dict[str, str]
) -> None:
    r = await client.get(
        "/api/v1/billing/metrics/receivables",
        params={"as_of": "2026-03-31"},
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["value"]["by_currency"][0]["aging"]["1-30"] == "150.00"
    assert body["records_total"] == 6
    r = await client.get(
        "/api/v1/billing/metrics/refunds",
        params={"from": "2026-03-01", "to": "2026-03-31", "currency": "USD"},
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["value"]["by_currency"] == [{"currency": "USD", "amount": "20.00", "count": 1}]


async def test_bad_parameters_are_422_and_a_missing_scope_403(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    for path, params in (
        ("receivables", {"as_of": "31/03/2026"}),
        ("receivables", {"currency": "E"}),
        ("refunds", {"from": "2026-03-02", "to": "2026-03-01"}),
        ("refunds", {"page": "2"}),
    ):
        r = await client.get(
            f"/api/v1/billing/metrics/{path}", params=params, headers=tenant.headers
        )
        assert_problem(r, 422)
    key = await create_key(client, tenant, ["commerce:read"])
    r = await client.get(
        "/api/v1/billing/metrics/receivables", headers={"Authorization": f"Bearer {key['key']}"}
    )
    assert_problem(r, 403)
