"""Companies and the people at them: who they are, when they first got in touch, and
(once the rest of the history is known) their lifecycle stage and last activity."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

from bizos.core.events import payload
from bizos.demo.crm import data
from bizos.demo.crm.history import (
    OPEN_STAGES,
    Buyer,
    History,
    Person,
    ascii_word,
)
from bizos.demo.story import historical_id
from bizos.modules.crm.models import Company, Contact
from bizos.modules.crm.normalize import normalize_email, normalize_phone

LEAD_TARGET = 400
PROSPECTS = 60  # the activity seeder's buyer{i}@cafe{i % 37}.example


def _place(h: History, country: str | None = None) -> tuple[str, str, str]:
    if country is None:
        weights = data.COUNTRY_WEIGHTS
        country = h.rng.choices(list(weights), weights=list(weights.values()))[0]
    return h.rng.choice([c for c in data.CITIES if c[1] == country])


def _company(
    h: History, name: str, domain: str, segment: data.Segment, country: str | None
) -> Buyer:
    city, country_code, pattern = _place(h, country)
    low, high = segment.employees
    employees = round(math.exp(h.rng.uniform(math.log(low), math.log(high))))
    row = Company(
        name=name,
        domain=domain,
        website=f"https://{domain}",
        industry=segment.industry,
        employees=employees,
        annual_revenue=Decimal(employees * h.rng.randint(45, 110) * 1000),
        country=country_code,
        city=city,
        description=f"{segment.industry} in {city}",
        tags=[],
        properties={},
        # What the sandbox enrichment provider answers for this domain.
        enrichment={
            "name": name,
            "domain": domain,
            "industry": segment.industry,
            "employees": employees,
            "country": country_code,
            "city": city,
            "provider": "sandbox",
        },
    )
    buyer = Buyer(row, name, segment, employees, country_code, city, pattern, domain)
    h.buyers.append(buyer)
    return buyer


def build_companies(h: History) -> None:
    for n, name in enumerate(data.CAFE_NAMES):
        _company(h, name, f"cafe{n}.example", data.CAFE, None).engaged = True
    for name, stem, industry in data.BUSINESSES:
        _company(h, name, f"{stem}.example", data.SEGMENTS[industry], data.HOME_COUNTRY.get(stem))


def _contact(h: History, buyer: Buyer, first: str, last: str, email: str, title: str) -> None:
    h.phone_serial = (h.phone_serial + h.rng.randint(1, 7)) % 100
    given = buyer.phone_pattern.format(n=f"{h.phone_serial:02d}")
    has_phone = h.rng.random() < 0.8
    row = Contact(
        name=f"{first} {last}",
        email=email,
        email_normalized=normalize_email(email),
        phone=given if has_phone else None,
        phone_normalized=normalize_phone(given, buyer.country) if has_phone else None,
        company_name=buyer.name,
        title=title,
        country=buyer.country,
        city=buyer.city,
        tags=[],
        properties={},
        do_not_contact=False,
    )
    h.people.append(Person(row=row, buyer=buyer, first_name=first))


def build_people(h: History) -> None:
    rng = h.rng
    cafes = h.buyers[: len(data.CAFE_NAMES)]
    # The activity seeder's prospects, so their tracked engagement links to contacts.
    for i in range(PROSPECTS):
        cafe = cafes[i % len(cafes)]
        title = "Purchasing" if i % 3 == 0 else rng.choice(cafe.segment.titles)
        email = f"buyer{i}@cafe{i % len(cafes)}.example"
        _contact(h, cafe, rng.choice(data.FIRST_NAMES), rng.choice(data.LAST_NAMES), email, title)
    taken = {p.row.email_normalized for p in h.people}
    for buyer in list(h.buyers):
        colleagues = rng.randint(0, 2) if buyer.segment is data.CAFE else rng.randint(3, 5)
        for _ in range(colleagues):
            first, last = rng.choice(data.FIRST_NAMES), rng.choice(data.LAST_NAMES)
            local = rng.choice([first, f"{first}.{last}", f"{first[0]}{last}"])
            email = f"{ascii_word(local).lower()}@{buyer.domain}"
            if normalize_email(email) not in taken:
                taken.add(normalize_email(email))
                _contact(h, buyer, first, last, email, rng.choice(buyer.segment.titles))
    for _ in range(36):  # one-person businesses writing from personal addresses
        first, last = rng.choice(data.FIRST_NAMES), rng.choice(data.LAST_NAMES)
        city, country, pattern = _place(h)
        business = f"{last} {rng.choice(data.SOLO_BUSINESSES)}"
        solo = Buyer(None, business, data.CAFE, 1, country, city, pattern, None)
        local = f"{ascii_word(first)}.{ascii_word(last)}{rng.randint(1, 99)}".lower()
        email = f"{local}@{rng.choice(data.FREE_MAIL)}"
        if normalize_email(email) not in taken:
            taken.add(normalize_email(email))
            _contact(h, solo, first, last, email, rng.choice(data.SOLO_TITLES))


def draw_lead_times(h: History) -> None:
    """When each person got in touch: most once, some again months later (growing in
    recent months); a few contacts (imported lists, colleagues added by hand) never did."""
    rng, with_leads = h.rng, []
    for person in h.people:
        if rng.random() < 0.08:
            person.row.created_at = h.past(rng.uniform(30, 420))
            continue
        person.lead_times.append(h.past(365 * rng.random() ** 1.5))
        with_leads.append(person)
    attempts = 0
    while sum(len(p.lead_times) for p in with_leads) < LEAD_TARGET and attempts < 5000:
        attempts += 1
        person = rng.choice(with_leads)
        again = h.after(person.lead_times[-1], 20, 240)
        if again < h.now - dt.timedelta(hours=2):
            person.lead_times.append(again)
    for person in h.people:
        if person.lead_times:
            person.row.created_at = person.lead_times[0]
        person.row.id = historical_id(person.row.created_at)
    for buyer in h.buyers:
        if buyer.row is not None:
            members = [p.row.created_at for p in h.people if p.buyer is buyer]
            buyer.row.created_at = min(members, default=h.past(rng.uniform(30, 365)))
            buyer.row.id = historical_id(buyer.row.created_at)


def finish_people(h: History) -> None:
    """Lifecycle stages, owners and activity times follow from what happened."""
    for person in h.people:
        row, leads, deals = person.row, person.leads, person.deals
        row.company_id = person.buyer.row.id if person.buyer.row else None
        row.source = leads[0].source if leads else "import"
        row.owner_id = leads[0].owner_id if leads else h.team.owner_id
        if any(d.stage == "won" for d in deals):
            row.lifecycle_stage = "customer"
        elif any(d.stage in OPEN_STAGES for d in deals):
            row.lifecycle_stage = "opportunity"
        else:
            row.lifecycle_stage = "lead" if leads else "subscriber"
        row.last_activity_at = max([row.created_at, *person.touches])
        row.last_contacted_at = max(person.touches, default=None)
        # Every step of a deal was agreed with them: they last answered at the latest one.
        row.last_replied_at = max((d.stage_entered_at for d in deals), default=None)
        row.updated_at = row.last_activity_at
        h.add(
            row,
            "crm.contact.created",
            "contact",
            row.created_at,
            **payload(row, "email", "name", "source"),
        )
    for buyer in h.buyers:
        if buyer.row is None:
            continue
        first = min(
            (p for p in h.people if p.buyer is buyer), key=lambda p: p.row.created_at, default=None
        )
        buyer.row.owner_id = first.row.owner_id if first else h.team.owner_id
        buyer.row.updated_at = buyer.row.created_at
        h.add(
            buyer.row,
            "crm.company.created",
            "company",
            buyer.row.created_at,
            name=buyer.name,
            domain=buyer.domain,
            enriched=True,
        )
