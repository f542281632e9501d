"""The demo tenant's year of trade: a catalogue whose ledger balances, orders from the
three doors whose totals, statuses, invoices and shipments agree, gapless numbers that
live orders and invoices continue, payments that add up, and budgets over expenses."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter, defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bizos.core.config import Settings
from bizos.core.db import Database
from bizos.core.dispatcher_models import ProcessedEvent
from bizos.core.events import Event
from bizos.core.sequences import NumberSeries
from bizos.demo import DEMO_SLUG, seed_demo
from bizos.modules.billing.models import CreditNote, Invoice, Payment, Refund
from bizos.modules.commerce.models import Order, OrderLine, Product, Shipment, StockMovement
from bizos.modules.crm.models import Contact, Deal
from bizos.modules.finance.models import Budget, BudgetPeriod, Expense
from bizos.modules.identity.models import Tenant
from bizos.modules.notifications.models import Notification
from bizos.modules.work.models import Task

ZERO = Decimal("0")
CENT = Decimal("0.01")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _numbers(prefix: str, values: list[str]) -> list[int]:
    assert all(v.startswith(f"{prefix}-") and len(v) == len(prefix) + 7 for v in values)
    return [int(v.split("-")[1]) for v in values]


async def _all(session: Any, model: Any) -> list[Any]:
    return list(await session.scalars(sa.select(model)))


@pytest.mark.demo
async def test_the_demo_year_of_trade_adds_up(
    settings: Settings, db: Database, client: httpx.AsyncClient
) -> None:
    assert not await seed_demo(settings, db)  # seeded once per session: a no-op now
    async with db.unit_of_work(system=True, readonly=True) as s:
        tenant_id = await s.scalar(sa.select(Tenant.id).where(Tenant.slug == DEMO_SLUG))
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        products, moves = await _all(s, Product), await _all(s, StockMovement)
        orders, lines = await _all(s, Order), await _all(s, OrderLine)
        shipments, invoices = await _all(s, Shipment), await _all(s, Invoice)
        payments, refunds = await _all(s, Payment), await _all(s, Refund)
        notes, tasks = await _all(s, CreditNote), await _all(s, Task)
        contacts, deals = await _all(s, Contact), await _all(s, Deal)
        expenses, budgets = await _all(s, Expense), await _all(s, Budget)
        periods = await _all(s, BudgetPeriod)
        notifications = await _all(s, Notification)
        series = {r.name: r.value for r in await _all(s, NumberSeries)}
        events = Counter((await s.scalars(sa.select(Event.type))).all())
        received = await s.scalar(
            sa.select(Event.id).where(Event.type == "commerce.order.received").limit(1)
        )
        handled = set(
            await s.scalars(
                sa.select(ProcessedEvent.subscriber).where(ProcessedEvent.event_id == received)
            )
        )
    now = _now()
    by_product = {p.id: p for p in products}

    # The catalogue: coffee by origin in two sizes, equipment, and service lines.
    assert 24 <= len(products) <= 30
    assert {p.category.split("/")[0] for p in products} == {
        "coffee",
        "equipment",
        "subscription",
        "service",
    }
    assert all(not p.tracks_stock for p in products if p.category in ("subscription", "service"))
    assert all(p.cost is not None and p.cost < p.price for p in products)

    # The ledger balances: every product's counters are the sum of its movements, and
    # its latest movement shows them.
    moves_of: dict[str, list[StockMovement]] = defaultdict(list)
    for move in sorted(moves, key=lambda m: (m.created_at, m.id)):
        moves_of[move.product_id].append(move)
    for product in products:
        mine = moves_of[product.id]
        if not product.tracks_stock:
            assert mine == []
            continue
        assert sum(m.on_hand_delta for m in mine) == product.stock_on_hand
        assert sum(m.allocated_delta for m in mine) == product.allocated
        assert 0 <= product.allocated <= product.stock_on_hand
        on_hand = allocated = 0
        for move in mine:
            on_hand, allocated = on_hand + move.on_hand_delta, allocated + move.allocated_delta
            assert (move.on_hand_after, move.allocated_after) == (on_hand, allocated)
            assert 0 <= allocated <= on_hand
        assert mine[0].kind == "initial"

    # Low stock shows on the dashboard: two products below their reorder point, each
    # with its alert and an open purchasing task.
    low = [p for p in products if p.below_reorder_point]
    assert {p.sku for p in low} == {"NW-KEN-NYERI-1K", "NW-EQ-GRINDER"}
    for product in products:
        if product.reorder_point is not None:
            below = product.stock_on_hand - product.allocated < product.reorder_point
            assert product.below_reorder_point == below, product.sku
    purchasing = [t for t in tasks if t.origin == "commerce.stock.reorder_needed"]
    open_ones = {t.related_id for t in purchasing if t.status == "open"}
    assert open_ones == {p.id for p in low}
    assert events["commerce.stock.reorder_needed"] >= len(purchasing)

    # Orders: numbered without gaps in the order they were placed; the series is at the
    # last number.
    orders.sort(key=lambda o: o.placed_at)
    assert 400 <= len(orders) <= 1200
    assert _numbers("SO", [o.number for o in orders]) == list(range(1, len(orders) + 1))
    assert series["sales_order"] == len(orders)
    assert min(o.placed_at for o in orders) < now - dt.timedelta(days=330)
    assert {o.source for o in orders} == {"shopify", "api", "deal"}
    shop = [o for o in orders if o.source == "shopify"]
    assert [o.external_name for o in shop] == [f"#{1001 + i}" for i in range(len(shop))]
    assert len({o.external_id for o in shop}) == len(shop)
    assert all(o.deal_id and o.external_id == o.deal_id for o in orders if o.source == "deal")

    # ... for the CRM's people: wholesale and deal orders for customers who won a deal.
    contact_by_id = {c.id: c for c in contacts}
    assert all(o.contact_id in contact_by_id for o in orders)
    customers = {d.contact_id for d in deals if d.stage == "won"}
    assert {o.contact_id for o in orders if o.source != "shopify"} <= customers
    assert events["crm.contact.created"] == len(contacts)

    # Totals: lines less discounts plus tax and shipping.
    lines_of: dict[str, list[OrderLine]] = defaultdict(list)
    for line in lines:
        lines_of[line.order_id].append(line)
    for order in orders:
        mine = lines_of[order.id]
        assert sorted(ln.position for ln in mine) == list(range(1, len(mine) + 1))
        for line in mine:
            assert line.line_total == line.quantity * line.unit_price - line.discount
            assert line.tax_amount == (line.line_total * line.tax_rate).quantize(
                CENT, ROUND_HALF_UP
            )
            product = by_product.get(line.product_id or "")
            assert line.tracks_stock == (product is not None and product.tracks_stock)
        assert order.subtotal == sum(ln.quantity * ln.unit_price for ln in mine)
        assert order.tax_total == sum(ln.tax_amount for ln in mine)
        assert order.discount_total >= sum(ln.discount for ln in mine)
        assert order.total == (
            order.subtotal - order.discount_total + order.tax_total + order.shipping_total
        )

    # Statuses agree with timestamps, the invoice, the shipment and the ledger.
    statuses = Counter(o.status for o in orders)
    assert statuses["fulfilled"] >= 0.9 * len(orders)
    assert statuses["cancelled"] >= 3 and statuses["failed"] == 2
    assert statuses["backordered"] >= 1
    assert set(statuses) == {"fulfilled", "cancelled", "failed", "backordered"}
    invoice_by_id = {i.id: i for i in invoices}
    shipment_of = {s.order_id: s for s in shipments}
    order_moves: dict[str, Counter[str]] = defaultdict(Counter)
    for move in moves:
        if move.order_id:
            order_moves[move.order_id][move.kind] += 1
    for order in orders:
        stock_lines = [ln for ln in lines_of[order.id] if ln.tracks_stock]
        kinds = order_moves[order.id]
        if order.status in ("failed", "backordered"):
            assert order.invoice_id is None and order.id not in shipment_of and not kinds
            assert (order.failure_reason is not None) == (order.status == "failed")
            continue
        invoice = invoice_by_id[order.invoice_id]
        assert invoice.order_id == order.id
        assert order.placed_at <= order.allocated_at <= order.invoiced_at
        assert kinds["allocation"] == len(stock_lines)
        if order.status == "cancelled":
            assert invoice.status == "void" and order.cancelled_at is not None
            assert order.id not in shipment_of and order.shipped_at is None
            assert kinds["release"] == len(stock_lines) and not kinds["shipment"]
            continue
        assert order.status == "fulfilled"
        assert invoice.status != "void"
        assert order.fulfilled_at >= order.invoiced_at
        if stock_lines:
            shipment = shipment_of[order.id]
            assert order.shipment_id == shipment.id and shipment.provider == "sandbox"
            assert kinds["shipment"] == len(stock_lines) and not kinds["release"]
        else:
            assert order.id not in shipment_of and not kinds
    assert sum(1 for t in tasks if t.origin == "commerce.order.failed") == 2

    # Invoices: gapless, in the order they were issued, the series at the last number;
    # they bill what the order says.
    invoices.sort(key=lambda i: i.issued_at)
    assert _numbers("INV", [i.number for i in invoices]) == list(range(1, len(invoices) + 1))
    assert series["invoice"] == len(invoices)
    order_by_id = {o.id: o for o in orders}
    for invoice in invoices:
        order = order_by_id[invoice.order_id]
        assert order.invoice_id == invoice.id
        for field in ("subtotal", "discount_total", "tax_total", "shipping_total", "total"):
            assert getattr(invoice, field) == getattr(order, field), field
        assert sum(Decimal(ln["total"]) for ln in invoice.lines) == (
            invoice.subtotal
            - sum(Decimal(ln["discount"]) for ln in invoice.lines)
            + invoice.tax_total
        )
        assert invoice.due_date == invoice.issued_at.date() + dt.timedelta(days=14)

    # Money adds up: paid = its payments, refunded = its refunds, credited = its notes,
    # and the status is what those say.
    paid_on: dict[str, Decimal] = defaultdict(Decimal)
    for payment in payments:
        assert payment.applied and payment.invoice_id in invoice_by_id
        paid_on[payment.invoice_id] += payment.amount
    refunded_on: dict[str, Decimal] = defaultdict(Decimal)
    refunded_from: dict[str, Decimal] = defaultdict(Decimal)
    for refund in refunds:
        refunded_on[refund.invoice_id] += refund.amount
        refunded_from[refund.payment_id] += refund.amount
    credited_on: dict[str, Decimal] = defaultdict(Decimal)
    for note in notes:
        credited_on[note.invoice_id] += note.amount
    for invoice in invoices:
        assert invoice.amount_paid == paid_on[invoice.id]
        assert invoice.amount_refunded == refunded_on[invoice.id]
        assert invoice.amount_credited == credited_on[invoice.id]
        balance = (
            invoice.total - invoice.amount_paid + invoice.amount_refunded - invoice.amount_credited
        )
        if invoice.status == "void":
            assert invoice.amount_paid == ZERO
        elif invoice.status == "paid":
            assert balance == ZERO and invoice.paid_at is not None
        elif invoice.status == "partially_paid":
            assert ZERO < balance < invoice.total
        elif invoice.status == "open":
            assert invoice.amount_paid == ZERO and balance > ZERO
        else:
            assert invoice.status == "discrepancy" and balance < ZERO
    for payment in payments:
        assert payment.amount_refunded == refunded_from[payment.id]
        if payment.provider == "stripe":
            assert payment.external_id.startswith("pi_")
    assert len({p.external_id for p in payments if p.external_id}) == sum(
        1 for p in payments if p.external_id
    )
    invoice_statuses = Counter(i.status for i in invoices)
    assert invoice_statuses["discrepancy"] == 1
    assert invoice_statuses["partially_paid"] >= 1
    overdue = [
        i for i in invoices if i.status == "open" and i.due_date < now.date() and not i.amount_paid
    ]
    assert len(overdue) >= 2  # for dunning: nobody reminded them yet
    assert all(i.reminders_sent == 0 for i in overdue)
    assert len(refunds) >= 2 and len(notes) >= 3
    assert _numbers("CN", [n.number for n in sorted(notes, key=lambda n: n.issued_at)]) == list(
        range(1, len(notes) + 1)
    )
    assert series["credit_note"] == len(notes)
    assert Counter(p.match_method for p in payments).keys() == {
        "email_amount",
        "metadata",
        "manual",
    }
    assert sum(1 for t in tasks if t.origin == "billing.payment.discrepancy_detected") == 1

    # The event log tells the same story.
    assert events["commerce.order.received"] == len(orders) - statuses["failed"]
    assert events["commerce.order.fulfilled"] == statuses["fulfilled"]
    assert events["commerce.order.cancelled"] == statuses["cancelled"]
    assert events["billing.invoice.issued"] == len(invoices)
    assert events["billing.payment.received"] == len(payments)
    assert events["billing.credit_note.issued"] == len(notes)
    assert events["work.task.created"] == len(tasks)

    # Expenses in every category for the whole year, and monthly budgets whose periods
    # hold what was spent; marketing is over its limit this month.
    assert {e.category for e in expenses} == {
        "green coffee",
        "packaging",
        "shipping",
        "marketing",
        "rent",
        "software",
    }
    months = {(e.spent_on.year, e.spent_on.month) for e in expenses}
    assert len(months) == 13
    assert events["finance.expense.recorded"] == len(expenses)
    budget_by_id = {b.id: b for b in budgets}
    assert len(budgets) == 6
    for row in periods:
        budget = budget_by_id[row.budget_id]
        spent = sum(
            e.amount
            for e in expenses
            if e.category == budget.category and row.period_start <= e.spent_on < row.period_end
        )
        assert row.spent == spent
        assert row.exceeded == (spent > budget.amount)
    this_month = now.date().replace(day=1)
    over = [r for r in periods if r.period_start == this_month and r.exceeded]
    assert [budget_by_id[r.budget_id].category for r in over] == ["marketing"]
    assert events["finance.budget.exceeded"] == sum(1 for r in periods if r.exceeded)

    # The people told back then were told: failed orders, the discrepancy, the budgets.
    told = Counter(n.kind for n in notifications)
    assert told["commerce.order.failed"] == 2
    assert told["billing.payment_discrepancy"] == 1
    assert told["finance.budget_exceeded"] == events["finance.budget.exceeded"]
    assert any(n.read_at is None for n in notifications if n.kind == "finance.budget_exceeded")

    # The history already happened: the order-to-cash workflow does not start again.
    assert "commerce.fulfilment.start_order_to_cash" in handled

    # A live order and invoice continue the series.
    r = await client.post(
        "/api/v1/auth/login",
        json={"email": settings.demo_email, "password": settings.demo_password, "tenant": "demo"},
    )
    assert r.status_code == 200, r.text
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    r = await client.post(
        "/api/v1/commerce/orders",
        json={
            "email": "new.buyer@example.com",
            "currency": "USD",
            "lines": [{"sku": "NW-COL-HUILA-250", "quantity": 2}],
        },
        headers=headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["number"] == f"SO-{len(orders) + 1:06d}"
    r = await client.get("/api/v1/commerce/products?low_stock=true", headers=headers)
    assert r.status_code == 200, r.text
    assert {p["sku"] for p in r.json()["items"]} == {p.sku for p in low}
    r = await client.get("/api/v1/billing/invoices?status=discrepancy", headers=headers)
    assert r.status_code == 200, r.text
    assert len(r.json()["items"]) == 1
    assert list(itertools.islice(overdue, 1))
