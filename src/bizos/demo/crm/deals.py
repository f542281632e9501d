"""Deals through the pipeline: stage history at a realistic pace (bigger buyers take
longer), won with a reason or lost with one, and the deals still open closing over the
next two months. Bigger companies and referral or trade-show deals win more often."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from bizos.core.events import payload
from bizos.demo.crm import data
from bizos.demo.crm.history import (
    DAY,
    OPEN_STAGES,
    History,
    Person,
    sigmoid,
)
from bizos.demo.crm.work import customer_task, stage_task
from bizos.demo.story import historical_id, stamped
from bizos.modules.crm.models import Deal, DealStageChange, Lead

CURRENCY = "USD"
# Days a deal usually spends in each open stage before it moves (drawn between these).
STAGE_DAYS = {
    "lead": (2.0, 10.0),
    "qualified": (5.0, 20.0),
    "proposal": (7.0, 28.0),
    "negotiation": (5.0, 21.0),
}
LOST_FROM_WEIGHTS = (0.12, 0.3, 0.36, 0.22)  # the open stage a lost deal was lost from
# Log-odds of winning before source, size and engagement: a little over 40 % of the
# deals that close are won.
DEAL_BASE_LOGIT = -0.8


def usual_days(stages: Sequence[str]) -> float:
    return sum((STAGE_DAYS[s][0] + STAGE_DAYS[s][1]) / 2 for s in stages)


def convert(h: History, person: Person, lead: Lead, at: dt.datetime) -> None:
    """A qualified lead becomes a deal (its owner keeps it)."""
    deal = open_deal(
        h,
        person,
        created=at,
        source=lead.source,
        owner_id=lead.owner_id or h.team.owner_id,
        lead=lead,
        start="qualified" if h.rng.random() < 0.7 else "lead",
        name=f"{person.buyer.name} - {h.rng.choice(person.buyer.segment.product)}",
    )
    lead.deal_id, lead.converted_at = deal.id, at
    h.event(
        "crm.lead.converted",
        "lead",
        lead.id,
        at,
        **payload(lead, "deal_id", "contact_id", "company_id"),
    )


def _path(h: History, start: str, *, won: bool) -> list[str]:
    first = OPEN_STAGES.index(start)
    if won:
        path = [*OPEN_STAGES[first:], "won"]
        if h.rng.random() < 0.3 and path.index("negotiation") > 0:
            path.remove("negotiation")  # signed the proposal as it stood
        return path
    lost_from = OPEN_STAGES.index(h.rng.choices(OPEN_STAGES, weights=LOST_FROM_WEIGHTS)[0])
    return [*OPEN_STAGES[first : max(first, lost_from) + 1], "lost"]


def open_deal(
    h: History,
    person: Person,
    *,
    created: dt.datetime,
    source: str,
    owner_id: str,
    lead: Lead | None,
    start: str,
    name: str,
) -> Deal:
    """A deal and everything that happened to it up to now."""
    rng, buyer = h.rng, person.buyer
    low, high = buyer.segment.amount if buyer.row else (1200, 4000)
    amount = round(math.exp(rng.uniform(math.log(low), math.log(high))) / 50) * 50
    size = math.log10(max(buyer.employees, 1))
    logit = (
        DEAL_BASE_LOGIT
        + data.SOURCE_WIN_LIFT.get(source, 0.0)
        + 0.6 * (size - 1.3)
        - (0.6 if buyer.row is None else 0.0)
        + (0.25 if buyer.engaged else 0.0)
    )
    path = _path(h, start, won=rng.random() < sigmoid(logit))
    pace = min(2.2, max(0.7, 1.0 + 0.45 * (size - 1.3)))  # more people sign off
    expected = created + dt.timedelta(days=pace * usual_days(path[:-1]))
    deal = Deal(
        id=historical_id(created),
        name=name[:200],
        contact_id=person.row.id,
        company_id=buyer.row.id if buyer.row else None,
        lead_id=lead.id if lead else None,
        owner_id=owner_id,
        amount=Decimal(amount).quantize(Decimal("0.01")),
        currency=CURRENCY,
        stage=path[0],
        stage_entered_at=created,
        close_date=expected.date(),
        source=source,
        description=f"Wholesale coffee supply for {buyer.name}.",
        properties={},
        **stamped(created),
    )
    h.rows.append(deal)
    person.deals.append(deal)
    _stage_change(h, deal, None, path[0], created)
    h.event("crm.deal.created", "deal", deal.id, created, actor_id=owner_id, **_created(deal))
    at = created
    for stage in path[1:]:
        low_days, high_days = STAGE_DAYS[deal.stage]
        at = h.after(at, low_days * pace, high_days * pace)
        if at >= h.now:
            break
        _move(h, person, deal, stage, at)
    if deal.stage in OPEN_STAGES:
        deal.close_date = _expected_close(h, deal, pace)
        stage_task(h, person, deal, deal.stage, left_at=None, next_stage=None)
    return deal


def _created(deal: Deal) -> dict[str, Any]:
    return {
        "deal_id": deal.id,
        "name": deal.name,
        "amount": f"{deal.amount:.2f}",
        **payload(deal, "currency", "stage", "contact_id", "company_id", "lead_id", "owner_id"),
        **payload(deal, "close_date", "source"),
    }


def _stage_change(
    h: History, deal: Deal, previous: str | None, stage: str, at: dt.datetime
) -> DealStageChange:
    change = DealStageChange(
        id=historical_id(at),
        deal_id=deal.id,
        from_stage=previous,
        to_stage=stage,
        changed_at=at,
        seconds_in_previous=(at - deal.stage_entered_at).total_seconds() if previous else None,
        amount=deal.amount,
        actor_id=deal.owner_id,
    )
    h.rows.append(change)
    return change


def _move(h: History, person: Person, deal: Deal, stage: str, at: dt.datetime) -> None:
    previous = deal.stage
    change = _stage_change(h, deal, previous, stage, at)
    stage_task(h, person, deal, previous, left_at=at, next_stage=stage)
    deal.stage, deal.stage_entered_at, deal.updated_at = stage, at, at
    person.touches.append(at)
    h.event(
        "crm.deal.stage_changed",
        "deal",
        deal.id,
        at,
        actor_id=deal.owner_id,
        **payload(change, "deal_id", "from_stage", "to_stage", "seconds_in_previous"),
        amount=f"{deal.amount:.2f}",
        **payload(deal, "currency", "contact_id", "owner_id"),
    )
    if stage not in OPEN_STAGES:
        _close(h, person, deal, stage, at)


def _close(h: History, person: Person, deal: Deal, stage: str, at: dt.datetime) -> None:
    deal.closed_at, deal.close_date = at, at.date()
    if stage == "won":
        deal.close_reason = h.rng.choice(data.WON_REASONS) if h.rng.random() < 0.6 else None
        if person.row.became_customer_at is None:
            person.row.became_customer_at = at
            h.event(
                "crm.contact.became_customer",
                "contact",
                person.row.id,
                at,
                deal_id=deal.id,
                became_customer_at=at.isoformat(),
            )
        customer_task(h, person, deal, at)
    else:
        deal.close_reason = h.rng.choices(data.LOST_REASONS, data.LOST_REASON_WEIGHTS)[0]
    h.event(
        f"crm.deal.{stage}",
        "deal",
        deal.id,
        at,
        actor_id=deal.owner_id,
        deal_id=deal.id,
        **payload(deal, "contact_id", "company_id", "lead_id", "owner_id"),
        amount=f"{deal.amount:.2f}",
        currency=deal.currency,
        reason=deal.close_reason,
        close_date=deal.close_date.isoformat(),
    )


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.month - 1 + months
    return dt.date(day.year + index // 12, index % 12 + 1, 1)


def _expected_close(h: History, deal: Deal, pace: float) -> dt.date:
    """An open deal's expected close: the rest of its path at its pace, within the next
    two months; a few have slipped past the date their owner set this month."""
    today = h.now.date()
    last_day = _add_months(today, 3) - DAY
    slipped, back = h.rng.random() < 0.12, h.rng.randint(1, 10)
    if slipped and today.day > back:
        return today - dt.timedelta(days=back)
    days = pace * usual_days(OPEN_STAGES[OPEN_STAGES.index(deal.stage) :])
    days -= (h.now - deal.stage_entered_at).total_seconds() / 86400
    close = today + dt.timedelta(days=max(0.0, days * h.rng.uniform(0.6, 1.5)))
    return min(close, last_day - dt.timedelta(days=h.rng.randint(0, 20)))


def build_repeat_business(h: History) -> None:
    """Customers who came back: renewals, second locations, add-ons (no lead needed)."""
    for person in sorted(h.people, key=lambda p: p.row.became_customer_at or h.now):
        won_at = person.row.became_customer_at
        if won_at is None or h.rng.random() > 0.6:
            continue
        at = h.after(won_at, 40, 220)
        if at >= h.now - DAY:
            continue
        kind = h.rng.choice(["annual renewal", "second location", "cold brew add-on"])
        open_deal(
            h,
            person,
            created=at,
            source="existing_customer",
            owner_id=person.deals[0].owner_id or h.team.owner_id,
            lead=None,
            start=h.rng.choice(["qualified", "proposal"]),
            name=f"{person.buyer.name} - {kind}",
        )
