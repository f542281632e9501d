"""Who buys: the CRM's won accounts order wholesale, its one-person businesses and the
home brewers who find the web shop order there (the Shopify door makes those contacts)."""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.pagination import MAX_LIMIT, PageParams
from bizos.demo.crm import data as crm_data
from bizos.demo.crm.history import ascii_word
from bizos.demo.story import Story, historical_id
from bizos.modules.commerce.models import Order
from bizos.modules.crm.companies import service as companies_service
from bizos.modules.crm.contacts import service as contacts_service
from bizos.modules.crm.deals import service as deals_service
from bizos.modules.crm.deals.schemas import DealRead
from bizos.modules.crm.models import Company, Contact
from bizos.modules.crm.normalize import normalize_email


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


R = TypeVar("R", bound=_Identified)

CONSUMERS = 60
STREETS = ["Alder St", "Bay Rd", "Cedar Ave", "Dock Ln", "Elm Row", "Ferry Way", "Grove Pl"]


@dataclass(slots=True)
class Customer:
    contact_id: str
    email: str
    name: str
    address: dict[str, Any]
    company: str | None = None
    weight: float = 1.0
    since: dt.datetime | None = None  # a wholesale customer since their deal was won
    contact: Contact | None = None  # a web shop customer created by the Shopify door

    def on_order(self) -> dict[str, Any]:
        """What an order (and so its invoice) says of its customer."""
        named = {"contact_id": self.contact_id, "email": self.email, "customer_name": self.name}
        return {**named, "billing_address": self.address}


def _address(rng: random.Random, name: str, city: str, country: str) -> dict[str, Any]:
    return {
        "name": name,
        "line1": f"{rng.randint(2, 980)} {rng.choice(STREETS)}",
        "city": city,
        "postal_code": f"{rng.randint(10000, 99999)}",
        "country": country,
    }


@dataclass(frozen=True, slots=True)
class CrmBook:
    """What the CRM history left, read through the CRM's services: contacts in the
    order they came (ids sort by when), companies by id, won deals in closing order."""

    contacts: list[Contact]
    companies: dict[str, Company]
    won: list[DealRead]


async def every(fetch: Callable[[PageParams], Awaitable[tuple[list[R], str | None]]]) -> list[R]:
    """Every row of an in-process list, page after page in id order."""
    found: list[R] = []
    after: str | None = None
    while True:
        items, cursor = await fetch(PageParams(limit=MAX_LIMIT, after=after))
        found += items
        if cursor is None or not items:
            return found
        after = items[-1].id


async def read_crm(session: AsyncSession, ctx: Context) -> CrmBook:
    contacts = await every(lambda page: contacts_service.list_contacts(session, ctx, page=page))
    companies = await every(lambda page: companies_service.list_companies(session, ctx, page=page))
    won = await every(lambda page: deals_service.list_deals(session, ctx, page=page, stage="won"))
    won.sort(key=lambda d: (d.closed_at or dt.datetime.max.replace(tzinfo=dt.UTC), d.id))
    return CrmBook(contacts, {c.id: c for c in companies}, won)


def crm_customers(story: Story, book: CrmBook) -> tuple[list[Customer], list[Customer]]:
    """(wholesale customers, web shop buyers already in the CRM)."""
    rng = story.rng
    first_win: dict[str, dt.datetime] = {}
    for deal in book.won:
        if deal.contact_id and deal.closed_at:
            first_win.setdefault(deal.contact_id, deal.closed_at)
    wholesale, retail = [], []
    for contact in book.contacts:
        if not contact.email:
            continue
        company = book.companies.get(contact.company_id or "")
        city, country = contact.city or "Portland", contact.country or "US"
        who = Customer(
            contact_id=contact.id,
            email=contact.email,
            name=contact.name or contact.email,
            address=_address(rng, company.name if company else (contact.name or ""), city, country),
            company=company.name if company else contact.company_name,
        )
        if contact.id in first_win:
            who.since = first_win[contact.id]
            who.weight = math.log10(max(company.employees or 5, 5)) if company else 0.6
            wholesale.append(who)
        elif company is None and contact.email.split("@")[1] in crm_data.FREE_MAIL:
            who.weight = rng.paretovariate(2.0)
            retail.append(who)
    return wholesale, retail


def web_shop_buyers(story: Story, book: CrmBook, year: int) -> list[Customer]:
    """New home brewers (addresses no contact has yet), with their contact ids drawn now
    so orders can point at them (the contacts are written with their first order)."""
    taken = {c.email_normalized for c in book.contacts if c.email_normalized}
    found = consumers(story, taken)
    for consumer in found:
        assert consumer.contact is not None
        consumer.contact.id = historical_id(story.now - dt.timedelta(days=year))
        consumer.contact_id = consumer.contact.id
    return found


def consumers(story: Story, taken: set[str]) -> list[Customer]:
    """Home brewers who found the web shop; the Shopify door makes them contacts."""
    rng, out = story.rng, []
    for _ in range(CONSUMERS):
        first, last = rng.choice(crm_data.FIRST_NAMES), rng.choice(crm_data.LAST_NAMES)
        city, country, _pattern = rng.choice(crm_data.CITIES)
        local = f"{ascii_word(first)}.{ascii_word(last)}{rng.randint(1, 99)}".lower()
        email = f"{local}@{rng.choice(crm_data.FREE_MAIL)}"
        if normalize_email(email) in taken:
            continue
        taken.add(normalize_email(email))
        name = f"{first} {last}"
        contact = Contact(
            name=name,
            email=email,
            email_normalized=normalize_email(email),
            source="shopify",
            lifecycle_stage="lead",
            owner_id=None,
            country=country,
            city=city,
            tags=[],
            properties={},
            do_not_contact=False,
        )
        out.append(
            Customer(
                contact_id="",
                email=email,
                name=name,
                address=_address(rng, name, city, country),
                weight=rng.paretovariate(1.6),
                contact=contact,
            )
        )
    return out


def web_shop_contacts(story: Story, consumers: list[Customer], orders: list[Order]) -> None:
    """The web shop's buyers became contacts with their first order (as the Shopify door
    makes them); those who never ordered are left out."""
    first: dict[str, dt.datetime] = {}
    last: dict[str, dt.datetime] = {}
    for order in orders:
        if order.contact_id:
            first.setdefault(order.contact_id, order.placed_at)
            last[order.contact_id] = order.placed_at
    for consumer in consumers:
        contact = consumer.contact
        assert contact is not None
        if contact.id not in first:
            continue
        at = first[contact.id] - dt.timedelta(milliseconds=1)
        contact.created_at, contact.updated_at = at, last[contact.id]
        contact.last_activity_at = last[contact.id]
        story.add(
            contact,
            "crm.contact.created",
            "contact",
            at,
            email=contact.email,
            name=contact.name,
            source="shopify",
        )
