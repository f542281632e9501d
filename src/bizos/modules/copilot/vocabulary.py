"""What the parser may recognise by name: the tenant's products, people, companies and
users, its deal stages and currencies, loaded by the copilot service (plain data, no I/O).
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_STAGES = ("lead", "qualified", "proposal", "negotiation", "won", "lost")


@dataclass(frozen=True, slots=True)
class Named:
    """A record the parser can recognise: ``aliases`` are other ways to say it (a
    product's SKU, a company's short name, a contact's email)."""

    id: str
    name: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The tenant's names. ``timezone`` is an IANA name: "today" is the tenant's day.
    ``categories`` are expense/budget categories (``marketing``, ``rent``)."""

    products: list[Named] = field(default_factory=list)
    contacts: list[Named] = field(default_factory=list)
    companies: list[Named] = field(default_factory=list)
    users: list[Named] = field(default_factory=list)
    stages: list[str] = field(default_factory=lambda: list(DEFAULT_STAGES))
    currencies: list[str] = field(default_factory=lambda: ["USD"])
    default_currency: str = "USD"
    timezone: str = "UTC"
    categories: list[str] = field(default_factory=list)
